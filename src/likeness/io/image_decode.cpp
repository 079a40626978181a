#include <algorithm>
#include <opencv2/core.hpp>

#include "likeness/core/error.h"
#include "likeness/io/file.h"
#include "likeness/io/image.h"
#include "likeness/io/image_internal.h"

namespace likeness::io {

namespace detail {

void composite_on_white(const cv::Mat& rgba, cv::Mat& rgb) {
  rgb.create(rgba.rows, rgba.cols, CV_8UC3);
  for (int y = 0; y < rgba.rows; ++y) {
    const std::uint8_t* src = rgba.ptr<std::uint8_t>(y);
    std::uint8_t* dst = rgb.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgba.cols; ++x, src += 4, dst += 3) {
      const int alpha = src[3];
      for (int c = 0; c < 3; ++c) {
        dst[c] = static_cast<std::uint8_t>((src[c] * alpha + 255 * (255 - alpha) + 127) / 255);
      }
    }
  }
}

}  // namespace detail

namespace {

using detail::CodecOutput;
using detail::CodecRequest;
using detail::HeaderParse;
using detail::ParseStatus;

DecodeResult failure(DecodeError error, const std::string& name, const std::string& reason) {
  DecodeResult out;
  out.error = error;
  out.message = name + ": " + reason;
  return out;
}

// Turns stored pixels into displayed pixels, as EXIF orientation `o` asks.
cv::Mat orient(const cv::Mat& stored, int o) {
  cv::Mat out;
  switch (o) {
    case 2:  // mirrored left-right
      cv::flip(stored, out, 1);
      return out;
    case 3:  // upside down
      cv::rotate(stored, out, cv::ROTATE_180);
      return out;
    case 4:  // mirrored top-bottom
      cv::flip(stored, out, 0);
      return out;
    case 5:  // mirrored along the top-left/bottom-right diagonal
      cv::transpose(stored, out);
      return out;
    case 6:  // shot with the camera turned right: rotate clockwise to view
      cv::rotate(stored, out, cv::ROTATE_90_CLOCKWISE);
      return out;
    case 7: {  // mirrored along the other diagonal
      cv::Mat transposed;
      cv::transpose(stored, transposed);
      cv::rotate(transposed, out, cv::ROTATE_180);
      return out;
    }
    case 8:  // shot with the camera turned left: rotate counter-clockwise
      cv::rotate(stored, out, cv::ROTATE_90_COUNTERCLOCKWISE);
      return out;
    default:
      return stored;
  }
}

// The stored-pixel rectangle that becomes displayed rectangle `r` under
// orientation `o`; (w, h) is the stored size.
cv::Rect stored_rect(const cv::Rect& r, int o, int w, int h) {
  switch (o) {
    case 2:
      return {w - (r.x + r.width), r.y, r.width, r.height};
    case 3:
      return {w - (r.x + r.width), h - (r.y + r.height), r.width, r.height};
    case 4:
      return {r.x, h - (r.y + r.height), r.width, r.height};
    case 5:
      return {r.y, r.x, r.height, r.width};
    case 6:
      return {r.y, h - (r.x + r.width), r.height, r.width};
    case 7:
      return {w - (r.y + r.height), h - (r.x + r.width), r.height, r.width};
    case 8:
      return {w - (r.y + r.height), r.x, r.height, r.width};
    default:
      return r;
  }
}

DecodeError to_error(ParseStatus status) {
  switch (status) {
    case ParseStatus::unsupported:
      return DecodeError::unsupported_format;
    case ParseStatus::corrupt:
      return DecodeError::corrupt;
    case ParseStatus::ok:
    case ParseStatus::truncated:
    case ParseStatus::need_more:
      break;
  }
  return DecodeError::truncated;
}

// JPEG DCT scaling: the largest reduction whose longer side stays >= target.
// libjpeg's output size at 1/d is ceil(size / d).
int choose_denominator(const ImageHeader& header, int min_long_side) {
  if (header.format != ImageFormat::jpeg || min_long_side <= 0) return 1;
  const std::int64_t long_side = std::max(header.width, header.height);
  for (int d : {8, 4, 2}) {
    if ((long_side + d - 1) / d >= min_long_side) return d;
  }
  return 1;
}

// Decodes the whole photo (regions == nullptr: one result) or each of
// *regions (one result per rectangle, in order) from one codec pass. On
// failure every result carries the same error.
std::vector<DecodeResult> decode(std::span<const std::uint8_t> bytes, const DecodeOptions& options,
                                 const std::string& name, const std::vector<cv::Rect>* regions) {
  const std::size_t results = regions != nullptr ? regions->size() : 1;
  const auto failed = [&](DecodeError error, const std::string& reason) {
    return std::vector<DecodeResult>(results, failure(error, name, reason));
  };
  if (bytes.empty()) return failed(DecodeError::empty, "empty file (0 bytes)");
  HeaderParse parsed = detail::parse_header(bytes, /*complete=*/true);
  if (parsed.status != ParseStatus::ok) return failed(to_error(parsed.status), parsed.reason);
  const ImageHeader& header = parsed.header;

  // The decompression-bomb check: from the header, before any codec runs.
  const std::int64_t pixels = std::int64_t{header.width} * header.height;
  if (pixels > options.max_pixels) {
    return failed(DecodeError::too_many_pixels,
                  "image is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                      " = " + std::to_string(pixels) + " pixels, more than the limit of " +
                      std::to_string(options.max_pixels) + " (DecodeOptions::max_pixels)");
  }

  const int orientation = options.apply_exif_orientation ? header.exif_orientation : 1;
  const int shown_width = orientation >= 5 ? header.height : header.width;
  const int shown_height = orientation >= 5 ? header.width : header.height;
  const cv::Rect whole(0, 0, shown_width, shown_height);

  CodecRequest request;
  request.accept_damaged = options.accept_damaged;
  std::vector<cv::Rect> shown_regions;
  if (regions != nullptr) {
    for (const cv::Rect& region : *regions) {
      const cv::Rect shown = region & whole;
      if (shown.empty()) {
        throw UsageError("decode_image_region: rectangle (" + std::to_string(region.x) + ", " +
                         std::to_string(region.y) + ", " + std::to_string(region.width) + "x" +
                         std::to_string(region.height) + ") does not overlap the " +
                         std::to_string(shown_width) + "x" + std::to_string(shown_height) +
                         " image " + name);
      }
      shown_regions.push_back(shown);
      request.stored_regions.push_back(
          stored_rect(shown, orientation, header.width, header.height));
    }
    if (shown_regions.empty()) return {};
  } else {
    shown_regions.push_back(whole);
    request.scale_denominator = choose_denominator(header, options.min_long_side);
  }

  CodecOutput decoded;
  try {
    switch (header.format) {
      case ImageFormat::jpeg:
        decoded = detail::decode_jpeg(bytes, header, request);
        break;
      case ImageFormat::png:
        decoded = detail::decode_png(bytes, header);
        break;
      case ImageFormat::webp:
        decoded = detail::decode_webp(bytes, header);
        break;
      case ImageFormat::bmp:
        decoded = detail::decode_bmp(bytes, parsed);
        break;
      case ImageFormat::unknown:
        return failed(DecodeError::unsupported_format, "unsupported format");
    }
  } catch (const std::bad_alloc&) {
    return failed(DecodeError::too_many_pixels, "out of memory while decoding");
  } catch (const cv::Exception& e) {
    return failed(DecodeError::corrupt, std::string("decoder error: ") + e.what());
  }
  if (decoded.error != DecodeError::none) return failed(decoded.error, decoded.reason);

  std::vector<DecodeResult> out(shown_regions.size());
  for (std::size_t i = 0; i < shown_regions.size(); ++i) {
    cv::Mat stored;
    if (!decoded.regions.empty()) {
      stored = decoded.regions[i];  // the codec decoded exactly this region
    } else if (request.stored_regions.empty()) {
      stored = decoded.rgb;
    } else {
      // Codecs without region support decoded everything: crop here.
      stored = decoded.rgb(request.stored_regions[i] - decoded.covers.tl());
    }
    DecodedImage image;
    cv::Mat& rgb = image.image.rgb;
    rgb = orient(stored, orientation);
    // A crop left as a view would keep the whole decoded buffer alive.
    if (!decoded.rgb.empty() && rgb.datastart == decoded.rgb.datastart &&
        rgb.size() != decoded.rgb.size()) {
      rgb = rgb.clone();
    }
    image.format = header.format;
    image.original_width = shown_width;
    image.original_height = shown_height;
    image.region = shown_regions[i];
    image.scale = 1.0 / request.scale_denominator;
    image.exif_orientation = header.exif_orientation;
    image.orientation_applied = orientation != 1;
    image.capture_time = header.capture_time;
    image.warnings = decoded.warnings;
    out[i].value = std::move(image);
  }
  return out;
}

std::string label(std::string_view name) {
  return name.empty() ? std::string("<memory>") : std::string(name);
}

std::vector<DecodeResult> decode_file(const std::filesystem::path& path,
                                      const DecodeOptions& options,
                                      const std::vector<cv::Rect>* regions) {
  FileBytes file = read_file_bytes(path, options.max_file_bytes);
  if (!file.ok()) {
    DecodeResult out;
    out.error = detail::from_file_error(file.error);
    out.message = file.message;
    return std::vector<DecodeResult>(regions != nullptr ? regions->size() : 1, out);
  }
  return decode(file.bytes, options, path.string(), regions);
}

}  // namespace

DecodeResult decode_image_file(const std::filesystem::path& path, const DecodeOptions& options) {
  return std::move(decode_file(path, options, nullptr).front());
}

DecodeResult decode_image_bytes(std::span<const std::uint8_t> bytes, const DecodeOptions& options,
                                std::string_view name_for_messages) {
  return std::move(decode(bytes, options, label(name_for_messages), nullptr).front());
}

DecodeResult decode_image_region_file(const std::filesystem::path& path, const cv::Rect& region,
                                      const DecodeOptions& options) {
  const std::vector<cv::Rect> regions{region};
  return std::move(decode_file(path, options, &regions).front());
}

DecodeResult decode_image_region_bytes(std::span<const std::uint8_t> bytes, const cv::Rect& region,
                                       const DecodeOptions& options,
                                       std::string_view name_for_messages) {
  const std::vector<cv::Rect> regions{region};
  return std::move(decode(bytes, options, label(name_for_messages), &regions).front());
}

std::vector<DecodeResult> decode_image_regions_bytes(std::span<const std::uint8_t> bytes,
                                                     const std::vector<cv::Rect>& regions,
                                                     const DecodeOptions& options,
                                                     std::string_view name_for_messages) {
  return decode(bytes, options, label(name_for_messages), &regions);
}

}  // namespace likeness::io
