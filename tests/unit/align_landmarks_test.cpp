#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "likeness/align/landmarks.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "support/test_env.h"

namespace likeness::align {
namespace {

// The first LFW photo of a person.
Image lfw_first_photo(const std::string& person) {
  const auto path =
      likeness::testing::datasets_dir() / "lfw" / "images" / person / (person + "_0001.jpg");
  auto decoded = io::decode_image_file(path);
  EXPECT_TRUE(decoded.ok()) << decoded.message;
  return decoded.ok() ? decoded.value->image : Image{};
}

// Mean distance between corresponding points, in units of the reference's
// eye distance, so that a bound does not depend on face size.
double point_error(const std::array<cv::Point2f, 5>& points,
                   const std::array<cv::Point2f, 5>& reference) {
  double error = 0;
  for (int i = 0; i < 5; ++i) error += cv::norm(points[i] - reference[i]) / 5.0;
  return error / cv::norm(reference[0] - reference[1]);
}

// The 68-point model's trees were trained from dlib HOG boxes. Started from a
// box placed differently (another detector's convention, or a detector that
// is off on this face), its points drift; the model therefore re-fits its
// box to its own first answer and runs again. Here: the HOG box shifted by
// 12% of its side and enlarged 15% must give nearly the HOG box's points.
TEST(LandmarkModel, PointsDoNotDependMuchOnWhereTheBoxStarts) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  const auto model = LandmarkModel::create("dlib68", store);
  const auto hog = detect::Detector::create("dlib-hog", store, {.landmarks = false});
  const char* people[] = {
      "Aaron_Eckhart", "Colin_Powell",      "George_W_Bush", "Gloria_Macapagal_Arroyo",
      "Hugo_Chavez",   "Jennifer_Capriati", "Laura_Bush",    "Serena_Williams",
      "Tony_Blair",    "Vladimir_Putin"};
  double total_error = 0;
  double worst_error = 0;
  int faces = 0;
  for (const char* person : people) {
    const Image image = lfw_first_photo(person);
    ASSERT_FALSE(image.empty()) << person;
    const auto found = hog->detect(image);
    if (found.faces.empty()) continue;
    const cv::Rect2f box = found.faces[0].box;
    const auto reference = model->five_points(image, box);
    const cv::Rect2f moved(box.x + 0.12f * box.width, box.y - 0.12f * box.height, box.width * 1.15f,
                           box.height * 1.15f);
    const double error = point_error(model->five_points(image, moved), reference);
    total_error += error;
    worst_error = std::max(worst_error, error);
    ++faces;
  }
  ASSERT_GE(faces, 8);
  const double mean_error = total_error / faces;
  std::cout << "[          ] mean point error " << mean_error << ", worst " << worst_error
            << " (eye distances)\n";
  // Measured: 0.008 with the re-fit, 0.226 without it.
  EXPECT_LT(mean_error, 0.05);
}

// FacePlugin's 64-px CNN, the default landmark model: on LFW faces found by
// the default detector its five points must agree with dlib's 68-point
// cascade (an independent model) to a small fraction of the eye distance,
// and lie where a face's points lie (eyes above nose above mouth, inside the
// box). Decoding bugs (x/y swapped, box vs crop, wrong scaling) give errors
// of a whole eye distance or more.
TEST(LandmarkModel, FacePluginAgreesWithDlibOnLfw) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  const auto faceplugin = LandmarkModel::create("faceplugin68", store);
  const auto dlib = LandmarkModel::create("dlib68", store);
  const auto detector = detect::Detector::create("ultraface", store, {.landmarks = false});
  const char* people[] = {"Aaron_Eckhart", "Colin_Powell", "George_W_Bush",  "Hugo_Chavez",
                          "Laura_Bush",    "Tony_Blair",   "Vladimir_Putin", "Serena_Williams"};
  double total_error = 0;
  int faces = 0;
  for (const char* person : people) {
    const Image image = lfw_first_photo(person);
    ASSERT_FALSE(image.empty()) << person;
    const auto found = detector->detect(image);
    ASSERT_FALSE(found.faces.empty()) << person;
    const cv::Rect2f box = found.faces[0].box;
    const auto ours = faceplugin->five_points(image, box);
    const auto theirs = dlib->five_points(image, box);
    EXPECT_EQ(faceplugin->points(image, box).size(), 68u) << person;
    EXPECT_LT(ours[0].x, ours[1].x) << person;
    EXPECT_LT(std::max(ours[0].y, ours[1].y), ours[2].y) << person;
    EXPECT_LT(ours[2].y, std::min(ours[3].y, ours[4].y)) << person;
    for (const auto& p : ours) EXPECT_TRUE(box.contains(p)) << person;
    total_error += point_error(ours, theirs);
    ++faces;
  }
  const double mean_error = total_error / faces;
  std::cout << "[          ] mean distance to dlib68 " << mean_error << " eye distances\n";
  EXPECT_LT(mean_error, 0.1);
}

}  // namespace
}  // namespace likeness::align
