// BMP through OpenCV's own BMP reader (no external library): it covers
// 1/4/8/16/24/32-bit, palettes and RLE. We check the file length first
// because OpenCV prints to stderr when it runs out of data.
#include <climits>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "likeness/io/image_internal.h"

namespace likeness::io::detail {

CodecOutput decode_bmp(std::span<const std::uint8_t> data, const HeaderParse& parsed) {
  CodecOutput out;
  if (parsed.bmp_required_size > data.size()) {
    out.error = DecodeError::truncated;
    out.reason = "truncated BMP (" + std::to_string(data.size()) + " bytes, pixel rows need " +
                 std::to_string(parsed.bmp_required_size) + ")";
    return out;
  }
  if (data.size() > static_cast<std::size_t>(INT_MAX)) {
    out.error = DecodeError::unsupported_format;
    out.reason = "BMP larger than 2 GB";
    return out;
  }
  cv::Mat bgr;
  try {
    // imdecode does not write to its input; the cast only satisfies cv::Mat.
    const cv::Mat encoded(1, static_cast<int>(data.size()), CV_8UC1,
                          const_cast<std::uint8_t*>(data.data()));
    bgr = cv::imdecode(encoded, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const std::exception& e) {
    out.error = DecodeError::corrupt;
    out.reason = std::string("corrupt BMP: ") + e.what();
    return out;
  }
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    out.error = DecodeError::corrupt;
    out.reason = "corrupt BMP (OpenCV could not decode it)";
    return out;
  }
  cv::cvtColor(bgr, out.rgb, cv::COLOR_BGR2RGB);
  out.covers = cv::Rect(0, 0, out.rgb.cols, out.rgb.rows);
  return out;
}

}  // namespace likeness::io::detail
