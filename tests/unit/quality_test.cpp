// Face quality measures on synthetic faces: every score against a value it
// must have (analytic images, known landmark geometry), or against a degraded
// copy of the same face that must score lower.
#include "likeness/quality/quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "likeness/align/align.h"
#include "likeness/core/error.h"

namespace likeness::quality {
namespace {

constexpr int kSide = 240;       // synthetic photo, pixels
constexpr float kScale = 2.0f;   // face = ArcFace template at twice its size...
constexpr float kOffset = 8.0f;  // ...shifted by this: aligning it halves it back

std::array<cv::Point2f, 5> template_points() { return align::arcface_112().points; }

// A frontal face in a kSide x kSide photo: block texture (4-pixel blocks, so
// the aligned crop holds 2-pixel detail), dark eyes and mouth at the landmarks.
struct SyntheticFace {
  Image image;
  detect::Detection face;
};

SyntheticFace synthetic_face() {
  cv::Mat blocks(kSide / 4, kSide / 4, CV_8UC1);
  cv::RNG rng(12345);
  rng.fill(blocks, cv::RNG::UNIFORM, 60, 200);
  cv::Mat grey;
  cv::resize(blocks, grey, cv::Size(kSide, kSide), 0, 0, cv::INTER_NEAREST);
  SyntheticFace out;
  out.face.has_landmarks = true;
  out.face.score = 1.0f;
  const auto points = template_points();
  for (std::size_t i = 0; i < 5; ++i) {
    out.face.landmarks[i] = points[i] * kScale + cv::Point2f(kOffset, kOffset);
  }
  for (std::size_t i = 0; i < 2; ++i)
    cv::circle(grey, out.face.landmarks[i], 8, cv::Scalar(30), -1);
  cv::line(grey, out.face.landmarks[3], out.face.landmarks[4], cv::Scalar(40), 5);
  cv::cvtColor(grey, out.image.rgb, cv::COLOR_GRAY2RGB);
  out.face.box = cv::Rect2f(40.0f, 60.0f, 160.0f, 170.0f);
  return out;
}

Image uniform_crop(int grey) {
  return Image{cv::Mat(112, 112, CV_8UC3, cv::Scalar(grey, grey, grey))};
}

detect::Detection box_only(cv::Rect2f box) {
  detect::Detection d;
  d.box = box;
  return d;
}

std::array<cv::Point2f, 5> rotated(const std::array<cv::Point2f, 5>& points, double degrees,
                                   cv::Point2f centre) {
  // x right, y down: a positive angle turns clockwise on screen.
  const double a = degrees * std::numbers::pi / 180.0;
  std::array<cv::Point2f, 5> out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const cv::Point2f d = points[i] - centre;
    out[i] = centre + cv::Point2f(static_cast<float>(std::cos(a) * d.x - std::sin(a) * d.y),
                                  static_cast<float>(std::sin(a) * d.x + std::cos(a) * d.y));
  }
  return out;
}

float eye_distance() {
  const auto p = template_points();
  return static_cast<float>(cv::norm(p[1] - p[0]));
}

TEST(QualityClassic, CheckerboardGivesTheAnalyticValues) {
  // Grey 128 +- 2 in a one-pixel checkerboard: every Laplacian response
  // (ksize 1, 4-neighbour kernel; reflected borders keep the pattern) is
  // -+8*2, so its variance is 256; the grey std is 2. A 3x3-aperture
  // Laplacian would give 0 here (its taps all fall on same-colour pixels).
  cv::Mat grey(112, 112, CV_8UC1);
  for (int y = 0; y < 112; ++y) {
    for (int x = 0; x < 112; ++x) grey.at<std::uint8_t>(y, x) = (x + y) % 2 ? 130 : 126;
  }
  Image crop;
  cv::cvtColor(grey, crop.rgb, cv::COLOR_GRAY2RGB);
  const auto q = assess_aligned(crop, box_only({0, 0, 40, 40}));
  ASSERT_TRUE(q.measured);
  EXPECT_NEAR(q.laplacian_variance, 256.0, 1e-9);
  EXPECT_NEAR(q.grey_std, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(q.face_area_px, 1600.0);
  EXPECT_FLOAT_EQ(q.sharpness, 256.0f / 500.0f);
  EXPECT_FLOAT_EQ(q.contrast, 2.0f / 64.0f);
  EXPECT_FLOAT_EQ(q.size, 1600.0f / 2500.0f);
  EXPECT_FLOAT_EQ(q.exposure, 1.0f);
  EXPECT_FLOAT_EQ(q.overall, (q.sharpness + q.contrast + q.size) / 3.0f);
  EXPECT_FALSE(q.has_pose);
  EXPECT_EQ(q.formula, Formula::classic);
}

TEST(QualitySharpness, BlurLowersSharpness) {
  const auto sharp = synthetic_face();
  SyntheticFace blurred{Image{}, sharp.face};  // new pixels: a cv::Mat copy shares them
  cv::GaussianBlur(sharp.image.rgb, blurred.image.rgb, cv::Size(0, 0), 4.0);
  const auto a = assess(sharp.image, sharp.face);
  const auto b = assess(blurred.image, blurred.face);
  ASSERT_TRUE(a.measured && b.measured);
  EXPECT_GT(a.sharpness, 0.9f) << a.laplacian_variance;
  EXPECT_LT(b.sharpness, 0.3f) << b.laplacian_variance;
  EXPECT_LT(b.laplacian_variance, a.laplacian_variance / 10.0);
  EXPECT_FLOAT_EQ(b.sharpness, static_cast<float>(b.laplacian_variance / 500.0));
  // The other measures do not mistake blur for something else.
  EXPECT_FLOAT_EQ(a.size, b.size);
  EXPECT_FLOAT_EQ(a.pose, b.pose);
}

TEST(QualityContrast, LowContrastLowersContrast) {
  const auto normal = synthetic_face();
  SyntheticFace flat{Image{}, normal.face};
  normal.image.rgb.convertTo(flat.image.rgb, CV_8UC3, 0.2, 128.0 * 0.8);  // 128 + 0.2 (v - 128)
  const auto a = assess(normal.image, normal.face);
  const auto b = assess(flat.image, flat.face);
  ASSERT_TRUE(a.measured && b.measured);
  EXPECT_GT(a.contrast, 0.5f);
  EXPECT_LT(a.contrast, 1.0f);  // not saturated, so the ratio below is meaningful
  EXPECT_NEAR(b.grey_std / a.grey_std, 0.2, 0.02);
  EXPECT_NEAR(b.contrast / a.contrast, 0.2, 0.02);
}

TEST(QualitySize, FollowsTheBoxAreaInImagePixels) {
  const auto big = synthetic_face();
  SyntheticFace tiny = big;
  tiny.face.box = cv::Rect2f(110.0f, 120.0f, 10.0f, 10.0f);
  EXPECT_FLOAT_EQ(assess(big.image, big.face).size, 1.0f);
  const auto q = assess(tiny.image, tiny.face);
  EXPECT_DOUBLE_EQ(q.face_area_px, 100.0);
  EXPECT_FLOAT_EQ(q.size, 100.0f / 2500.0f);
}

TEST(QualityPose, FrontalTemplateIsFrontal) {
  const auto pose = estimate_pose(template_points());
  ASSERT_TRUE(pose.has_value());
  EXPECT_NEAR(pose->yaw_deg, 0.0f, 0.5f);
  EXPECT_NEAR(pose->pitch_deg, 0.0f, 0.5f);
  EXPECT_NEAR(pose->roll_deg, 0.0f, 0.5f);
  EXPECT_GT(pose_score(*pose), 0.999f);
}

TEST(QualityPose, RollFollowsTheRotationAndCostsNothing) {
  auto f = synthetic_face();
  const cv::Point2f centre(120.0f, 130.0f);
  for (double angle : {30.0, -30.0}) {
    f.face.landmarks = rotated(synthetic_face().face.landmarks, angle, centre);
    const auto q = assess(f.image, f.face);
    ASSERT_TRUE(q.has_pose);
    EXPECT_NEAR(q.angles.roll_deg, angle, 1.0);
    EXPECT_NEAR(q.angles.yaw_deg, 0.0, 0.5);
    EXPECT_NEAR(q.angles.pitch_deg, 0.0, 0.5);
    EXPECT_GT(q.pose, 0.999f);
  }
}

TEST(QualityPose, NoseShiftedSidewaysGivesYaw) {
  const float d = eye_distance();
  auto pose_with_nose_shift = [&](float share_of_d) {
    auto p = template_points();
    p[detect::kNoseTip].x += share_of_d * d;
    return estimate_pose(p).value();
  };
  // Documented model: offset / eye distance = 0.5 * tan(yaw).
  const FacePose right = pose_with_nose_shift(0.2f);
  EXPECT_NEAR(right.yaw_deg, std::atan(0.2 / 0.5) * 180.0 / std::numbers::pi, 0.5);
  EXPECT_NEAR(right.pitch_deg, 0.0f, 0.5f);
  EXPECT_NEAR(pose_with_nose_shift(-0.2f).yaw_deg, -right.yaw_deg, 0.5);
  const FacePose further = pose_with_nose_shift(0.4f);
  EXPECT_GT(further.yaw_deg, right.yaw_deg + 10.0f);
  // Score: 1 frontal, cos-like fall, 0 from 60 degrees.
  EXPECT_NEAR(pose_score(right), std::cos(right.yaw_deg / 60.0 * std::numbers::pi / 2.0), 1e-3);
  EXPECT_LT(pose_score(right), 0.9f);
  EXPECT_LT(pose_score(further), pose_score(right) - 0.1f);
  EXPECT_FLOAT_EQ(pose_score(pose_with_nose_shift(1.0f)), 0.0f);  // atan(2) = 63 degrees
  // Through assess(): the pose score is part of the result.
  auto f = synthetic_face();
  f.face.landmarks[detect::kNoseTip].x += 0.4f * d * kScale;
  const auto q = assess(f.image, f.face);
  EXPECT_NEAR(q.angles.yaw_deg, further.yaw_deg, 0.5);
  EXPECT_NEAR(q.pose, pose_score(further), 1e-3);
}

TEST(QualityPose, NoseLowerOrHigherGivesPitch) {
  const auto t = template_points();
  const float eyes_to_mouth = (t[3].y + t[4].y - t[0].y - t[1].y) / 2.0f;
  auto pose_with_nose_drop = [&](float share) {
    auto p = t;
    p[detect::kNoseTip].y += share * eyes_to_mouth;
    return estimate_pose(p).value();
  };
  // Documented model: ratio change * (eyes-mouth / eye distance) / 0.5 = tan(pitch).
  const FacePose down = pose_with_nose_drop(0.2f);
  const double expected = std::atan(0.2 * eyes_to_mouth / eye_distance() / 0.5);
  EXPECT_NEAR(down.pitch_deg, expected * 180.0 / std::numbers::pi, 0.5);
  EXPECT_NEAR(down.yaw_deg, 0.0f, 0.5f);
  EXPECT_NEAR(pose_with_nose_drop(-0.2f).pitch_deg, -down.pitch_deg, 0.5);
  EXPECT_NEAR(pose_score(down), std::cos(down.pitch_deg / 45.0 * std::numbers::pi / 2.0), 1e-3);
  EXPECT_FLOAT_EQ(pose_score(pose_with_nose_drop(0.45f)), 0.0f);  // beyond 45 degrees
}

TEST(QualityPose, DegenerateLandmarksGiveNoPose) {
  std::array<cv::Point2f, 5> same;
  same.fill({10, 10});
  EXPECT_FALSE(estimate_pose(same).has_value());
  auto upside = template_points();  // mouth above the eyes while the eyes are in order
  for (auto& p : upside) p.y = 112.0f - p.y;
  EXPECT_FALSE(estimate_pose(upside).has_value());
  auto nan = template_points();
  nan[2].x = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(estimate_pose(nan).has_value());
  // A face turned upside down (rotated 180 degrees) is still a face.
  const auto flipped = rotated(template_points(), 180.0, {56, 72});
  ASSERT_TRUE(estimate_pose(flipped).has_value());
  EXPECT_NEAR(std::abs(estimate_pose(flipped)->roll_deg), 180.0f, 0.5f);
  EXPECT_GT(pose_score(*estimate_pose(flipped)), 0.999f);
}

TEST(QualityExposure, ClippedPixelsLowerExposure) {
  const auto white = assess_aligned(uniform_crop(255), box_only({0, 0, 100, 100}));
  EXPECT_DOUBLE_EQ(white.over_exposed_share, 1.0);
  EXPECT_DOUBLE_EQ(white.under_exposed_share, 0.0);
  EXPECT_FLOAT_EQ(white.exposure, 0.0f);
  const auto black = assess_aligned(uniform_crop(0), box_only({0, 0, 100, 100}));
  EXPECT_DOUBLE_EQ(black.under_exposed_share, 1.0);
  EXPECT_FLOAT_EQ(black.exposure, 0.0f);
  EXPECT_FLOAT_EQ(assess_aligned(uniform_crop(128), box_only({0, 0, 1, 1})).exposure, 1.0f);
  // One eighth of the crop at 250 (the threshold itself counts): 1 - 0.125 / 0.25.
  Image partly = uniform_crop(128);
  partly.rgb.rowRange(0, 14).setTo(cv::Scalar(250, 250, 250));
  const auto q = assess_aligned(partly, box_only({0, 0, 1, 1}));
  EXPECT_DOUBLE_EQ(q.over_exposed_share, 0.125);
  EXPECT_FLOAT_EQ(q.exposure, 0.5f);
  // Through assess() on a white photo.
  const Image photo{cv::Mat(200, 200, CV_8UC3, cv::Scalar(255, 255, 255))};
  const auto w = assess(photo, synthetic_face().face);
  EXPECT_NEAR(w.over_exposed_share, 1.0, 1e-9);
  EXPECT_FLOAT_EQ(w.exposure, 0.0f);
}

TEST(QualityOverall, HighFollowsTheThresholdStrictly) {
  const auto good = synthetic_face();
  SyntheticFace poor{Image{}, good.face};
  cv::GaussianBlur(good.image.rgb, poor.image.rgb, cv::Size(0, 0), 4.0);
  poor.face.box = cv::Rect2f(100.0f, 100.0f, 30.0f, 30.0f);
  const auto a = assess(good.image, good.face);
  const auto b = assess(poor.image, poor.face);
  for (const auto& q : {a, b}) {
    EXPECT_FLOAT_EQ(q.overall, (q.sharpness + q.contrast + q.size) / 3.0f);
  }
  ASSERT_GT(a.overall, 0.6f);
  ASSERT_LT(b.overall, 0.6f);
  EXPECT_TRUE(a.high);
  EXPECT_FALSE(b.high);
  // Exactly at the threshold is not high; just below it is.
  QualityOptions at;
  at.high_quality_threshold = a.overall;
  EXPECT_FALSE(assess(good.image, good.face, at).high);
  at.high_quality_threshold = std::nextafter(a.overall, 0.0f);
  EXPECT_TRUE(assess(good.image, good.face, at).high);
}

TEST(QualityOverall, FullMultipliesByPoseAndExposure) {
  auto f = synthetic_face();
  f.face.landmarks[detect::kNoseTip].x += 0.3f * eye_distance() * kScale;  // about 31 degrees
  f.image.rgb.rowRange(0, 40).setTo(cv::Scalar(255, 255, 255));            // clip part of the face
  const QualityOptions full{Formula::full, 0.6f};
  const auto c = assess(f.image, f.face);
  const auto q = assess(f.image, f.face, full);
  ASSERT_TRUE(q.has_pose);
  EXPECT_EQ(q.formula, Formula::full);
  EXPECT_GT(q.pose, 0.3f);
  EXPECT_LT(q.pose, 0.9f);
  EXPECT_GT(q.exposure, 0.0f);
  EXPECT_LT(q.exposure, 1.0f);
  EXPECT_FLOAT_EQ(c.overall, (c.sharpness + c.contrast + c.size) / 3.0f);
  EXPECT_FLOAT_EQ(q.overall, c.overall * q.pose * q.exposure);
  EXPECT_EQ(q.high, q.overall > 0.33f) << q.overall;  // full's own threshold
  EXPECT_EQ(default_high_quality_threshold(Formula::full), 0.33f);
  EXPECT_EQ(default_high_quality_threshold(Formula::classic), 0.6f);
  // Without landmarks the crop is the box, classic still works, full is 0.
  f.face.has_landmarks = false;
  const auto boxed = assess(f.image, f.face);
  EXPECT_TRUE(boxed.measured);
  EXPECT_FALSE(boxed.has_pose);
  EXPECT_GT(boxed.overall, 0.5f);
  EXPECT_FLOAT_EQ(assess(f.image, f.face, full).overall, 0.0f);
}

// "high" under full uses full's own threshold (0.33, the LFW-equivalent of
// classic's 0.6): a face scoring between the two is high under full.
TEST(QualityOverall, FullHasItsOwnHighThreshold) {
  const auto good = synthetic_face();
  const QualityOptions full{.formula = Formula::full};
  bool found = false;
  for (double sigma = 0.5; sigma < 6.0 && !found; sigma += 0.25) {
    Image blurred;
    cv::GaussianBlur(good.image.rgb, blurred.rgb, cv::Size(0, 0), sigma);
    const auto q = assess(blurred, good.face, full);
    if (q.overall <= 0.35f || q.overall >= 0.58f) continue;
    found = true;
    EXPECT_TRUE(q.high) << q.overall;
    QualityOptions classic_rule = full;
    classic_rule.high_quality_threshold = 0.6f;
    EXPECT_FALSE(assess(blurred, good.face, classic_rule).high) << q.overall;
  }
  EXPECT_TRUE(found) << "no blur put the synthetic face between 0.35 and 0.58";
}

TEST(QualityOverall, AssessAlignedMatchesAssess) {
  const auto f = synthetic_face();
  const auto aligned = align::align_face(f.image, f.face.landmarks, align::arcface_112());
  ASSERT_TRUE(aligned.has_value());
  const auto a = assess(f.image, f.face, {Formula::full, 0.6f});
  const auto b = assess_aligned(aligned->crop, f.face, {Formula::full, 0.6f});
  EXPECT_EQ(a.laplacian_variance, b.laplacian_variance);
  EXPECT_EQ(a.grey_std, b.grey_std);
  EXPECT_EQ(a.overall, b.overall);
  EXPECT_EQ(a.pose, b.pose);
  // A bigger crop is brought to 112 first: same scale, about the same values.
  const auto big = align::align_face(f.image, f.face.landmarks,
                                     align::scaled_template(align::arcface_112(), 224, 1.0f));
  const auto c = assess_aligned(big->crop, f.face);
  EXPECT_NEAR(c.grey_std, a.grey_std, 0.1 * a.grey_std);
}

TEST(QualityTotal, EmptyImageAndDegenerateBoxesGiveZeros) {
  const auto f = synthetic_face();
  auto expect_unmeasured = [](const QualityMeasures& q) {
    EXPECT_FALSE(q.measured);
    EXPECT_FLOAT_EQ(q.overall, 0.0f);
    EXPECT_FLOAT_EQ(q.sharpness, 0.0f);
    EXPECT_FLOAT_EQ(q.size, 0.0f);
    EXPECT_FALSE(q.high);
    EXPECT_FALSE(q.has_pose);
  };
  EXPECT_NO_THROW(expect_unmeasured(assess(Image{}, f.face)));
  EXPECT_NO_THROW(expect_unmeasured(assess_aligned(Image{}, f.face)));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const cv::Rect2f box :
       {cv::Rect2f(50, 50, 0, 0), cv::Rect2f(50, 50, -10, 20), cv::Rect2f(nan, 50, 20, 20),
        cv::Rect2f(1000, 1000, 50, 50), cv::Rect2f(-80, 10, 60, 60)}) {
    for (bool landmarks : {true, false}) {
      auto face = f.face;
      face.box = box;
      face.has_landmarks = landmarks;
      EXPECT_NO_THROW(expect_unmeasured(assess(f.image, face))) << box << landmarks;
    }
  }
  // A box partly outside the image (a face cut by the border) is measured.
  const auto cut = assess(f.image, box_only({-50, -50, 100, 100}));
  EXPECT_TRUE(cut.measured);
  EXPECT_DOUBLE_EQ(cut.face_area_px, 10000.0);
  // Degenerate landmarks fall back to the box crop; a degenerate box in
  // assess_aligned only zeroes the size.
  auto collapsed = f.face;
  collapsed.landmarks.fill({100, 100});
  const auto q = assess(f.image, collapsed);
  EXPECT_TRUE(q.measured);
  EXPECT_FALSE(q.has_pose);
  EXPECT_GT(q.sharpness, 0.5f);
  const auto zero_box = assess_aligned(uniform_crop(128), box_only({0, 0, 0, 0}));
  EXPECT_TRUE(zero_box.measured);
  EXPECT_FLOAT_EQ(zero_box.size, 0.0f);
  // A crop of the wrong type is nothing to measure, not a crash.
  EXPECT_NO_THROW(expect_unmeasured(assess_aligned(Image{cv::Mat(112, 112, CV_8UC1)}, f.face)));
}

TEST(QualityFormula, NamesRoundTrip) {
  for (Formula f : {Formula::classic, Formula::full}) EXPECT_EQ(parse_formula(to_string(f)), f);
  EXPECT_EQ(to_string(Formula::classic), "classic");
  EXPECT_EQ(to_string(Formula::full), "full");
  EXPECT_THROW(parse_formula("Full"), UsageError);
  EXPECT_THROW(parse_formula(""), UsageError);
}

}  // namespace
}  // namespace likeness::quality
