// Face alignment: warp a face so that its five landmarks land on a model's
// template (a least-squares similarity transform: rotation, uniform scale,
// translation; no shear, no reflection).
//
//   auto tmpl = likeness::align::arcface_112();
//   std::optional<likeness::align::AlignedFace> aligned =
//       likeness::align::align_face(image, detection.landmarks, tmpl);
//   aligned->crop;       // 112x112 RGB
//   aligned->transform;  // image pixels -> crop pixels
//
// Point order is detect::LandmarkIndex: image-left eye, image-right eye, nose
// tip, image-left mouth corner, image-right mouth corner.
//
// dlib's ResNet is not fed through a template here: it wants dlib's own chip
// (get_face_chip_details on its 5-point shape model), which the dlib embedder
// builds itself because only that matches what the network was trained on.
//
// Thread-safety: every function is pure and may be called concurrently.
#pragma once

#include <array>
#include <opencv2/core/matx.hpp>
#include <opencv2/core/types.hpp>
#include <optional>
#include <span>
#include <string>

#include "likeness/core/image.h"

namespace likeness::align {

// Where the five points should land in a square crop of `size` pixels.
struct FaceTemplate {
  std::string name;
  int size = 112;  // crop width and height, pixels
  std::array<cv::Point2f, 5> points{};
};

// The ArcFace/InsightFace 112x112 template (the convention of most 112-pixel
// recognition models: fr_feature, MobileFaceNet, MobileFace).
FaceTemplate arcface_112();

// `base` rescaled to `size` pixels and zoomed about the crop centre: zoom < 1
// shows more context around the face (0.8 = face 20% smaller). Throws
// UsageError unless size > 0 and zoom > 0.
FaceTemplate scaled_template(const FaceTemplate& base, int size, float zoom);

// Least-squares similarity transform (2x3, maps `from` onto `to`) in closed
// form (the 2-D case of Umeyama's method, without reflection). Returns nothing
// when the `from` points coincide (no scale can be estimated) or the spans'
// sizes differ or are below 2.
std::optional<cv::Matx23d> similarity_transform(std::span<const cv::Point2f> from,
                                                std::span<const cv::Point2f> to);

enum class Border {
  replicate,  // repeat the edge pixels (default: measured no worse, and no black wedges)
  constant,   // black
};

struct AlignOptions {
  Border border = Border::replicate;
};

struct AlignedFace {
  Image crop;             // template.size x template.size, RGB
  cv::Matx23d transform;  // image pixel -> crop pixel (the warp that made `crop`)
};

// Warps `image` (bilinear) so that `landmarks` land on `tmpl`. Returns nothing
// for an empty image or degenerate landmarks (all equal, or not finite).
std::optional<AlignedFace> align_face(const Image& image,
                                      const std::array<cv::Point2f, 5>& landmarks,
                                      const FaceTemplate& tmpl, const AlignOptions& options = {});

// Applies a 2x3 transform to a point.
cv::Point2f transform_point(const cv::Matx23d& transform, cv::Point2f point);

}  // namespace likeness::align
