#include "likeness/align/align.h"

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "likeness/core/error.h"

namespace likeness::align {

FaceTemplate arcface_112() {
  return {"arcface_112",
          112,
          {{{38.2946f, 51.6963f},
            {73.5318f, 51.5014f},
            {56.0252f, 71.7366f},
            {41.5493f, 92.3655f},
            {70.7299f, 92.2041f}}}};
}

FaceTemplate scaled_template(const FaceTemplate& base, int size, float zoom) {
  if (size <= 0 || !(zoom > 0.0f)) {
    throw UsageError("scaled_template needs size > 0 and zoom > 0 (got size " +
                     std::to_string(size) + ", zoom " + std::to_string(zoom) + ")");
  }
  FaceTemplate out;
  out.name = base.name + "@" + std::to_string(size) + "x" + std::to_string(zoom);
  out.size = size;
  const float scale = static_cast<float>(size) / static_cast<float>(base.size);
  const float centre = static_cast<float>(size) / 2.0f;
  for (std::size_t i = 0; i < base.points.size(); ++i) {
    const cv::Point2f p = base.points[i] * scale;
    out.points[i] = {centre + (p.x - centre) * zoom, centre + (p.y - centre) * zoom};
  }
  return out;
}

std::optional<cv::Matx23d> similarity_transform(std::span<const cv::Point2f> from,
                                                std::span<const cv::Point2f> to) {
  if (from.size() != to.size() || from.size() < 2) return std::nullopt;
  const double n = static_cast<double>(from.size());
  double fx = 0, fy = 0, tx = 0, ty = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    fx += from[i].x;
    fy += from[i].y;
    tx += to[i].x;
    ty += to[i].y;
  }
  fx /= n;
  fy /= n;
  tx /= n;
  ty /= n;
  // With centred points, the least-squares [a -b; b a] has a closed form.
  double norm = 0, dot = 0, cross = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    const double sx = from[i].x - fx, sy = from[i].y - fy;
    const double dx = to[i].x - tx, dy = to[i].y - ty;
    norm += sx * sx + sy * sy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
  }
  if (!(norm > 1e-9) || !std::isfinite(norm) || !std::isfinite(dot) || !std::isfinite(cross)) {
    return std::nullopt;
  }
  const double a = dot / norm;
  const double b = cross / norm;
  return cv::Matx23d(a, -b, tx - (a * fx - b * fy), b, a, ty - (b * fx + a * fy));
}

cv::Point2f transform_point(const cv::Matx23d& m, cv::Point2f p) {
  return {static_cast<float>(m(0, 0) * p.x + m(0, 1) * p.y + m(0, 2)),
          static_cast<float>(m(1, 0) * p.x + m(1, 1) * p.y + m(1, 2))};
}

std::optional<AlignedFace> align_face(const Image& image,
                                      const std::array<cv::Point2f, 5>& landmarks,
                                      const FaceTemplate& tmpl, const AlignOptions& options) {
  if (image.empty() || tmpl.size <= 0) return std::nullopt;
  const auto transform = similarity_transform(landmarks, tmpl.points);
  if (!transform) return std::nullopt;
  AlignedFace out;
  out.transform = *transform;
  cv::warpAffine(image.rgb, out.crop.rgb, cv::Mat(*transform), cv::Size(tmpl.size, tmpl.size),
                 cv::INTER_LINEAR,
                 options.border == Border::replicate ? cv::BORDER_REPLICATE : cv::BORDER_CONSTANT,
                 cv::Scalar(0, 0, 0));
  return out;
}

}  // namespace likeness::align
