#include "likeness/quality/quality.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <opencv2/imgproc.hpp>
#include <string>

#include "likeness/align/align.h"
#include "likeness/core/error.h"

namespace likeness::quality {
namespace {

// The constants: the value of each raw measure at which its score
// saturates at 1.
constexpr double kLaplacianVarianceForFull = 500.0;  // grey levels^2
constexpr double kGreyStdForFull = 64.0;             // grey levels
constexpr double kAreaForFull = 2500.0;              // pixels, a 50x50 face

// Exposure: a grey level at or beyond these is clipped (no detail left), and
// when a quarter of the face is clipped the exposure score reaches 0.
constexpr int kOverExposedGrey = 250;
constexpr int kUnderExposedGrey = 5;
constexpr double kClippedShareForZero = 0.25;

// Pose: the angles at which the pose score reaches 0. Recognition models hold
// up to a half-profile; pitch changes the face's look faster than yaw.
constexpr double kYawForZeroDeg = 60.0;
constexpr double kPitchForZeroDeg = 45.0;

// Depth of the nose tip in front of the plane of the eyes and mouth corners,
// in inter-ocular distances (about 32 mm for a 63 mm inter-pupillary distance):
// an anthropometric round figure, not fitted to data. It converts the nose's
// 2-D offsets into angles; a wrong value scales every angle by the same
// factor near frontal, it does not make a frontal face look turned.
constexpr double kNoseDepth = 0.5;

constexpr int kCropSize = 112;

double degrees(double radians) { return radians * 180.0 / std::numbers::pi; }

// Where a frontal face's landmarks sit relative to each other, from the ArcFace
// template itself so that "frontal" means what alignment aims at.
struct FrontalGeometry {
  double nose_ratio;     // (nose - eye line) / (mouth line - eye line), ~0.495
  double mouth_to_eyes;  // (mouth line - eye line) / inter-ocular distance, ~1.15
};

// Landmarks expressed in a face frame: origin at the eyes' midpoint, u along
// the eye line (image-left eye to image-right eye), v perpendicular to it
// towards the mouth; lengths in pixels.
struct FaceFrame {
  double eye_distance = 0.0;
  double roll_rad = 0.0;
  double nose_u = 0.0, nose_v = 0.0;
  double mouth_u = 0.0, mouth_v = 0.0;  // midpoint of the mouth corners
};

std::optional<FaceFrame> face_frame(const std::array<cv::Point2f, 5>& p) {
  for (const auto& point : p) {
    if (!std::isfinite(point.x) || !std::isfinite(point.y)) return std::nullopt;
  }
  const double ex = (static_cast<double>(p[detect::kLeftEye].x) + p[detect::kRightEye].x) / 2.0;
  const double ey = (static_cast<double>(p[detect::kLeftEye].y) + p[detect::kRightEye].y) / 2.0;
  const double dx = static_cast<double>(p[detect::kRightEye].x) - p[detect::kLeftEye].x;
  const double dy = static_cast<double>(p[detect::kRightEye].y) - p[detect::kLeftEye].y;
  FaceFrame f;
  f.eye_distance = std::hypot(dx, dy);
  if (!(f.eye_distance > 1e-6)) return std::nullopt;
  const double ux = dx / f.eye_distance, uy = dy / f.eye_distance;
  const double vx = -uy, vy = ux;  // u turned by +90 degrees: "down" on an upright face
  f.roll_rad = std::atan2(dy, dx);
  const double nx = p[detect::kNoseTip].x - ex, ny = p[detect::kNoseTip].y - ey;
  const double mx =
      (static_cast<double>(p[detect::kLeftMouth].x) + p[detect::kRightMouth].x) / 2.0 - ex;
  const double my =
      (static_cast<double>(p[detect::kLeftMouth].y) + p[detect::kRightMouth].y) / 2.0 - ey;
  f.nose_u = nx * ux + ny * uy;
  f.nose_v = nx * vx + ny * vy;
  f.mouth_u = mx * ux + my * uy;
  f.mouth_v = mx * vx + my * vy;
  if (!(f.mouth_v > 0.0)) return std::nullopt;
  return f;
}

const FrontalGeometry& frontal() {
  static const FrontalGeometry geometry = [] {
    const auto f = face_frame(align::arcface_112().points);
    return FrontalGeometry{f->nose_v / f->mouth_v, f->mouth_v / f->eye_distance};
  }();
  return geometry;
}

QualityMeasures unmeasured(const QualityOptions& options) {
  QualityMeasures q;
  q.formula = options.formula;
  return q;
}

// 1 at 0, falling like a quarter cosine to 0 at `limit`: flat near frontal so
// that a few degrees of landmark noise cost almost nothing.
double pose_term(double angle_deg, double limit_deg) {
  const double t = std::abs(angle_deg) / limit_deg;
  if (!(t < 1.0)) return 0.0;  // exactly 0 at and beyond the limit (cos would leave 6e-17)
  return std::cos(t * std::numbers::pi / 2.0);
}

bool box_is_valid(const cv::Rect2f& box) {
  return std::isfinite(box.x) && std::isfinite(box.y) && std::isfinite(box.width) &&
         std::isfinite(box.height) && box.width > 0.0f && box.height > 0.0f;
}

bool box_overlaps(const cv::Rect2f& box, const Image& image) {
  const float x0 = std::max(box.x, 0.0f), y0 = std::max(box.y, 0.0f);
  const float x1 = std::min(box.x + box.width, static_cast<float>(image.width()));
  const float y1 = std::min(box.y + box.height, static_cast<float>(image.height()));
  return x1 > x0 && y1 > y0;
}

// The box scaled to kCropSize x kCropSize (no aspect correction: the detectors'
// boxes are about square). Edges replicated like align_face() does for faces cut
// by the border. Box coordinates put pixel i's centre at i + 0.5; warpAffine
// puts it at i, hence the half-pixel terms.
Image box_crop(const Image& image, const cv::Rect2f& box) {
  const double sx = kCropSize / static_cast<double>(box.width);
  const double sy = kCropSize / static_cast<double>(box.height);
  const cv::Matx23d m(sx, 0.0, -sx * box.x + 0.5 * sx - 0.5, 0.0, sy, -sy * box.y + 0.5 * sy - 0.5);
  Image out;
  cv::warpAffine(image.rgb, out.rgb, cv::Mat(m), cv::Size(kCropSize, kCropSize), cv::INTER_LINEAR,
                 cv::BORDER_REPLICATE);
  return out;
}

}  // namespace

float default_high_quality_threshold(Formula formula) {
  return formula == Formula::full ? 0.33f : 0.6f;
}

std::string_view to_string(Formula formula) {
  switch (formula) {
    case Formula::classic:
      return "classic";
    case Formula::full:
      return "full";
  }
  return "unknown";
}

Formula parse_formula(std::string_view name) {
  for (Formula f : {Formula::classic, Formula::full}) {
    if (name == to_string(f)) return f;
  }
  throw UsageError("unknown quality formula '" + std::string(name) +
                   "' (expected 'classic' or 'full')");
}

std::optional<FacePose> estimate_pose(const std::array<cv::Point2f, 5>& landmarks) {
  const auto f = face_frame(landmarks);
  if (!f) return std::nullopt;
  const FrontalGeometry& front = frontal();
  // Weak-perspective model: eyes and mouth corners lie in one plane, the nose
  // tip kNoseDepth * D in front of it (D = true inter-ocular distance).
  //  - Yaw theta moves the nose tip sideways off the eye/mouth midline by
  //    depth * sin(theta) while the eye line shrinks to D * cos(theta); so the
  //    offset over the *measured* eye distance is kNoseDepth * tan(theta).
  //    atan keeps it total: a profile (eyes on top of each other) gives ~90.
  //  - Pitch phi moves the nose tip along the midline by depth * sin(phi) while
  //    the eye-mouth distance V shrinks to V * cos(phi); so the nose's position
  //    between the two lines is ratio0 + (depth / V) * tan(phi), with V / D
  //    taken from the template (the measured V is itself foreshortened).
  const double nose_ratio = f->nose_v / f->mouth_v;
  const double midline_u = f->mouth_u * nose_ratio;  // the eye/mouth midline at the nose's height
  const double yaw = std::atan2(f->nose_u - midline_u, kNoseDepth * f->eye_distance);
  const double pitch =
      std::atan((nose_ratio - front.nose_ratio) * front.mouth_to_eyes / kNoseDepth);
  double roll = degrees(f->roll_rad);
  if (roll <= -180.0) roll += 360.0;
  return FacePose{static_cast<float>(degrees(yaw)), static_cast<float>(degrees(pitch)),
                  static_cast<float>(roll)};
}

float pose_score(const FacePose& pose) {
  // Roll is ignored on purpose: alignment rotates it away before any model
  // sees the face, so it costs nothing.
  if (!std::isfinite(pose.yaw_deg) || !std::isfinite(pose.pitch_deg)) return 0.0f;
  return static_cast<float>(pose_term(pose.yaw_deg, kYawForZeroDeg) *
                            pose_term(pose.pitch_deg, kPitchForZeroDeg));
}

QualityMeasures assess_aligned(const Image& aligned_crop, const detect::Detection& face,
                               const QualityOptions& options) {
  if (aligned_crop.empty() || aligned_crop.rgb.type() != CV_8UC3) return unmeasured(options);
  cv::Mat rgb = aligned_crop.rgb;
  if (rgb.cols != kCropSize || rgb.rows != kCropSize) {
    const bool shrinking = rgb.cols > kCropSize || rgb.rows > kCropSize;
    cv::resize(aligned_crop.rgb, rgb, cv::Size(kCropSize, kCropSize), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  cv::Mat grey;
  cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);

  QualityMeasures q;
  q.measured = true;
  q.formula = options.formula;

  // Laplacian with ksize 1 (OpenCV's default: the 3x3 kernel [0 1 0; 1 -4 1;
  // 0 1 0]), in CV_64F so that negative responses are not clipped. ksize 1
  // responds to the finest detail the 112-pixel crop holds, which is what blur
  // removes first; larger apertures smooth before differentiating.
  cv::Mat laplacian;
  cv::Laplacian(grey, laplacian, CV_64F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(laplacian, mean, stddev);
  q.laplacian_variance = stddev[0] * stddev[0];
  cv::meanStdDev(grey, mean, stddev);
  q.grey_std = stddev[0];

  const double pixels = static_cast<double>(grey.total());
  q.over_exposed_share = cv::countNonZero(grey >= kOverExposedGrey) / pixels;
  q.under_exposed_share = cv::countNonZero(grey <= kUnderExposedGrey) / pixels;

  if (box_is_valid(face.box)) {
    q.face_area_px = static_cast<double>(face.box.width) * static_cast<double>(face.box.height);
  }

  q.sharpness = static_cast<float>(std::min(q.laplacian_variance / kLaplacianVarianceForFull, 1.0));
  q.contrast = static_cast<float>(std::min(q.grey_std / kGreyStdForFull, 1.0));
  q.size = static_cast<float>(std::min(q.face_area_px / kAreaForFull, 1.0));
  q.exposure = static_cast<float>(
      1.0 - std::min(1.0, (q.over_exposed_share + q.under_exposed_share) / kClippedShareForZero));

  if (face.has_landmarks) {
    if (const auto pose = estimate_pose(face.landmarks)) {
      q.has_pose = true;
      q.angles = *pose;
      q.pose = pose_score(*pose);
    }
  }

  const float classic = (q.sharpness + q.contrast + q.size) / 3.0f;
  switch (options.formula) {
    case Formula::classic:
      q.overall = classic;
      break;
    case Formula::full:
      q.overall = classic * q.pose * q.exposure;
      break;
  }
  q.high = q.overall >
           options.high_quality_threshold.value_or(default_high_quality_threshold(options.formula));
  return q;
}

QualityMeasures assess(const Image& image, const detect::Detection& face,
                       const QualityOptions& options) {
  if (image.empty() || image.rgb.type() != CV_8UC3) return unmeasured(options);
  if (!box_is_valid(face.box) || !box_overlaps(face.box, image)) return unmeasured(options);
  std::optional<align::AlignedFace> aligned;
  if (face.has_landmarks) aligned = align::align_face(image, face.landmarks, align::arcface_112());
  return assess_aligned(aligned ? aligned->crop : box_crop(image, face.box), face, options);
}

}  // namespace likeness::quality
