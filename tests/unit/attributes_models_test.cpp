// The attribute models themselves: what their graphs output (the assumptions
// the decoding rests on), loud failures for a broken installation, and checks
// of sense on LFW photos (read from ../shared at run time).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "likeness/attributes/attributes.h"
#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness {
namespace {

namespace fs = std::filesystem;

bool installed(const infer::ModelStore& store, std::initializer_list<const char*> models) {
  for (const char* model : models) {
    if (store.check(model).status != infer::ModelStatus::ok) return false;
  }
  return true;
}

#define REQUIRE_MODELS(store, ...)                                                \
  do {                                                                            \
    if (!installed(store, {__VA_ARGS__})) {                                       \
      GTEST_SKIP() << "attribute models not installed (scripts/setup.sh models)"; \
    }                                                                             \
  } while (0)

TEST(AttributesModels, UnknownModelIsAUsageErrorNamingTheKnownOnes) {
  const auto store = infer::ModelStore::open();
  try {
    (void)attributes::AttributeModel::create("age_magic", store);
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("age_ssrnet"), std::string::npos) << e.what();
  }
  attributes::AttributeOptions wrong;
  wrong.age_model = "emotion_minixception";  // a model of another attribute
  wrong.gender = wrong.emotion = false;
  if (installed(store, {"emotion_minixception"})) {
    EXPECT_THROW((void)attributes::AttributeEstimator::create(store, wrong), UsageError);
  }
}

TEST(AttributesModels, MissingModelFailsLoudlyWithTheRepairCommand) {
  testing::TempDir empty("attributes_no_models");
  const auto store = infer::ModelStore::open({.models_dir = empty.path()});
  for (const std::string& name : attributes::AttributeModel::known_models()) {
    try {
      (void)attributes::AttributeModel::create(name, store);
      FAIL() << name << ": no exception";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("setup.sh models"), std::string::npos) << e.what();
    }
  }
  // Analytics off loads nothing, so nothing can be missing.
  attributes::AttributeOptions off;
  off.age = off.gender = off.emotion = false;
  EXPECT_TRUE(attributes::AttributeEstimator::create(store, off)->models().empty());
}

// What decode_ssrnet assumes about fr_age / fr_gender: each stage's "bin
// probabilities" are ReLU outputs (non-negative, not normalised: a softmax
// was expected first and this test showed otherwise; the authors' Keras
// SSR-Net uses ReLU there too), and delta_k and the index offsets are tanh
// outputs in (-1, 1).
TEST(AttributesModels, SsrNetGraphsOutputWhatTheDecodingAssumes) {
  const auto store = infer::ModelStore::open();
  REQUIRE_MODELS(store, "age_ssrnet", "gender_ssrnet");
  for (const char* name : {"age_ssrnet", "gender_ssrnet"}) {
    const auto session = store.open_session(name, {.threads = 1});
    infer::Tensor input = infer::Tensor::zeros({1, 3, 64, 64});
    // A smooth pattern, not a face: the properties hold for any input.
    for (std::size_t i = 0; i < input.data.size(); ++i) {
      input.data[i] = static_cast<float>(std::sin(0.01 * static_cast<double>(i)));
    }
    const std::vector<infer::Tensor> outputs = session->run({input});
    std::map<std::string, const infer::Tensor*> by_name;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      by_name[session->outputs()[i].name] = &outputs[i];
    }
    for (int k = 1; k <= 3; ++k) {
      const auto& p = by_name.at("prob_stage_" + std::to_string(k))->data;
      ASSERT_EQ(p.size(), 3u);
      for (float v : p) EXPECT_GE(v, 0.0f) << name << " stage " << k;
      const auto& delta = by_name.at("stage" + std::to_string(k) + "_delta_k")->data;
      ASSERT_EQ(delta.size(), 1u);
      EXPECT_LT(std::abs(delta[0]), 1.0f) << name;
      for (float eta : by_name.at("index_offset_stage" + std::to_string(k))->data) {
        EXPECT_LT(std::abs(eta), 1.0f) << name;
      }
    }
  }
}

struct LfwFaces {
  std::unique_ptr<detect::Detector> detector;

  // The face nearest the photo's centre (LFW's subject).
  std::optional<std::pair<Image, detect::Detection>> load(const std::string& person, int index) {
    char file[128];
    std::snprintf(file, sizeof file, "%s_%04d.jpg", person.c_str(), index);
    const fs::path path = testing::datasets_dir() / "lfw" / "images" / person / file;
    auto decoded = io::decode_image_file(path);
    if (!decoded.ok()) return std::nullopt;
    const auto found = detector->detect(decoded.value->image);
    if (found.faces.empty()) return std::nullopt;
    const float cx = static_cast<float>(decoded.value->image.width()) / 2.0f;
    const float cy = static_cast<float>(decoded.value->image.height()) / 2.0f;
    const auto distance = [&](const detect::Detection& d) {
      return std::hypot(d.box.x + d.box.width / 2 - cx, d.box.y + d.box.height / 2 - cy);
    };
    const auto best =
        std::min_element(found.faces.begin(), found.faces.end(),
                         [&](const auto& a, const auto& b) { return distance(a) < distance(b); });
    return std::make_pair(decoded.value->image, *best);
  }
};

class AttributesLfw : public ::testing::Test {
 protected:
  void SetUp() override {
    LIKENESS_REQUIRE_DATASET("lfw");
    store_.emplace(infer::ModelStore::open());
    if (!installed(*store_, {"ultraface_rfb320", "faceplugin_landmark_68", "age_ssrnet",
                             "gender_ssrnet", "emotion_minixception"})) {
      GTEST_SKIP() << "models not installed (scripts/setup.sh models)";
    }
    faces_.detector = detect::Detector::create("default", *store_, {.threads = 1});
    estimator_ = attributes::AttributeEstimator::create(*store_, {});
  }
  std::optional<infer::ModelStore> store_;
  LfwFaces faces_;
  std::unique_ptr<attributes::AttributeEstimator> estimator_;
};

TEST_F(AttributesLfw, FaceWithoutLandmarksGetsAWarningNotAGuess) {
  auto face = faces_.load("Tom_Hanks", 5);
  ASSERT_TRUE(face.has_value());
  face->second.has_landmarks = false;
  const attributes::FaceAttributes a = estimator_->estimate(face->first, face->second);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.warnings.size(), 3u);
}

// Publicly presented gender of the well-known public figures of
// bench/attributes_bench.cpp (the same list), 15 photos each. Measured there:
// gender_ssrnet gets the majority of 12 of these 14 people right (wrong for
// two women tennis players) and 84% of their photos; the test holds it to that.
TEST_F(AttributesLfw, GenderOfKnownPublicFiguresAsMeasured) {
  const std::vector<std::pair<std::string, std::string>> people = {
      {"George_W_Bush", "male"},     {"Colin_Powell", "male"},
      {"Tony_Blair", "male"},        {"Donald_Rumsfeld", "male"},
      {"Gerhard_Schroeder", "male"}, {"Ariel_Sharon", "male"},
      {"Hugo_Chavez", "male"},       {"Vladimir_Putin", "male"},
      {"Serena_Williams", "female"}, {"Jennifer_Capriati", "female"},
      {"Laura_Bush", "female"},      {"Gloria_Macapagal_Arroyo", "female"},
      {"Jennifer_Lopez", "female"},  {"Lindsay_Davenport", "female"}};
  int majorities_right = 0, all_agree = 0, all_total = 0;
  for (const auto& [person, expected] : people) {
    int agree = 0, total = 0;
    for (int i = 1; i <= 15; ++i) {
      const auto face = faces_.load(person, i);
      if (!face) continue;
      const attributes::FaceAttributes a = estimator_->estimate(face->first, face->second);
      ASSERT_TRUE(a.gender.has_value()) << person << " " << i;
      ++total;
      agree += a.gender->label == expected ? 1 : 0;
    }
    ASSERT_GE(total, 12) << person;
    majorities_right += 2 * agree > total ? 1 : 0;
    all_agree += agree;
    all_total += total;
  }
  EXPECT_GE(majorities_right, 12) << "people whose majority label is right";
  EXPECT_GE(all_agree, 0.82 * all_total) << all_agree << " of " << all_total << " photos right";
}

// Checked by eye (the same list as bench/attributes_bench.cpp): an open smile
// vs a relaxed, closed mouth. Measured: every smiling photo is "happy"; of the
// neutral ones, 4 of 6 have neutral above happy (Tom_Hanks_0009 and
// Vladimir_Putin_0012 come out "happy").
TEST_F(AttributesLfw, SmilingPhotosAreHappyAndNeutralOnesMostlyNot) {
  const std::vector<std::tuple<std::string, int, bool>> photos = {
      {"Cameron_Diaz", 1, true},     {"Cameron_Diaz", 3, true},    {"Cameron_Diaz", 4, true},
      {"Serena_Williams", 2, true},  {"Serena_Williams", 3, true}, {"Serena_Williams", 4, true},
      {"Vladimir_Putin", 4, false},  {"Vladimir_Putin", 7, false}, {"Vladimir_Putin", 8, false},
      {"Vladimir_Putin", 12, false}, {"Tom_Hanks", 5, false},      {"Tom_Hanks", 9, false}};
  int neutral_right = 0;
  for (const auto& [person, index, smiling] : photos) {
    const auto face = faces_.load(person, index);
    ASSERT_TRUE(face.has_value()) << person << " " << index;
    const attributes::FaceAttributes a = estimator_->estimate(face->first, face->second);
    ASSERT_TRUE(a.emotion.has_value());
    const float happy = a.emotion->probabilities[3], neutral = a.emotion->probabilities[6];
    if (smiling) {
      EXPECT_EQ(a.emotion->label, "happy") << person << "_" << index;
    } else {
      neutral_right += neutral > happy ? 1 : 0;
    }
    float sum = 0.0f;
    for (float p : a.emotion->probabilities) sum += p;
    EXPECT_NEAR(sum, 1.0f, 1e-3f);
  }
  EXPECT_GE(neutral_right, 4) << "neutral photos with neutral above happy";
}

// Adult public figures: every person's median estimated age is an adult's,
// and the photo-to-photo scatter stays within the stored range most of the time.
TEST_F(AttributesLfw, AgesOfAdultPublicFiguresArePlausible) {
  for (const char* person : {"Colin_Powell", "Serena_Williams", "Tony_Blair", "Laura_Bush"}) {
    std::vector<float> ages;
    for (int i = 1; i <= 10; ++i) {
      const auto face = faces_.load(person, i);
      if (!face) continue;
      const attributes::FaceAttributes a = estimator_->estimate(face->first, face->second);
      ASSERT_TRUE(a.age.has_value());
      EXPECT_LT(a.age->low, a.age->years);
      EXPECT_GT(a.age->high, a.age->years);
      ages.push_back(a.age->years);
    }
    ASSERT_GE(ages.size(), 8u) << person;
    std::sort(ages.begin(), ages.end());
    const float median = ages[ages.size() / 2];
    EXPECT_GT(median, 18.0f) << person;
    EXPECT_LT(median, 80.0f) << person;
  }
}

}  // namespace
}  // namespace likeness
