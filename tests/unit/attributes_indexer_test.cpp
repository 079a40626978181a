// Attributes at indexing time: stored with each face when analytics is on,
// absent when it is off, and erased with the face.
#include <gtest/gtest.h>

#include "likeness/attributes/attributes.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness {
namespace {

namespace fs = std::filesystem;

// Two LFW photos with one clear face each, copied at run time into a temp folder.
void copy_photos(const fs::path& folder) {
  const fs::path lfw = testing::datasets_dir() / "lfw" / "images";
  fs::create_directories(folder);
  fs::copy_file(lfw / "Cameron_Diaz" / "Cameron_Diaz_0001.jpg", folder / "a.jpg");
  fs::copy_file(lfw / "Vladimir_Putin" / "Vladimir_Putin_0007.jpg", folder / "b.jpg");
}

std::vector<store::Face> all_faces(library::Library& lib) { return lib.catalog().all_faces(); }

library::IndexSummary index(const infer::ModelStore& store, bool analytics, library::Library& lib,
                            const fs::path& folder, bool prune = false) {
  library::IndexerOptions options;
  options.analyzer.analytics = analytics;
  options.workers = 1;
  const auto indexer = library::Indexer::create(store, options);
  EXPECT_EQ(indexer->analyzer().attribute_estimator() != nullptr, analytics);
  const std::vector<fs::path> folders{folder};
  library::IndexRunOptions run;
  run.prune = prune;
  return indexer->run(lib, folders, run);
}

class AttributesIndexer : public ::testing::Test {
 protected:
  void SetUp() override {
    LIKENESS_REQUIRE_DATASET("lfw");
    store_.emplace(infer::ModelStore::open());
    for (const auto& model : {"ultraface_rfb320", "faceplugin_landmark_68", "age_ssrnet",
                              "gender_ssrnet", "emotion_minixception"}) {
      if (store_->check(model).status != infer::ModelStatus::ok) {
        GTEST_SKIP() << "model " << model << " not installed (scripts/setup.sh models)";
      }
    }
  }
  std::optional<infer::ModelStore> store_;
};

TEST_F(AttributesIndexer, StoresAgeGenderAndExpressionWithEachFace) {
  testing::TempDir temp("attributes_on");
  copy_photos(temp.path() / "photos");
  auto lib = library::Library::open(temp.path() / "library");
  const library::IndexSummary summary = index(*store_, true, *lib, temp.path() / "photos");
  ASSERT_EQ(summary.photos_new, 2u);
  const auto faces = all_faces(*lib);
  ASSERT_GE(faces.size(), 2u);
  for (const store::Face& face : faces) {
    const auto parsed = attributes::parse_attributes(face.attributes);
    ASSERT_TRUE(parsed.has_value()) << "face " << face.id << ": '" << face.attributes << "'";
    ASSERT_TRUE(parsed->age && parsed->gender && parsed->emotion) << face.attributes;
    EXPECT_GT(parsed->age->years, 0.0f);
    EXPECT_LT(parsed->age->low, parsed->age->years);
    EXPECT_GT(parsed->age->high, parsed->age->years);
    EXPECT_TRUE(parsed->gender->label == "female" || parsed->gender->label == "male");
    EXPECT_GE(parsed->gender->probability, 0.5f);
    EXPECT_EQ(parsed->models.at("age"), "age_ssrnet");
    // Only the documented keys: no sensitive attribute without the opt-in.
    const nlohmann::json j = nlohmann::json::parse(face.attributes);
    for (const auto& [key, value] : j.items()) {
      EXPECT_TRUE(key == "age" || key == "gender" || key == "emotion" || key == "model") << key;
    }
  }
}

TEST_F(AttributesIndexer, NoAnalyticsStoresNothing) {
  testing::TempDir temp("attributes_off");
  copy_photos(temp.path() / "photos");
  auto lib = library::Library::open(temp.path() / "library");
  index(*store_, false, *lib, temp.path() / "photos");
  const auto faces = all_faces(*lib);
  ASSERT_GE(faces.size(), 2u);
  for (const store::Face& face : faces) EXPECT_EQ(face.attributes, "") << "face " << face.id;
}

TEST_F(AttributesIndexer, AttributesAreErasedWithTheFace) {
  testing::TempDir temp("attributes_erase");
  copy_photos(temp.path() / "photos");
  auto lib = library::Library::open(temp.path() / "library");
  index(*store_, true, *lib, temp.path() / "photos");
  const std::size_t before = all_faces(*lib).size();
  ASSERT_GE(before, 2u);
  std::vector<std::int64_t> removed_ids;
  const auto photo =
      lib->catalog().find_photo(library::library_path(temp.path() / "photos" / "a.jpg"));
  ASSERT_TRUE(photo.has_value());
  for (const store::Face& face : lib->catalog().faces_of_photo(photo->id)) {
    EXPECT_FALSE(face.attributes.empty());
    removed_ids.push_back(face.id);
  }
  ASSERT_FALSE(removed_ids.empty());
  fs::remove(temp.path() / "photos" / "a.jpg");
  const library::IndexSummary pruned = index(*store_, true, *lib, temp.path() / "photos", true);
  EXPECT_EQ(pruned.pruned, 1u);
  for (std::int64_t id : removed_ids) {
    EXPECT_FALSE(lib->catalog().find_face(id).has_value()) << "face " << id << " still stored";
  }
  EXPECT_EQ(all_faces(*lib).size(), before - removed_ids.size());
}

}  // namespace
}  // namespace likeness
