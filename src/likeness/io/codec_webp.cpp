// WEBP through libwebp: still images with WebPDecode, animations with the
// demux library's WebPAnimDecoder (first frame only).
#include <webp/decode.h>
#include <webp/demux.h>

#include "likeness/io/image_internal.h"

namespace likeness::io::detail {

namespace {

CodecOutput failure(VP8StatusCode status, bool riff_complete, const std::string& stage) {
  CodecOutput out;
  if (status == VP8_STATUS_NOT_ENOUGH_DATA || !riff_complete) {
    out.error = DecodeError::truncated;
    out.reason = "truncated WEBP (data ends early)";
  } else if (status == VP8_STATUS_UNSUPPORTED_FEATURE) {
    out.error = DecodeError::unsupported_format;
    out.reason = "unsupported WEBP feature (" + stage + ")";
  } else if (status == VP8_STATUS_OUT_OF_MEMORY) {
    out.error = DecodeError::too_many_pixels;
    out.reason = "out of memory while decoding the WEBP";
  } else {
    out.error = DecodeError::corrupt;
    out.reason = "corrupt WEBP (" + stage + ", libwebp status " +
                 std::to_string(static_cast<int>(status)) + ")";
  }
  return out;
}

CodecOutput decode_animation(std::span<const std::uint8_t> data, bool riff_complete) {
  WebPAnimDecoderOptions options;
  if (WebPAnimDecoderOptionsInit(&options) == 0) {
    return failure(VP8_STATUS_INVALID_PARAM, true, "libwebpdemux version mismatch");
  }
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData input{data.data(), data.size()};
  WebPAnimDecoder* decoder = WebPAnimDecoderNew(&input, &options);
  if (decoder == nullptr)
    return failure(VP8_STATUS_BITSTREAM_ERROR, riff_complete, "animation container");
  struct Deleter {
    WebPAnimDecoder* decoder;
    ~Deleter() { WebPAnimDecoderDelete(decoder); }
  } deleter{decoder};

  WebPAnimInfo info;
  std::uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (WebPAnimDecoderGetInfo(decoder, &info) == 0 ||
      WebPAnimDecoderGetNext(decoder, &canvas, &timestamp) == 0 || canvas == nullptr) {
    return failure(VP8_STATUS_BITSTREAM_ERROR, riff_complete, "first animation frame");
  }
  CodecOutput out;
  const cv::Mat rgba(static_cast<int>(info.canvas_height), static_cast<int>(info.canvas_width),
                     CV_8UC4, canvas);
  composite_on_white(rgba, out.rgb);
  out.covers = cv::Rect(0, 0, out.rgb.cols, out.rgb.rows);
  out.warnings.push_back("animated WEBP with " + std::to_string(info.frame_count) +
                         " frames: decoded the first frame only");
  return out;
}

}  // namespace

CodecOutput decode_webp(std::span<const std::uint8_t> data, const ImageHeader& header) {
  // RIFF size field: the file must hold 8 + that many bytes.
  const std::uint64_t riff_size =
      data.size() >= 8 ? (std::uint64_t{data[4]} | (std::uint64_t{data[5]} << 8) |
                          (std::uint64_t{data[6]} << 16) | (std::uint64_t{data[7]} << 24))
                       : 0;
  const bool riff_complete = riff_size + 8 <= data.size();
  if (header.animated) return decode_animation(data, riff_complete);

  WebPDecoderConfig config;
  if (WebPInitDecoderConfig(&config) == 0) {
    return failure(VP8_STATUS_INVALID_PARAM, true, "libwebp version mismatch");
  }
  VP8StatusCode status = WebPGetFeatures(data.data(), data.size(), &config.input);
  if (status != VP8_STATUS_OK) return failure(status, riff_complete, "header");
  if (config.input.has_animation) return decode_animation(data, riff_complete);

  CodecOutput out;
  cv::Mat decoded;
  try {
    decoded.create(config.input.height, config.input.width,
                   config.input.has_alpha ? CV_8UC4 : CV_8UC3);
  } catch (...) {
    return failure(VP8_STATUS_OUT_OF_MEMORY, true, "allocation");
  }
  config.output.colorspace = config.input.has_alpha ? MODE_RGBA : MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = decoded.data;
  config.output.u.RGBA.stride = static_cast<int>(decoded.step[0]);
  config.output.u.RGBA.size = decoded.step[0] * static_cast<std::size_t>(decoded.rows);
  status = WebPDecode(data.data(), data.size(), &config);
  WebPFreeDecBuffer(&config.output);  // no-op for external memory, kept for symmetry
  if (status != VP8_STATUS_OK) return failure(status, riff_complete, "pixel data");
  if (config.input.has_alpha) {
    composite_on_white(decoded, out.rgb);
  } else {
    out.rgb = decoded;
  }
  if (!riff_complete) out.warnings.push_back("WEBP file is shorter than its RIFF header says");
  out.covers = cv::Rect(0, 0, out.rgb.cols, out.rgb.rows);
  return out;
}

}  // namespace likeness::io::detail
