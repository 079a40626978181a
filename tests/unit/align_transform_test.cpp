// Alignment: the least-squares similarity transform, templates, and a real LFW
// face rotated by 30 degrees (known landmarks rotated with it) aligning to the
// same crop as the upright face.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <opencv2/imgproc.hpp>

#include "likeness/align/align.h"
#include "likeness/align/landmarks.h"
#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "support/test_env.h"

namespace likeness::align {
namespace {

std::array<cv::Point2f, 5> apply(const cv::Matx23d& m, const std::array<cv::Point2f, 5>& points) {
  std::array<cv::Point2f, 5> out;
  for (std::size_t i = 0; i < points.size(); ++i) out[i] = transform_point(m, points[i]);
  return out;
}

TEST(SimilarityTransform, RecoversAKnownSimilarityExactly) {
  const double angle = 0.4, scale = 1.7;
  const cv::Matx23d truth(scale * std::cos(angle), -scale * std::sin(angle), 12.5,
                          scale * std::sin(angle), scale * std::cos(angle), -3.25);
  const auto from = arcface_112().points;
  const auto to = apply(truth, from);
  const auto m = similarity_transform(from, to);
  ASSERT_TRUE(m.has_value());
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR((*m)(r, c), truth(r, c), 1e-4) << r << "," << c;
  }
}

TEST(SimilarityTransform, IsTheLeastSquaresFitForNoisyPoints) {
  // Moving any parameter away from the fit must not lower the squared error.
  const auto to = arcface_112().points;
  std::array<cv::Point2f, 5> from = to;
  const float noise[5][2] = {{1, -2}, {-1.5f, 0.5f}, {0.3f, 1}, {2, 1}, {-1, -0.5f}};
  for (std::size_t i = 0; i < 5; ++i) from[i] += cv::Point2f(noise[i][0], noise[i][1]);
  const auto m = similarity_transform(from, to);
  ASSERT_TRUE(m.has_value());
  auto error = [&](const cv::Matx23d& t) {  // in double: float rounding would hide the steps
    double e = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      const double x = from[i].x, y = from[i].y;
      const double dx = t(0, 0) * x + t(0, 1) * y + t(0, 2) - to[i].x;
      const double dy = t(1, 0) * x + t(1, 1) * y + t(1, 2) - to[i].y;
      e += dx * dx + dy * dy;
    }
    return e;
  };
  const double best = error(*m);
  for (int k = 0; k < 4; ++k) {
    for (double step : {-1e-3, 1e-3}) {
      cv::Matx23d t = *m;
      // a, b, tx, ty of [a -b tx; b a ty]
      if (k == 0) t(0, 0) += step, t(1, 1) += step;
      if (k == 1) t(1, 0) += step, t(0, 1) -= step;
      if (k == 2) t(0, 2) += step;
      if (k == 3) t(1, 2) += step;
      EXPECT_GE(error(t), best - 1e-9);
    }
  }
}

TEST(SimilarityTransform, DegenerateInputIsEmpty) {
  std::array<cv::Point2f, 5> same;
  same.fill({10, 10});
  EXPECT_FALSE(similarity_transform(same, arcface_112().points).has_value());
  EXPECT_FALSE(similarity_transform(std::span<const cv::Point2f>(same.data(), 1),
                                    std::span<const cv::Point2f>(same.data(), 1))
                   .has_value());
  EXPECT_FALSE(align_face(Image{}, arcface_112().points, arcface_112()).has_value());
}

TEST(FaceTemplate, ScalesAndZoomsAboutTheCentre) {
  const auto t = scaled_template(arcface_112(), 224, 0.8f);
  EXPECT_EQ(t.size, 224);
  const auto a = arcface_112().points[0];
  EXPECT_NEAR(t.points[0].x, 112 + (a.x * 2 - 112) * 0.8f, 1e-4);
  EXPECT_NEAR(t.points[0].y, 112 + (a.y * 2 - 112) * 0.8f, 1e-4);
  EXPECT_THROW(scaled_template(arcface_112(), 0, 1.0f), UsageError);
  EXPECT_THROW(scaled_template(arcface_112(), 112, 0.0f), UsageError);
}

TEST(AlignFace, RotatedLfwFaceAlignsLikeTheUprightOne) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  if (store.check("dlib_landmarks_68").status != infer::ModelStatus::ok ||
      store.check("ultraface_rfb320").status != infer::ModelStatus::ok) {
    GTEST_SKIP() << "detection models not installed (scripts/setup.sh models)";
  }
  const auto file = ::likeness::testing::datasets_dir() / "lfw" / "images" / "Aaron_Peirsol" /
                    "Aaron_Peirsol_0001.jpg";
  const auto decoded = io::decode_image_file(file);
  ASSERT_TRUE(decoded.ok()) << decoded.message;
  const Image& upright = decoded.value->image;
  const auto detector = detect::Detector::create("default", store, {});
  const auto found = detector->detect(upright);
  ASSERT_FALSE(found.faces.empty());
  ASSERT_TRUE(found.faces[0].has_landmarks);
  const auto landmarks = found.faces[0].landmarks;

  // Rotate the photo by 30 degrees about its centre, on a canvas big enough
  // to keep every pixel, and the landmarks with it.
  const cv::Point2f centre(static_cast<float>(upright.width()) / 2.0f,
                           static_cast<float>(upright.height()) / 2.0f);
  cv::Mat r = cv::getRotationMatrix2D(centre, 30.0, 1.0);
  const int side = 220;
  r.at<double>(0, 2) += (side - upright.width()) / 2.0;
  r.at<double>(1, 2) += (side - upright.height()) / 2.0;
  Image rotated;
  cv::warpAffine(upright.rgb, rotated.rgb, r, cv::Size(side, side), cv::INTER_LINEAR,
                 cv::BORDER_REPLICATE);
  const cv::Matx23d rm(r);
  const auto rotated_landmarks = apply(rm, landmarks);

  const FaceTemplate tmpl = arcface_112();
  const auto a = align_face(upright, landmarks, tmpl);
  const auto b = align_face(rotated, rotated_landmarks, tmpl);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(b->crop.rgb.size(), cv::Size(112, 112));
  const auto landed = apply(b->transform, rotated_landmarks);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_LT(cv::norm(landed[i] - tmpl.points[i]), 5.0) << "point " << i;
    // Same place as the upright face's aligned landmark.
    EXPECT_LT(cv::norm(landed[i] - transform_point(a->transform, landmarks[i])), 0.05);
  }
  // The two crops show the same pixels (up to one extra bilinear resampling).
  cv::Mat diff;
  cv::absdiff(a->crop.rgb, b->crop.rgb, diff);
  const cv::Scalar mean = cv::mean(diff);
  EXPECT_LT((mean[0] + mean[1] + mean[2]) / 3.0, 6.0);
}

}  // namespace
}  // namespace likeness::align
