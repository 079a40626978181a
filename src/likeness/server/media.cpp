#include "likeness/server/media.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace likeness::server {
namespace {

RenderedImage failure(const io::DecodeResult& decoded) {
  RenderedImage out;
  out.error = decoded.error;
  out.message = decoded.message;
  return out;
}

RenderedImage encode(const cv::Mat& rgb, const RenderOptions& options) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> bytes;
  const std::vector<int> params = {cv::IMWRITE_JPEG_QUALITY, options.jpeg_quality};
  RenderedImage out;
  if (!cv::imencode(".jpg", bgr, bytes, params)) {
    out.error = io::DecodeError::corrupt;
    out.message = "the picture could not be encoded as JPEG";
    return out;
  }
  out.jpeg = std::string(bytes.begin(), bytes.end());
  out.width = bgr.cols;
  out.height = bgr.rows;
  return out;
}

// INTER_AREA: the right filter for shrinking (no aliasing on fine patterns);
// LINEAR for the rare enlargement of a tiny face.
cv::Mat resize_to(const cv::Mat& image, int width, int height) {
  if (image.cols == width && image.rows == height) return image;
  cv::Mat out;
  const bool shrinking = width < image.cols;
  cv::resize(image, out, cv::Size(width, height), 0, 0,
             shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace

RenderedImage render_photo(const std::string& path, int max_long_side,
                           const RenderOptions& options) {
  io::DecodeOptions decode;
  decode.min_long_side = max_long_side;
  const io::DecodeResult decoded = io::decode_image_file(path, decode);
  if (!decoded.ok()) return failure(decoded);
  const cv::Mat& rgb = decoded.value->image.rgb;
  const int long_side = std::max(rgb.cols, rgb.rows);
  if (long_side <= max_long_side) return encode(rgb, options);
  const double scale = static_cast<double>(max_long_side) / long_side;
  const int width = std::max(1, static_cast<int>(std::lround(rgb.cols * scale)));
  const int height = std::max(1, static_cast<int>(std::lround(rgb.rows * scale)));
  return encode(resize_to(rgb, width, height), options);
}

RenderedImage render_face_crop(const std::string& path, const store::FaceBox& box, int size,
                               const RenderOptions& options) {
  const float centre_x = box.x + box.w / 2.0f;
  const float centre_y = box.y + box.h / 2.0f;
  const float side = std::max(1.0f, std::max(box.w, box.h) * options.crop_margin);
  const cv::Rect wanted(static_cast<int>(std::floor(centre_x - side / 2.0f)),
                        static_cast<int>(std::floor(centre_y - side / 2.0f)),
                        static_cast<int>(std::ceil(side)), static_cast<int>(std::ceil(side)));
  // The region is clipped to the photo by the decoder; a box wholly outside
  // it (a catalog out of step with a changed file) is a caller bug there, so
  // it is reported here as a value.
  const io::ProbeResult probe = io::probe_image_file(path);
  if (!probe.ok()) {
    RenderedImage out;
    out.error = probe.error;
    out.message = probe.message;
    return out;
  }
  const cv::Rect photo(0, 0, probe.value->oriented_width(), probe.value->oriented_height());
  if ((wanted & photo).area() <= 0) {
    RenderedImage out;
    out.error = io::DecodeError::corrupt;
    out.message = path +
                  ": the face lies outside the photo (the file changed since it was "
                  "indexed; re-index its folder)";
    return out;
  }
  const io::DecodeResult decoded = io::decode_image_region_file(path, wanted);
  if (!decoded.ok()) return failure(decoded);
  const cv::Mat& region = decoded.value->image.rgb;
  const cv::Rect& where = decoded.value->region;
  // Near an edge the clipped region is not square: take the largest square
  // that fits, as close to the face's centre as the photo allows.
  const int square = std::max(1, std::min({region.cols, region.rows, wanted.width}));
  const int x = std::clamp(static_cast<int>(std::lround(centre_x - static_cast<float>(where.x) -
                                                        static_cast<float>(square) / 2.0f)),
                           0, region.cols - square);
  const int y = std::clamp(static_cast<int>(std::lround(centre_y - static_cast<float>(where.y) -
                                                        static_cast<float>(square) / 2.0f)),
                           0, region.rows - square);
  return encode(resize_to(region(cv::Rect(x, y, square, square)), size, size), options);
}

}  // namespace likeness::server
