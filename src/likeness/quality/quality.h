// Face quality: how usable one detected face is for recognition, from cheap
// image measures (sharpness, contrast, size, exposure) and the head pose the
// five landmarks imply.
//
//   likeness::quality::QualityMeasures q = likeness::quality::assess(image, detection);
//   if (q.high) { ... }        // q.overall > the formula's high-quality threshold
//   q.sharpness; q.angles.yaw_deg; q.laplacian_variance;  // scores and raw values
//
// The crop measures are taken on the face aligned to the ArcFace 112x112
// template (align::arcface_112()), the crop the recognition models see, so
// that they do not depend on the photo's resolution or the face's roll.
// Callers that already aligned use assess_aligned() and do not pay twice.
//
// Every function is pure: no state, no exceptions for image content (an empty
// image or a degenerate face gives defined values, documented below), safe to
// call from several threads at once.
#pragma once

#include <array>
#include <opencv2/core/types.hpp>
#include <optional>
#include <string_view>

#include "likeness/core/image.h"
#include "likeness/detect/detector.h"

namespace likeness::quality {

// How the scores are combined into QualityMeasures::overall.
enum class Formula {
  // The baseline: mean(sharpness, contrast, size). Needs no landmarks.
  classic,
  // Candidate: the classic mean multiplied by the pose score and by the
  // exposure score, so that a profile or a burnt-out face cannot be rescued
  // by being large and sharp. A face without usable landmarks has pose 0 and
  // therefore overall 0: without them the pose cannot be vouched for.
  full,
};

// "classic", "full".
std::string_view to_string(Formula formula);
// Inverse of to_string(). Throws UsageError naming the accepted names.
Formula parse_formula(std::string_view name);

struct QualityOptions {
  Formula formula = Formula::classic;
  // QualityMeasures::high is overall > this (strictly). Empty = the
  // formula's default, default_high_quality_threshold().
  std::optional<float> high_quality_threshold{};
};

// classic: 0.6 (the baseline's rule). full: 0.33, the value that leaves the
// same share of LFW's faces (12.6% of the 7,701 pairs images) below it as
// 0.6 does under classic, so that "high" means the same under both
// (docs/quality.md).
float default_high_quality_threshold(Formula formula);

// Head pose estimated from the five landmarks, in degrees. A rough estimate
// from a weak-perspective model with one anthropometric constant (see
// quality.cpp), not calibrated against ground-truth angles: enough to tell
// frontal from turned, not a head tracker.
struct FacePose {
  // Positive when the nose tip lies right of the eye/mouth midline in the
  // image (the subject turned towards the image's right, their own left);
  // about +-90 for a profile.
  float yaw_deg = 0.0f;
  // Positive when the nose tip lies lower between the eye line and the mouth
  // line than on the frontal template (the subject looking down).
  float pitch_deg = 0.0f;
  // Angle of the eye line (image-left eye to image-right eye) from the image's
  // x axis; positive when the image-right eye is lower (the face turned
  // clockwise on screen). In (-180, 180].
  float roll_deg = 0.0f;
};

struct QualityMeasures {
  // False when there was nothing to measure (empty image or crop, or a face
  // box that is empty, not finite, or wholly outside the image); then every
  // field below is 0 / false.
  bool measured = false;

  // Scores in [0, 1], 1 = best.
  float sharpness = 0.0f;  // min(laplacian_variance / 500, 1)
  float contrast = 0.0f;   // min(grey_std / 64, 1)
  float size = 0.0f;       // min(face_area_px / 2500, 1)
  // 1 for a frontal face, 0 from |yaw| >= 60 or |pitch| >= 45 degrees; roll
  // does not count (alignment removes it). 0 when has_pose is false.
  float pose = 0.0f;
  // 1 - min(1, (over_exposed_share + under_exposed_share) / 0.25).
  float exposure = 0.0f;

  bool has_pose = false;  // the landmarks gave a pose (has_landmarks, not degenerate)
  FacePose angles;        // all 0 when has_pose is false

  float overall = 0.0f;  // in [0, 1], by `formula`
  bool high = false;     // overall > the high-quality threshold (QualityOptions)
  Formula formula = Formula::classic;

  // Raw values behind the scores, for reports and for tuning the constants.
  double laplacian_variance = 0.0;   // of the grey 112x112 crop (grey levels^2)
  double grey_std = 0.0;             // standard deviation of the grey crop (grey levels)
  double face_area_px = 0.0;         // box width * height, pixels of the input image
  double over_exposed_share = 0.0;   // share of crop pixels with grey >= 250
  double under_exposed_share = 0.0;  // share of crop pixels with grey <= 5
};

// Measures `face` in `image`. The crop is the face aligned to the ArcFace
// 112x112 template with its landmarks; without landmarks (or with degenerate
// ones) it is the face box resized to 112x112. A face whose box is empty, not
// finite, or does not overlap the image gives measured == false (all zeros).
QualityMeasures assess(const Image& image, const detect::Detection& face,
                       const QualityOptions& options = {});

// Same, for a face already aligned: `aligned_crop` is the 112x112 ArcFace crop
// (align::align_face() with align::arcface_112()); another size is resized to
// 112x112 first so that the constants keep their meaning. `face` gives the
// box (size; an empty or non-finite box scores 0) and the landmarks (pose),
// both in pixels of the original image. An empty crop, or one that is not
// CV_8UC3, gives measured == false (all zeros).
QualityMeasures assess_aligned(const Image& aligned_crop, const detect::Detection& face,
                               const QualityOptions& options = {});

// Pose from five landmarks (detect::LandmarkIndex order, any similarity frame:
// image or crop pixels). Nothing when the eyes coincide, the mouth is not
// below the eyes, or a point is not finite.
std::optional<FacePose> estimate_pose(const std::array<cv::Point2f, 5>& landmarks);

// The pose score of QualityMeasures::pose for given angles.
float pose_score(const FacePose& pose);

}  // namespace likeness::quality
