// The product's recognizer: every member model of the shipped calibration,
// quality-adaptive fusion. Needs the models (scripts/setup.sh models) and LFW.
#include "likeness/match/recognizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "likeness/core/error.h"
#include "likeness/io/image.h"
#include "likeness/match/embedded_calibration.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::match {
namespace {

namespace fs = std::filesystem;

bool models_installed(const infer::ModelStore& store) {
  for (const auto& m : embedded_calibration().members()) {
    if (store.check(m.model).status != infer::ModelStatus::ok) return false;
  }
  return store.check("ultraface_rfb320").status == infer::ModelStatus::ok &&
         store.check("faceplugin_landmark_68").status == infer::ModelStatus::ok;
}

fs::path lfw_image(const std::string& name, int index) {
  char file[16];
  std::snprintf(file, sizeof file, "_%04d.jpg", index);
  return testing::datasets_dir() / "lfw" / "images" / name / (name + file);
}

FaceDescription describe(const Recognizer& recognizer, const detect::Detector& detector,
                         const fs::path& path) {
  const auto decoded = io::decode_image_file(path);
  EXPECT_TRUE(decoded.ok()) << decoded.message;
  if (!decoded.ok()) return {};
  const auto found = detector.detect(decoded.value->image);
  EXPECT_FALSE(found.faces.empty()) << path;
  if (found.faces.empty()) return {};
  // LFW centres its face: the detection nearest the centre.
  const auto& image = decoded.value->image;
  const cv::Point2f centre(static_cast<float>(image.width()) / 2,
                           static_cast<float>(image.height()) / 2);
  const detect::Detection* best = &found.faces.front();
  for (const auto& d : found.faces) {
    const auto c = (d.box.tl() + d.box.br()) * 0.5f;
    const auto b = (best->box.tl() + best->box.br()) * 0.5f;
    if (cv::norm(c - centre) < cv::norm(b - centre)) best = &d;
  }
  return recognizer.describe(image, *best);
}

struct LfwPair {
  fs::path a, b;
  bool same = false;
};

// pairs.txt fold 4 (0-based 3): its first `per_kind` same-person and
// different-people pairs.
std::vector<LfwPair> fold_pairs(int per_kind) {
  std::ifstream in(testing::datasets_dir() / "lfw" / "pairs.txt");
  int folds = 0, per = 0;
  in >> folds >> per;
  std::string line;
  std::getline(in, line);
  std::vector<LfwPair> out;
  for (int i = 0; i < folds * 2 * per && std::getline(in, line); ++i) {
    if (i / (2 * per) != 3) continue;
    const bool same = (i % (2 * per)) < per;
    if ((i % (2 * per)) % per >= per_kind) continue;
    std::istringstream s(line);
    std::string n1, n2;
    int i1 = 0, i2 = 0;
    if (same) {
      s >> n1 >> i1 >> i2;
      out.push_back({lfw_image(n1, i1), lfw_image(n1, i2), true});
    } else {
      s >> n1 >> i1 >> n2 >> i2;
      out.push_back({lfw_image(n1, i1), lfw_image(n2, i2), false});
    }
  }
  return out;
}

// Regression: the ensemble's decisions on 40 fixed LFW pairs (fold 4's first
// 20 same-person and 20 different-people pairs) are all right; the shipped
// calibration made them so when it was learned (docs/benchmarks.md).
TEST(Recognizer, EnsembleDecidesFixedLfwPairs) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  if (!models_installed(store)) GTEST_SKIP() << "models not installed (scripts/setup.sh models)";
  const auto detector = detect::Detector::create("default", store, {});
  const auto recognizer = Recognizer::create(store, {});
  EXPECT_TRUE(recognizer->skipped().empty());
  const auto pairs = fold_pairs(20);
  ASSERT_EQ(pairs.size(), 40u);
  int right = 0;
  for (const auto& p : pairs) {
    const auto a = describe(*recognizer, *detector, p.a);
    const auto b = describe(*recognizer, *detector, p.b);
    const Comparison c = recognizer->compare(a, b);
    ASSERT_TRUE(c.decided) << p.a << " " << p.b;
    EXPECT_GE(c.probability, 0.0);
    EXPECT_LE(c.probability, 1.0);
    EXPECT_EQ(c.members.size(), recognizer->members().size());
    EXPECT_EQ(c.same_person, p.same) << p.a << " vs " << p.b << ": probability " << c.probability
                                     << " (threshold " << c.threshold << ")";
    right += c.same_person == p.same;
  }
  EXPECT_EQ(right, 40);
}

// A model that is missing is skipped with a reason, and the ensemble still
// decides from the others (renormalised), here by hiding dlib's network.
TEST(Recognizer, HiddenModelIsSkippedAndTheRestDecide) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto installed = infer::ModelStore::open();
  if (!models_installed(installed)) GTEST_SKIP() << "models not installed";
  const testing::TempDir temp("hidden_model");
  const fs::path& dir = temp.path();
  const std::string hidden = installed.spec("dlib_resnet").file;
  for (const auto& entry : fs::directory_iterator(installed.directory())) {
    if (entry.path().filename() == hidden) continue;
    fs::create_symlink(entry.path(), dir / entry.path().filename());
  }
  const auto store = infer::ModelStore::open({.models_dir = dir});
  const auto detector = detect::Detector::create("default", store, {});
  const auto recognizer = Recognizer::create(store, {});
  ASSERT_EQ(recognizer->skipped().size(), 1u);
  EXPECT_NE(recognizer->skipped().front().find("dlib_resnet"), std::string::npos);
  const auto same_a = describe(*recognizer, *detector, lfw_image("Akhmed_Zakayev", 1));
  const auto same_b = describe(*recognizer, *detector, lfw_image("Akhmed_Zakayev", 3));
  const auto other = describe(*recognizer, *detector, lfw_image("Dean_Barker", 1));
  const auto index = recognizer->calibration().member_index("dlib_resnet");
  ASSERT_TRUE(index);
  EXPECT_TRUE(same_a.member_vectors[*index].empty());
  const Comparison same = recognizer->compare(same_a, same_b);
  const Comparison different = recognizer->compare(same_a, other);
  EXPECT_TRUE(same.decided && same.same_person) << same.probability;
  EXPECT_TRUE(different.decided && !different.same_person) << different.probability;
}

// One model alone decides by its own calibration.
TEST(Recognizer, SingleModelUsesItsOwnThreshold) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  if (!models_installed(store)) GTEST_SKIP() << "models not installed";
  const auto detector = detect::Detector::create("default", store, {});
  const auto recognizer = Recognizer::create(store, {.model = "faceplugin_feature"});
  const auto a = describe(*recognizer, *detector, lfw_image("Akhmed_Zakayev", 1));
  const auto b = describe(*recognizer, *detector, lfw_image("Akhmed_Zakayev", 3));
  const Comparison c = recognizer->compare(a, b);
  ASSERT_EQ(c.members.size(), 1u);
  EXPECT_EQ(c.members[0].model, "faceplugin_feature");
  EXPECT_EQ(c.same_person, c.members[0].cosine > c.members[0].cosine_threshold);
  EXPECT_NEAR(c.probability, c.members[0].probability, 1e-12);
  EXPECT_THROW(Recognizer::create(store, {.model = "no_such_model"}), UsageError);
}

// The minimum quality marks faces not searchable (kept, described, compared).
TEST(Recognizer, MinimumQualityMarksFacesNotSearchable) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  if (!models_installed(store)) GTEST_SKIP() << "models not installed";
  const auto detector = detect::Detector::create("default", store, {});
  const auto path = lfw_image("Akhmed_Zakayev", 1);
  const auto lenient = Recognizer::create(store, {.model = "faceplugin_feature"});
  const auto face = describe(*lenient, *detector, path);
  EXPECT_EQ(face.searchable, face.quality.overall >= RecognizerOptions{}.min_quality);
  const float above = std::min(1.0f, face.quality.overall + 0.01f);
  const auto strict =
      Recognizer::create(store, {.model = "faceplugin_feature", .min_quality = above});
  const auto same_face = describe(*strict, *detector, path);
  EXPECT_FALSE(same_face.searchable);
  EXPECT_FALSE(same_face.member_vectors.front().empty());  // still described
  EXPECT_THROW(Recognizer::create(store, {.min_quality = 1.5f}), UsageError);
}

}  // namespace
}  // namespace likeness::match
