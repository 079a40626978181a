// PNG through libpng's simplified API: it expands palette and grayscale and
// reduces 16-bit to 8-bit in one call, reports errors in a string (never on
// stderr) and never longjmps through our code.
#include <png.h>

#include <climits>
#include <cstring>

#include "likeness/io/image_internal.h"

namespace likeness::io::detail {

namespace {

// True when the chunk list runs to IEND inside `data`; false when the file
// ends first (a truncated copy or download).
bool png_has_end(std::span<const std::uint8_t> data) {
  std::size_t pos = 8;
  while (pos + 8 <= data.size()) {
    const std::uint32_t length = (std::uint32_t{data[pos]} << 24) |
                                 (std::uint32_t{data[pos + 1]} << 16) |
                                 (std::uint32_t{data[pos + 2]} << 8) | data[pos + 3];
    if (std::memcmp(data.data() + pos + 4, "IEND", 4) == 0) return true;
    pos += 12 + std::size_t{length};
  }
  return false;
}

}  // namespace

CodecOutput decode_png(std::span<const std::uint8_t> data, const ImageHeader& header) {
  CodecOutput out;
  const bool complete = png_has_end(data);
  if (header.width > INT_MAX / 4) {
    out.error = DecodeError::unsupported_format;
    out.reason = "PNG too wide to decode (" + std::to_string(header.width) + " pixels)";
    return out;
  }

  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  auto failure = [&](const char* stage) {
    out.rgb.release();
    if (!complete) {
      out.error = DecodeError::truncated;
      out.reason = std::string("truncated PNG (no IEND chunk): ") + image.message;
    } else {
      out.error = DecodeError::corrupt;
      out.reason = std::string("corrupt PNG (") + stage + "): " + image.message;
    }
    png_image_free(&image);
    return out;
  };
  if (png_image_begin_read_from_memory(&image, data.data(), data.size()) == 0) {
    return failure("header");
  }
  // 16-bit PNGs from cameras and editors hold sRGB-encoded values; without
  // this flag libpng would treat them as linear light and brighten them.
  image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  // With alpha we take 8-bit RGBA (not premultiplied) and composite onto
  // white ourselves: libpng would composite in linear light, which makes
  // half-transparent pixels lighter than browsers (and our WEBP path) show.
  const bool has_alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  image.format = has_alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
  cv::Mat decoded;
  try {
    decoded.create(static_cast<int>(image.height), static_cast<int>(image.width),
                   has_alpha ? CV_8UC4 : CV_8UC3);
  } catch (...) {
    png_image_free(&image);
    out.error = DecodeError::too_many_pixels;
    out.reason = "out of memory while decoding the PNG";
    return out;
  }
  if (png_image_finish_read(&image, nullptr, decoded.data, static_cast<png_int_32>(decoded.step[0]),
                            nullptr) == 0) {
    return failure("pixel data");
  }
  if (has_alpha) {
    composite_on_white(decoded, out.rgb);
  } else {
    out.rgb = decoded;
  }
  if (!complete) out.warnings.push_back("PNG lacks its IEND chunk (image data was complete)");
  out.covers = cv::Rect(0, 0, out.rgb.cols, out.rgb.rows);
  return out;
}

}  // namespace likeness::io::detail
