// Loading photos: JPEG, PNG, BMP and WEBP, recognised by their content (magic
// bytes), never by their file extension.
//
// Every decoded picture is 8-bit RGB (likeness::Image): grayscale, palette,
// 16-bit, CMYK and alpha inputs are converted (alpha is composited onto
// white), and the EXIF orientation is applied, so callers see the photo the
// way a viewer shows it. Large JPEGs can be decoded at 1/2, 1/4 or 1/8 scale
// (DCT scaling, much faster than decoding then resizing) for face detection,
// and any region re-decoded at full resolution for the crops.
//
// Failures (a corrupt file, a folder named x.jpg, a decompression bomb) are
// returned as values with a kind and a message naming the file; nothing here
// throws for a bad photo. See docs/images.md.
//
// Thread-safety: every function is safe to call concurrently (no shared
// state); decoding different photos on different threads is the intended use.
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core/types.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/core/image.h"

namespace likeness::io {

enum class ImageFormat { unknown, jpeg, png, bmp, webp };

// "jpeg", "png", "bmp", "webp", "unknown".
std::string_view to_string(ImageFormat format);

// The format announced by the first bytes (at least 16 are needed; 32 make
// BMP detection reliable). Returns unknown for anything else, including the
// formats Likeness recognises only to name them in errors (GIF, TIFF, HEIC...).
ImageFormat detect_format(std::span<const std::uint8_t> head);

// Why a photo could not be loaded.
enum class DecodeError {
  none,
  not_found,           // no such file
  not_a_file,          // a directory (or FIFO, device) where a photo was expected
  unreadable,          // permission denied or I/O error
  file_too_large,      // more bytes than DecodeOptions::max_file_bytes
  empty,               // zero-byte file
  unsupported_format,  // not JPEG/PNG/BMP/WEBP, or a variant we cannot decode
  truncated,           // the data ends early (interrupted copy or download)
  corrupt,             // malformed data
  too_many_pixels,     // width*height above DecodeOptions::max_pixels
};

// "not_found", "not_a_file", ... (stable identifiers, for logs and JSON).
std::string_view to_string(DecodeError error);

struct DecodeOptions {
  // Photos whose stored width*height exceeds this are refused as
  // too_many_pixels, using the size in the header, before any pixel memory is
  // allocated (decompression bombs). 100 Mpx is ~300 MB of RGB.
  std::int64_t max_pixels = 100'000'000;
  // Files bigger than this are refused as file_too_large without being read.
  std::uint64_t max_file_bytes = std::uint64_t{1} << 30;
  // 0: decode at full resolution. Otherwise a JPEG is decoded at the
  // smallest of the scales 1/8, 1/4, 1/2, 1 whose longer side is still
  // >= min_long_side (pixels). Other formats are always decoded at full
  // resolution. DecodedImage::scale records what was used.
  int min_long_side = 0;
  // Rotate/flip the pixels as the EXIF Orientation tag asks (JPEG APP1,
  // PNG eXIf, WEBP EXIF). false returns the pixels as stored.
  bool apply_exif_orientation = true;
  // false (default): a truncated or damaged JPEG is an error (truncated or
  // corrupt). true: it is returned as decoded (the missing part is grey) with
  // a note in DecodedImage::warnings.
  bool accept_damaged = false;
};

// What a header says, without decoding pixels.
struct ImageHeader {
  ImageFormat format = ImageFormat::unknown;
  int width = 0;             // as stored, before orientation (pixels)
  int height = 0;            // as stored, before orientation (pixels)
  int exif_orientation = 1;  // 1..8, 1 when absent
  std::string capture_time;  // see ExifInfo::capture_time; empty when absent
  bool animated = false;     // an animated WEBP (the decoder takes the first frame)

  // Size as displayed: width and height swap for orientations 5..8.
  int oriented_width() const { return exif_orientation >= 5 ? height : width; }
  int oriented_height() const { return exif_orientation >= 5 ? width : height; }
};

struct ProbeResult {
  std::optional<ImageHeader> value;
  DecodeError error = DecodeError::none;
  std::string message;  // empty on success; "<file>: <reason>" on failure

  bool ok() const { return value.has_value(); }
};

// Reads only as much of the file as its header needs (usually a few KB; a
// WEBP whose EXIF chunk sits after the image data is read to the end).
// Returns the header, or an error kind + message. It does not check
// max_pixels and does not validate the pixel data: a file that probes fine can
// still fail to decode.
ProbeResult probe_image_file(const std::filesystem::path& path);
ProbeResult probe_image_bytes(std::span<const std::uint8_t> bytes,
                              std::string_view name_for_messages = "");

struct DecodedImage {
  Image image;  // 8-bit RGB, oriented
  ImageFormat format = ImageFormat::unknown;
  // Full-resolution size of the whole photo after orientation (pixels).
  int original_width = 0;
  int original_height = 0;
  // The part of the oriented full-resolution photo that `image` shows: the
  // whole photo for decode_image_*, the requested rectangle for
  // decode_image_region_*.
  cv::Rect region;
  // image pixels per original pixel: 1, 1/2, 1/4 or 1/8. A point (x, y) in
  // `image` is at (region.x + x / scale, region.y + y / scale) in the original.
  // (For sizes not divisible by the denominator the last row/column of
  // `image` covers a partial block: image.width() == ceil(region.width * scale).)
  double scale = 1.0;
  int exif_orientation = 1;  // as read from the file, applied or not
  bool orientation_applied = false;
  std::string capture_time;  // see ExifInfo::capture_time
  // Non-fatal remarks, e.g. "animated WEBP: decoded the first frame only" or
  // libjpeg's "Corrupt JPEG data: 2 extraneous bytes before marker 0xd9".
  std::vector<std::string> warnings;
};

struct DecodeResult {
  std::optional<DecodedImage> value;
  DecodeError error = DecodeError::none;
  std::string message;  // empty on success; "<file>: <reason>" on failure

  bool ok() const { return value.has_value(); }
};

// Decodes a whole photo. Returns the picture or an error kind + message that
// names the file; never throws for problems with the file or its contents.
DecodeResult decode_image_file(const std::filesystem::path& path,
                               const DecodeOptions& options = {});
// Same for bytes already in memory; name_for_messages labels errors
// ("<memory>" when empty).
DecodeResult decode_image_bytes(std::span<const std::uint8_t> bytes,
                                const DecodeOptions& options = {},
                                std::string_view name_for_messages = "");

// Decodes only `region` of the photo, at full resolution. `region` is in
// pixels of the oriented full-resolution photo (the coordinates obtained by
// mapping a box found on a reduced decode back through DecodedImage::scale);
// it is clipped to the photo. JPEGs decode just the rows and MCU columns that
// the region touches; other formats decode the whole photo and crop.
// options.min_long_side is ignored. Returns the same errors as
// decode_image_file. Throws likeness::UsageError if `region` does not overlap
// the photo at all (a caller bug, not a property of the file).
DecodeResult decode_image_region_file(const std::filesystem::path& path, const cv::Rect& region,
                                      const DecodeOptions& options = {});
DecodeResult decode_image_region_bytes(std::span<const std::uint8_t> bytes, const cv::Rect& region,
                                       const DecodeOptions& options = {},
                                       std::string_view name_for_messages = "");

// Several regions of one photo, in one pass: element i is what
// decode_image_region_bytes(bytes, regions[i], ...) returns (to within the
// rounding of chroma upsampling, at most 2 levels), but a JPEG's entropy-coded
// data, the bulk of its decoding cost, is read once down to the lowest region
// instead of once per region, and other formats are decoded once. On failure
// every element carries the same error. Throws likeness::UsageError if any
// rectangle does not overlap the photo. An empty list gives an empty result.
std::vector<DecodeResult> decode_image_regions_bytes(std::span<const std::uint8_t> bytes,
                                                     const std::vector<cv::Rect>& regions,
                                                     const DecodeOptions& options = {},
                                                     std::string_view name_for_messages = "");

}  // namespace likeness::io
