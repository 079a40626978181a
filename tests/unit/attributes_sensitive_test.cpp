// The sensitive attribute (ethnicity, GDPR Art. 9; docs/attributes.md): the
// decoding of GEAR's heads, the stored JSON (a separate "sensitive" key),
// the opt-in switch (no model loaded, nothing stored unless enabled), that a
// person's attribute summary never aggregates it, and that erasing the face
// leaves none of its stored text in any file of the library folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "likeness/attributes/attributes.h"
#include "likeness/core/error.h"
#include "likeness/library/erasure.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "likeness/library/person_attributes.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness {
namespace {

namespace fs = std::filesystem;

// --- Decoding GEAR's heads -----------------------------------------------------

TEST(AttributesSensitiveDecode, EthnicityKeepsTheModelsOrderAndPicksTheMostProbable) {
  // A softmax output as the graph gives it, the third class highest.
  const std::vector<float> race = {0.1f, 0.05f, 0.7f, 0.1f, 0.05f};
  const auto e = attributes::decode_ethnicity(race);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->label, "asian");
  for (std::size_t i = 0; i < race.size(); ++i) EXPECT_NEAR(e->probabilities[i], race[i], 1e-6);
  // Every position maps to its own label, in the model's order.
  for (std::size_t top = 0; top < attributes::kEthnicityLabels.size(); ++top) {
    std::vector<float> one_hot(5, 0.0f);
    one_hot[top] = 1.0f;
    EXPECT_EQ(attributes::decode_ethnicity(one_hot)->label, attributes::kEthnicityLabels[top]);
  }
}

TEST(AttributesSensitiveDecode, EthnicityIsRenormalisedAndABrokenOutputGivesNothing) {
  const auto e = attributes::decode_ethnicity(std::vector<float>{2, 2, 4, 1, 1});
  ASSERT_TRUE(e.has_value());
  EXPECT_NEAR(std::accumulate(e->probabilities.begin(), e->probabilities.end(), 0.0), 1.0, 1e-6);
  EXPECT_NEAR(e->probabilities[2], 0.4, 1e-6);
  EXPECT_EQ(e->label, "asian");
  EXPECT_FALSE(attributes::decode_ethnicity(std::vector<float>{0.5f, 0.5f}));  // wrong size
  EXPECT_FALSE(attributes::decode_ethnicity(std::vector<float>(5, 0.0f)));     // all zero
  EXPECT_FALSE(attributes::decode_ethnicity(std::vector<float>{0.5f, -0.1f, 0.2f, 0.2f, 0.2f}));
  EXPECT_FALSE(attributes::decode_ethnicity(std::vector<float>{NAN, 0.1f, 0.2f, 0.2f, 0.2f}));
}

TEST(AttributesSensitiveDecode, GearGenderHeadIsMaleThenFemale) {
  EXPECT_NEAR(*attributes::decode_gear_male(std::vector<float>{0.8f, 0.2f}), 0.8f, 1e-6);
  EXPECT_NEAR(*attributes::decode_gear_male(std::vector<float>{0.1f, 0.9f}), 0.1f, 1e-6);
  EXPECT_FALSE(attributes::decode_gear_male(std::vector<float>{0.1f, 0.2f, 0.7f}));
  EXPECT_FALSE(attributes::decode_gear_male(std::vector<float>{0.0f, 0.0f}));
}

// --- Stored JSON ------------------------------------------------------------------

attributes::FaceAttributes with_ethnicity() {
  attributes::FaceAttributes a;
  a.age = attributes::AgeEstimate{41.0f, 30.0f, 52.0f};
  attributes::EmotionEstimate emotion;
  emotion.label = "neutral";
  emotion.probabilities[6] = 1.0f;
  a.emotion = emotion;
  a.ethnicity = attributes::decode_ethnicity(std::vector<float>{0.12f, 0.08f, 0.05f, 0.71f, 0.04f});
  a.models = {
      {"age", "age_ssrnet"}, {"emotion", "emotion_minixception"}, {"ethnicity", "ethnicity_gear"}};
  return a;
}

TEST(AttributesSensitiveJson, StoredApartUnderSensitiveWithTheModelsCategories) {
  const nlohmann::json j = attributes::to_json(with_ethnicity());
  ASSERT_TRUE(j.contains("sensitive")) << j.dump();
  const nlohmann::json& s = j.at("sensitive");
  EXPECT_EQ(s.size(), 2u) << s.dump();
  EXPECT_EQ(s.at("model"), "ethnicity_gear");
  const nlohmann::json& e = s.at("ethnicity");
  EXPECT_EQ(e.at("label"), "indian");
  const nlohmann::json& p = e.at("probabilities");
  ASSERT_EQ(p.size(), 5u);
  double sum = 0.0;
  for (std::string_view label : attributes::kEthnicityLabels) {
    ASSERT_TRUE(p.contains(std::string(label))) << label;
    sum += p.at(std::string(label)).get<double>();
  }
  EXPECT_NEAR(sum, 1.0, 0.01);
  EXPECT_NEAR(p.at("indian").get<double>(), 0.71, 1e-9);
  // Nothing of it among the other keys: "model" names the descriptive models only.
  EXPECT_FALSE(j.at("model").contains("ethnicity")) << j.dump();
  EXPECT_EQ(j.size(), 4u) << j.dump();  // age, emotion, model, sensitive
  for (const auto& [key, value] : j.items()) {
    if (key == "sensitive") continue;
    EXPECT_EQ(value.dump().find("indian"), std::string::npos) << key;
  }
}

TEST(AttributesSensitiveJson, AbsentUnlessEstimated) {
  attributes::FaceAttributes a = with_ethnicity();
  a.ethnicity.reset();
  a.models.erase("ethnicity");
  const nlohmann::json j = attributes::to_json(a);
  EXPECT_FALSE(j.contains("sensitive")) << j.dump();
  EXPECT_FALSE(attributes::parse_attributes(j.dump())->ethnicity.has_value());
}

TEST(AttributesSensitiveJson, ParseRoundTripKeepsItSeparate) {
  const std::string text = attributes::to_json(with_ethnicity()).dump();
  const auto parsed = attributes::parse_attributes(text);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_TRUE(parsed->ethnicity.has_value());
  EXPECT_EQ(parsed->ethnicity->label, "indian");
  EXPECT_NEAR(parsed->ethnicity->probabilities[3], 0.71f, 1e-6);
  EXPECT_EQ(parsed->models.at("ethnicity"), "ethnicity_gear");
  EXPECT_EQ(attributes::to_json(*parsed).dump(), text);
  // A "model" entry named ethnicity outside "sensitive" is not taken for one.
  const auto forged = attributes::parse_attributes(R"({"model": {"ethnicity": "x"}})");
  ASSERT_TRUE(forged.has_value());
  EXPECT_FALSE(forged->models.contains("ethnicity"));
  EXPECT_FALSE(forged->ethnicity.has_value());
}

// A person's summary (`people show --attributes`) is the same with or without
// the sensitive attribute stored: it aggregates nothing of it.
TEST(AttributesSensitiveJson, PersonSummaryIgnoresIt) {
  std::vector<library::PersonFace> with, without;
  const std::vector<float> races[] = {{0.7f, 0.1f, 0.1f, 0.05f, 0.05f},
                                      {0.1f, 0.7f, 0.1f, 0.05f, 0.05f},
                                      {0.1f, 0.1f, 0.1f, 0.05f, 0.65f}};
  int n = 0;
  for (const auto& race : races) {
    library::PersonFace f;
    f.photo.capture_time = "201" + std::to_string(n) + ":01:01 10:00:00";
    attributes::FaceAttributes a = with_ethnicity();
    a.age->years = 30.0f + static_cast<float>(n++);
    a.ethnicity = attributes::decode_ethnicity(race);
    f.face.attributes = attributes::to_json(a).dump();
    ASSERT_NE(f.face.attributes.find("\"sensitive\""), std::string::npos);
    with.push_back(f);
    a.ethnicity.reset();
    a.models.erase("ethnicity");
    f.face.attributes = attributes::to_json(a).dump();
    without.push_back(f);
  }
  const library::PersonAttributes a = library::summarize_person_attributes(with);
  const library::PersonAttributes b = library::summarize_person_attributes(without);
  EXPECT_EQ(a.faces_with_attributes, 3u);
  EXPECT_EQ(a.faces_with_attributes, b.faces_with_attributes);
  EXPECT_EQ(a.median_age, b.median_age);
  ASSERT_EQ(a.age_by_year.size(), b.age_by_year.size());
  EXPECT_EQ(a.expression_counts, b.expression_counts);
  EXPECT_EQ(a.most_frequent_expression, b.most_frequent_expression);
  for (const auto& [label, count] : a.expression_counts) {
    for (std::string_view sensitive : attributes::kEthnicityLabels) EXPECT_NE(label, sensitive);
  }
}

// --- The opt-in switch --------------------------------------------------------------

bool installed(const infer::ModelStore& store, std::initializer_list<const char*> models) {
  for (const char* model : models) {
    if (store.check(model).status != infer::ModelStatus::ok) return false;
  }
  return true;
}

TEST(AttributesSensitiveSwitch, OffByDefault) {
  const attributes::AttributeOptions defaults;
  EXPECT_FALSE(defaults.sensitive);
  EXPECT_FALSE(library::AnalyzerOptions{}.attributes.sensitive);
  const auto store = infer::ModelStore::open();
  if (!installed(store, {"age_ssrnet", "gender_ssrnet", "emotion_minixception", "gear"})) {
    GTEST_SKIP() << "attribute models not installed (scripts/setup.sh models)";
  }
  const auto plain = attributes::AttributeEstimator::create(store, defaults);
  for (const auto& model : plain->models()) {
    EXPECT_NE(model->attribute(), "ethnicity") << model->name();
  }
  attributes::AttributeOptions on;
  on.sensitive = true;
  const auto opted_in = attributes::AttributeEstimator::create(store, on);
  ASSERT_EQ(opted_in->models().size(), plain->models().size() + 1);
  EXPECT_EQ(opted_in->models().back()->name(), "ethnicity_gear");
  EXPECT_EQ(opted_in->models().back()->attribute(), "ethnicity");
  // The sensitive slot takes only a sensitive model, and a sensitive model no other slot.
  attributes::AttributeOptions wrong = on;
  wrong.ethnicity_model = "gender_gear";
  EXPECT_THROW((void)attributes::AttributeEstimator::create(store, wrong), UsageError);
  wrong = defaults;
  wrong.gender_model = "ethnicity_gear";
  EXPECT_THROW((void)attributes::AttributeEstimator::create(store, wrong), UsageError);
}

// Without the switch the GEAR model is not even opened: a models folder that
// lacks it works for the defaults and fails loudly only when it is asked for.
TEST(AttributesSensitiveSwitch, WithoutItTheModelIsNotLoaded) {
  const auto real = infer::ModelStore::open();
  const char* defaults[] = {"age_ssrnet", "gender_ssrnet", "emotion_minixception"};
  for (const char* model : defaults) {
    if (real.check(model).status != infer::ModelStatus::ok) {
      GTEST_SKIP() << "attribute models not installed (scripts/setup.sh models)";
    }
  }
  testing::TempDir temp("sensitive_no_gear");
  for (const char* model : defaults) {
    const fs::path file = real.check(model).path;
    fs::create_symlink(file, temp.path() / file.filename());
  }
  const auto store = infer::ModelStore::open({.models_dir = temp.path()});
  EXPECT_EQ(attributes::AttributeEstimator::create(store, {})->models().size(), 3u);
  attributes::AttributeOptions on;
  on.sensitive = true;
  try {
    (void)attributes::AttributeEstimator::create(store, on);
    FAIL() << "no exception although gear.onnx is missing";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("setup.sh models"), std::string::npos) << e.what();
  }
}

// --- Indexing and erasure (LFW photos, real models) ------------------------------------

// Every regular file under dir, read whole.
std::string all_bytes_under(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    all.push_back('\0');
  }
  return all;
}

class AttributesSensitiveIndexer : public ::testing::Test {
 protected:
  void SetUp() override {
    LIKENESS_REQUIRE_DATASET("lfw");
    store_.emplace(infer::ModelStore::open());
    for (const auto& model : {"ultraface_rfb320", "faceplugin_landmark_68", "age_ssrnet",
                              "gender_ssrnet", "emotion_minixception", "gear"}) {
      if (store_->check(model).status != infer::ModelStatus::ok) {
        GTEST_SKIP() << "model " << model << " not installed (scripts/setup.sh models)";
      }
    }
    const fs::path lfw = testing::datasets_dir() / "lfw" / "images";
    fs::create_directories(photos());
    fs::copy_file(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg", photos() / "a.jpg");
    fs::copy_file(lfw / "Serena_Williams" / "Serena_Williams_0002.jpg", photos() / "b.jpg");
  }

  fs::path photos() const { return temp_.path() / "photos"; }

  void index(library::Library& lib, bool sensitive) {
    library::IndexerOptions options;
    options.workers = 1;
    options.analyzer.attributes.sensitive = sensitive;
    const auto indexer = library::Indexer::create(*store_, options);
    const auto* estimator = indexer->analyzer().attribute_estimator();
    ASSERT_NE(estimator, nullptr);
    bool loaded = false;
    for (const auto& model : estimator->models()) loaded |= model->name() == "ethnicity_gear";
    EXPECT_EQ(loaded, sensitive);
    const std::vector<fs::path> folders{photos()};
    indexer->run(lib, folders, {});
  }

  testing::TempDir temp_{"attributes_sensitive"};
  std::optional<infer::ModelStore> store_;
};

TEST_F(AttributesSensitiveIndexer, StoredOnlyWhenEnabled) {
  for (const bool sensitive : {false, true}) {
    auto lib = library::Library::open(temp_.path() / (sensitive ? "on" : "off"));
    index(*lib, sensitive);
    const auto faces = lib->catalog().all_faces();
    ASSERT_GE(faces.size(), 2u);
    for (const store::Face& face : faces) {
      const nlohmann::json j = nlohmann::json::parse(face.attributes);
      ASSERT_TRUE(j.contains("age") && j.contains("gender")) << face.attributes;
      EXPECT_FALSE(j.at("model").contains("ethnicity")) << face.attributes;
      if (!sensitive) {
        EXPECT_FALSE(j.contains("sensitive")) << face.attributes;
        for (std::string_view label : {"white", "black", "asian", "indian", "others"}) {
          EXPECT_EQ(face.attributes.find(label), std::string::npos) << face.attributes;
        }
        continue;
      }
      ASSERT_TRUE(j.contains("sensitive")) << face.attributes;
      EXPECT_EQ(j.at("sensitive").at("model"), "ethnicity_gear");
      const nlohmann::json& e = j.at("sensitive").at("ethnicity");
      double sum = 0.0, top = -1.0;
      std::string best;
      for (const auto& [label, p] : e.at("probabilities").items()) {
        sum += p.get<double>();
        if (p.get<double>() > top) top = p.get<double>(), best = label;
      }
      EXPECT_EQ(e.at("probabilities").size(), 5u);
      EXPECT_NEAR(sum, 1.0, 0.01) << face.attributes;
      EXPECT_EQ(e.at("label"), best) << face.attributes;
    }
  }
}

// Erasing a photo (the right of erasure) leaves none of its faces' sensitive
// text in any file of the library folder, while the kept photo's is still
// found (so the scan can see it at all).
TEST_F(AttributesSensitiveIndexer, ErasedWithTheFaceFromEveryLibraryFile) {
  const fs::path dir = temp_.path() / "library";
  std::vector<std::string> erased_texts, kept_texts;
  {
    auto lib = library::Library::open(dir);
    index(*lib, true);
    store::Catalog& catalog = lib->catalog();
    const auto erased_photo = catalog.find_photo(library::library_path(photos() / "a.jpg"));
    const auto kept_photo = catalog.find_photo(library::library_path(photos() / "b.jpg"));
    ASSERT_TRUE(erased_photo && kept_photo);
    const auto sensitive_text = [&](std::int64_t photo_id, std::vector<std::string>& out) {
      for (const store::Face& face : catalog.faces_of_photo(photo_id)) {
        // The stored text of the attribute itself, exactly as it is in the row.
        const std::string fragment =
            "\"sensitive\":" + nlohmann::json::parse(face.attributes).at("sensitive").dump();
        ASSERT_NE(face.attributes.find(fragment), std::string::npos) << face.attributes;
        out.push_back(fragment);
      }
    };
    sensitive_text(erased_photo->id, erased_texts);
    sensitive_text(kept_photo->id, kept_texts);
    ASSERT_FALSE(erased_texts.empty());
    ASSERT_FALSE(kept_texts.empty());
    for (const std::string& e : erased_texts) {
      for (const std::string& k : kept_texts)
        ASSERT_NE(e, k) << "the scan could not tell them apart";
    }
    const library::ErasureReport report =
        library::erase(*lib, library::plan_photo_erasure(catalog, erased_photo->id));
    EXPECT_EQ(report.faces, erased_texts.size());
  }  // closed: what is on disk is what counts

  const std::string files = all_bytes_under(dir);
  ASSERT_FALSE(files.empty());
  for (const std::string& text : erased_texts) {
    EXPECT_EQ(files.find(text), std::string::npos) << "erased face's " << text << " still stored";
    // Not even the probabilities alone.
    const std::string probabilities = text.substr(text.find("\"probabilities\""));
    EXPECT_EQ(files.find(probabilities.substr(0, probabilities.find('}') + 1)), std::string::npos);
  }
  for (const std::string& text : kept_texts) {
    EXPECT_NE(files.find(text), std::string::npos) << "the scan does not see kept " << text;
  }
}

}  // namespace
}  // namespace likeness
