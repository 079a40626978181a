// Shared by the image decoding sources; not part of the public API.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <span>
#include <string>
#include <vector>

#include "likeness/io/file.h"
#include "likeness/io/image.h"

namespace likeness::io::detail {

enum class ParseStatus { ok, need_more, unsupported, corrupt, truncated };

struct HeaderParse {
  ParseStatus status = ParseStatus::need_more;
  ImageHeader header;
  std::string reason;          // why, for unsupported / corrupt / truncated
  std::size_t want_bytes = 0;  // need_more: read at least this many bytes
  // BMP without compression: bytes the file needs to hold every pixel row
  // (lets the decoder report truncation before handing the data to OpenCV).
  std::uint64_t bmp_required_size = 0;
};

// Parses the header of whatever `data` starts with. `complete` says that
// `data` is the whole file: running out of bytes is then `truncated` instead
// of `need_more`. Never reads outside `data`.
HeaderParse parse_header(std::span<const std::uint8_t> data, bool complete);

// What a codec is asked to produce. Rectangles are in stored (not oriented)
// full-resolution pixels.
struct CodecRequest {
  // Empty: the whole image. Otherwise these rectangles, each inside the image,
  // at full resolution (a codec may ignore them and decode everything).
  std::vector<cv::Rect> stored_regions;
  int scale_denominator = 1;  // JPEG only: 1, 2, 4 or 8
  bool accept_damaged = false;
};

struct CodecOutput {
  cv::Mat rgb;      // CV_8UC3, RGB, stored orientation; empty on failure
  cv::Rect covers;  // the stored full-resolution rectangle `rgb` shows
  // A codec that decoded the requested regions themselves (JPEG) leaves `rgb`
  // empty and puts one CV_8UC3 image per CodecRequest::stored_regions here.
  std::vector<cv::Mat> regions;
  DecodeError error = DecodeError::none;
  std::string reason;
  std::vector<std::string> warnings;
};

CodecOutput decode_jpeg(std::span<const std::uint8_t> data, const ImageHeader& header,
                        const CodecRequest& request);
CodecOutput decode_png(std::span<const std::uint8_t> data, const ImageHeader& header);
CodecOutput decode_webp(std::span<const std::uint8_t> data, const ImageHeader& header);
CodecOutput decode_bmp(std::span<const std::uint8_t> data, const HeaderParse& parsed);

// The DecodeError for a file that could not be read.
DecodeError from_file_error(FileError error);

// Composites an 8-bit RGBA buffer onto white, writing 8-bit RGB. Both
// matrices have the same size.
void composite_on_white(const cv::Mat& rgba, cv::Mat& rgb);

}  // namespace likeness::io::detail
