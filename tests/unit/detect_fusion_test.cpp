// Fusion of several detectors' lists, and non-maximum suppression, on plain
// lists (no models needed).
#include <gtest/gtest.h>

#include "likeness/detect/detector.h"

namespace likeness::detect {
namespace {

Detection box(float x, float y, float w, float h, float score) {
  Detection d;
  d.box = {x, y, w, h};
  d.score = score;
  return d;
}

TEST(DetectFusion, KeepsAFaceThatOnlyOneStrongBackendFound) {
  // Face A is seen by both strong backends, face B only by ultraface.
  const std::vector<BackendDetections> lists = {
      {"ultraface", 1.0f, {box(10, 10, 50, 50, 0.99f), box(200, 40, 40, 40, 0.95f)}},
      {"blazeface", 1.0f, {box(12, 11, 48, 50, 0.90f)}},
  };
  const auto fused = fuse_detections(lists);
  ASSERT_EQ(fused.size(), 2u);
  const auto& b = fused[0].box.x > 100 ? fused[0] : fused[1];
  EXPECT_NEAR(b.box.x, 200.0f, 1e-3);
  EXPECT_EQ(b.backends, std::vector<std::string>{"ultraface"});
  const auto& a = fused[0].box.x > 100 ? fused[1] : fused[0];
  EXPECT_EQ(a.backends.size(), 2u);
  // The fused box lies between the members.
  EXPECT_GT(a.box.x, 10.0f);
  EXPECT_LT(a.box.x, 12.0f);
  // Noisy-OR score: above each member's.
  EXPECT_GT(a.score, 0.99f);
  EXPECT_LE(a.score, 1.0f);
}

TEST(DetectFusion, DropsABoxSeenOnlyByAWeakBackend) {
  const std::vector<BackendDetections> lists = {
      {"ultraface", 1.0f, {box(10, 10, 50, 50, 0.99f)}},
      {"opencv", 0.3f, {box(11, 10, 50, 50, 0.9f), box(300, 300, 30, 30, 0.95f)}},
  };
  const auto fused = fuse_detections(lists);
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_LT(fused[0].box.x, 20.0f);
  EXPECT_EQ(fused[0].backends.size(), 2u);
}

TEST(DetectFusion, TwoWeakBackendsTogetherAreEnough) {
  const std::vector<BackendDetections> lists = {
      {"dlib-hog", 0.6f, {box(10, 10, 50, 50, 0.8f)}},
      {"opencv", 0.6f, {box(12, 10, 50, 50, 0.9f)}},
  };
  EXPECT_EQ(fuse_detections(lists).size(), 1u);
}

TEST(DetectFusion, AnUnsureStrongBackendAloneIsNotEnough) {
  const std::vector<BackendDetections> lists = {
      {"ultraface", 1.0f, {box(10, 10, 50, 50, 0.75f)}},
      {"blazeface", 1.0f, {}},
  };
  EXPECT_TRUE(fuse_detections(lists).empty());
}

TEST(DetectFusion, EachBackendVotesOncePerFace) {
  // Two overlapping boxes from one backend stay two clusters (NMS is the
  // backend's job); they must not add up to a vote of 2.
  const std::vector<BackendDetections> lists = {
      {"opencv", 0.5f, {box(10, 10, 50, 50, 1.0f), box(12, 10, 50, 50, 1.0f)}},
  };
  EXPECT_TRUE(fuse_detections(lists).empty());
}

TEST(DetectFusion, KeepsLandmarksOfTheStrongestMember) {
  Detection with = box(10, 10, 50, 50, 0.9f);
  with.has_landmarks = true;
  with.landmarks[kNoseTip] = {35, 40};
  const std::vector<BackendDetections> lists = {
      {"blazeface", 1.0f, {with}},
      {"opencv", 0.3f, {box(10, 10, 50, 50, 0.9f)}},
  };
  const auto fused = fuse_detections(lists);
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_TRUE(fused[0].has_landmarks);
  EXPECT_FLOAT_EQ(fused[0].landmarks[kNoseTip].x, 35.0f);
}

TEST(DetectNms, KeepsTheBestOfOverlappingBoxesAndDropsParts) {
  std::vector<Detection> in = {box(0, 0, 100, 100, 0.8f), box(5, 5, 100, 100, 0.9f),
                               box(30, 30, 30, 30, 0.95f),  // a part inside the face
                               box(300, 0, 50, 50, 0.5f)};
  const auto out = non_max_suppression(in, 0.35f);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].box.x, 5.0f);
  EXPECT_FLOAT_EQ(out[1].box.x, 300.0f);
}

// UltraFace's candidates: a small face inside an unsure big box must survive
// until its closer look.
TEST(DetectNms, KeepsPartsWhenAskedTo) {
  std::vector<Detection> in = {box(0, 0, 100, 100, 0.2f), box(30, 30, 30, 30, 0.18f),
                               box(2, 2, 100, 100, 0.15f)};
  const auto out = non_max_suppression(in, 0.35f, /*drop_parts=*/false);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].box.x, 0.0f);
  EXPECT_FLOAT_EQ(out[1].box.x, 30.0f);
  EXPECT_EQ(non_max_suppression(in, 0.35f).size(), 1u);
}

TEST(DetectNms, IouOfBoxes) {
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0f);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {20, 0, 10, 10}), 0.0f);
  EXPECT_NEAR(box_iou({0, 0, 10, 10}, {5, 0, 10, 10}), 50.0f / 150.0f, 1e-6);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0f);
}

}  // namespace
}  // namespace likeness::detect
