// The right of erasure: erase() removes a person's faces, vectors, links and
// record, and afterwards no file in the library folder (catalog, its
// write-ahead log, the vector index and its stamp, anything else) holds the
// bytes of an erased vector — while the vectors kept are still there (so the
// scan can see vectors at all). A control shows that deleting without the
// purge leaves the bytes behind. Also: the plans for a photo and for "faces
// like this one", the audit log (no names in it), and the schema migration
// that added the log; and the export of a person (Art. 15/20).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/library/erasure.h"
#include "likeness/library/export.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "likeness/library/people.h"
#include "likeness/library/retention.h"
#include "likeness/match/embedded_calibration.h"
#include "support/file_scan.h"
#include "support/synthetic_library.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::library {
namespace {

namespace fs = std::filesystem;

using testing::files_holding;
using testing::StoredFace;
using testing::SyntheticLibrary;

TEST(LibraryErasure, ErasedPersonLeavesNoVectorBytesInAnyLibraryFile) {
  const testing::TempDir temp("erasure_person");
  const fs::path dir = temp.path() / "library";
  SyntheticLibrary lib(dir, 3, 4);
  // Person 1 also has a face rejected from person 0: it is not person 0's
  // face and must stay.
  lib.library->catalog().link_face(lib.faces[1][0].id, lib.people[0], store::LinkOrigin::kRejected);

  const ErasurePlan plan = plan_person_erasure(lib.library->catalog(), lib.people[0]);
  EXPECT_EQ(plan.faces.size(), 4u);
  EXPECT_EQ(plan.people, std::vector<std::int64_t>{lib.people[0]});
  const ErasureReport report = erase(*lib.library, plan);
  EXPECT_EQ(report.faces, 4u);
  EXPECT_EQ(report.vectors, 12u);
  EXPECT_EQ(report.links, 5u);  // four faces' links, and the rejection of person 1's face
  EXPECT_EQ(report.people, 1u);
  EXPECT_GT(report.audit_id, 0);

  store::Catalog& catalog = lib.library->catalog();
  EXPECT_FALSE(catalog.find_person(lib.people[0]));
  EXPECT_EQ(catalog.face_count(), 8);
  for (const StoredFace& f : lib.faces[0]) EXPECT_FALSE(catalog.find_face(f.id));
  EXPECT_TRUE(catalog.find_face(lib.faces[1][0].id));
  EXPECT_EQ(lib.library->check().index_entries, 8);
  EXPECT_TRUE(lib.library->check().ok());
  lib.library.reset();  // close: what is on disk is what counts

  const auto files = testing::read_all_files(dir);
  ASSERT_FALSE(files.empty());
  for (const StoredFace& f : lib.faces[0]) {
    for (const auto* v : {&f.fused, &f.model_a, &f.model_b}) {
      const std::vector<fs::path> found = files_holding(files, *v);
      EXPECT_TRUE(found.empty()) << "erased face " << f.id << " still in " << found.front();
    }
  }
  // The scan sees vectors: the kept faces' are found (catalog and index).
  for (const StoredFace& f : lib.faces[2]) {
    EXPECT_FALSE(files_holding(files, f.model_a).empty()) << "kept face " << f.id;
    EXPECT_FALSE(files_holding(files, f.fused).empty()) << "kept face " << f.id;
  }
}

// The control: deleting rows and marking index entries deleted, without the
// purge and the index rewrite, leaves erased vectors in the files.
TEST(LibraryErasure, DeletingWithoutThePurgeLeavesVectorBytesBehind) {
  const testing::TempDir temp("erasure_control");
  const fs::path dir = temp.path() / "library";
  SyntheticLibrary lib(dir, 2, 3);
  for (const StoredFace& f : lib.faces[0]) {
    lib.library->catalog().delete_face(f.id);
    lib.library->remove_from_index(f.id);
  }
  lib.library->save_index();
  lib.library.reset();
  const auto files = testing::read_all_files(dir);
  std::size_t still_found = 0;
  for (const StoredFace& f : lib.faces[0]) {
    still_found += !files_holding(files, f.fused).empty();
  }
  EXPECT_GT(still_found, 0u) << "the control found nothing: the scan would prove nothing";
}

TEST(LibraryErasure, PhotoErasureRemovesTheRecordAndPeopleLeftEmpty) {
  const testing::TempDir temp("erasure_photo");
  SyntheticLibrary lib(temp.path() / "library", 2, 1);
  store::Catalog& catalog = lib.library->catalog();
  const std::int64_t photo_id = catalog.find_face(lib.faces[0][0].id)->photo_id;
  const ErasureReport report = erase(*lib.library, plan_photo_erasure(catalog, photo_id));
  EXPECT_EQ(report.photos, 1u);
  EXPECT_EQ(report.faces, 1u);
  EXPECT_EQ(report.people, 1u);  // its only face went
  EXPECT_FALSE(catalog.find_photo(photo_id));
  EXPECT_FALSE(catalog.find_person(lib.people[0]));
  EXPECT_TRUE(catalog.find_person(lib.people[1]));
  EXPECT_THROW(plan_photo_erasure(catalog, photo_id), UsageError);
  EXPECT_THROW(plan_person_erasure(catalog, lib.people[0]), UsageError);
}

TEST(LibraryErasure, AuditLogRecordsCountsNeverNames) {
  const testing::TempDir temp("erasure_audit");
  SyntheticLibrary lib(temp.path() / "library", 3, 2);
  store::Catalog& catalog = lib.library->catalog();
  name_person(catalog, lib.people[0], "Ada Lovelace");
  merge_people(catalog, lib.people[0], lib.people[1]);
  erase(*lib.library, plan_person_erasure(catalog, lib.people[0]));
  const std::vector<store::AuditEntry> log = catalog.audit_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].action, "rename");
  EXPECT_EQ(log[1].action, "merge");
  EXPECT_EQ(log[2].action, "erase");
  EXPECT_NE(log[2].details.find("\"faces\":4"), std::string::npos) << log[2].details;
  for (const store::AuditEntry& e : log) {
    EXPECT_GT(e.time, 0);
    EXPECT_EQ(e.details.find("Ada"), std::string::npos) << e.details;
    EXPECT_EQ(e.details.find("Person"), std::string::npos) << e.details;
    EXPECT_EQ(e.details.find("/photos"), std::string::npos) << e.details;
  }
}

TEST(LibraryErasure, ErasingEveryFaceRemovesTheIndexFile) {
  const testing::TempDir temp("erasure_all");
  SyntheticLibrary lib(temp.path() / "library", 1, 2);
  ASSERT_TRUE(fs::exists(lib.library->index_file()));
  erase(*lib.library, plan_person_erasure(lib.library->catalog(), lib.people[0]));
  EXPECT_FALSE(fs::exists(lib.library->index_file()));
  EXPECT_EQ(lib.library->catalog().face_count(), 0);
}

// A catalog of schema 1 (before the audit log) is migrated on open.
TEST(LibraryErasure, SchemaOneCatalogGainsTheAuditLog) {
  const testing::TempDir temp("erasure_migrate");
  const fs::path dir = temp.path() / "library";
  { SyntheticLibrary lib(dir, 1, 1); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "catalog.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE audit_log; DROP TABLE settings; PRAGMA user_version = 1",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto lib = Library::open(dir);
  EXPECT_EQ(lib->catalog().schema_version(), store::Catalog::latest_schema_version());
  EXPECT_TRUE(lib->catalog().audit_log().empty());
  EXPECT_GT(lib->catalog().add_audit_entry("retention", R"({"faces":0})"), 0);
  EXPECT_EQ(lib->catalog().face_count(), 1);
}

// The export holds the person's faces (not the others'), a crop for each
// photo on disk and the reason for the one missing, no vector numbers unless
// asked, and refuses to write into a folder that has files.
TEST(LibraryExport, PersonExportListsTheirFacesWithCrops) {
  const testing::TempDir temp("export_person");
  SyntheticLibrary lib(temp.path() / "library", 2, 3);
  store::Catalog& catalog = lib.library->catalog();
  // Real files for two of person 0's three photos (grey 400x300 JPEGs).
  cv::Mat grey(300, 400, CV_8UC3, cv::Scalar(120, 120, 120));
  for (int f = 0; f < 2; ++f) {
    store::Photo photo = *catalog.find_photo(catalog.find_face(lib.faces[0][f].id)->photo_id);
    photo.path = (temp.path() / ("p0_" + std::to_string(f) + ".jpg")).string();
    ASSERT_TRUE(cv::imwrite(photo.path, grey));
    catalog.upsert_photo(photo);  // a new record with the real path
    store::Face face = *catalog.find_face(lib.faces[0][f].id);
    face.photo_id = catalog.find_photo(photo.path)->id;
    // Move the face to the new photo record: delete and re-add with its links.
    const std::vector<store::FaceVector> vectors = catalog.vectors_of_face(face.id);
    catalog.delete_face(face.id);
    lib.faces[0][f].id = catalog.add_face(face, vectors);
    catalog.link_face(lib.faces[0][f].id, lib.people[0], store::LinkOrigin::kConfirmed);
  }
  const fs::path out = temp.path() / "export";
  const ExportReport report = export_person(*lib.library, lib.people[0], out, {});
  EXPECT_EQ(report.faces, 3u);
  EXPECT_EQ(report.crops, 2u);
  EXPECT_EQ(report.missing_crops, 1u);
  std::ifstream in(out / "person.json");
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["faces"].size(), 3u);
  std::set<std::int64_t> ids;
  for (const auto& face : doc["faces"]) {
    ids.insert(face["face_id"].get<std::int64_t>());
    EXPECT_EQ(face["attributes"]["age"]["years"], 40);
    EXPECT_EQ(face["link"]["origin"], "confirmed");
    EXPECT_EQ(face["descriptions"].size(), 3u);
    for (const auto& d : face["descriptions"]) EXPECT_FALSE(d.contains("values"));
    if (face["crop"].is_null()) {
      EXPECT_FALSE(face["crop_error"].get<std::string>().empty());
    } else {
      const cv::Mat crop = cv::imread((out / face["crop"].get<std::string>()).string());
      EXPECT_FALSE(crop.empty()) << face["crop"];
    }
  }
  EXPECT_EQ(ids,
            (std::set<std::int64_t>{lib.faces[0][0].id, lib.faces[0][1].id, lib.faces[0][2].id}));
  EXPECT_THROW(export_person(*lib.library, lib.people[0], out, {}), UsageError);
  ExportOptions with_vectors;
  with_vectors.with_vectors = true;
  export_person(*lib.library, lib.people[1], temp.path() / "export_vectors", with_vectors);
  std::ifstream in2(temp.path() / "export_vectors" / "person.json");
  const nlohmann::json doc2 = nlohmann::json::parse(in2);
  for (const auto& d : doc2["faces"][0]["descriptions"]) {
    const std::size_t expected = d["model"] == "fused" ? testing::kSyntheticFusedDimension
                                                       : testing::kSyntheticModelDimension;
    EXPECT_EQ(d["values"].size(), expected) << d["model"];
  }
  const std::vector<store::AuditEntry> log = catalog.audit_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].action, "export");
}

// Retention: unnamed people's faces expire after the set days, a named
// person's stay; vanished photos go when the rule is on; the policy persists
// in the library; an audit entry says "retention".
TEST(LibraryRetention, ExpiresUnnamedFacesAndVanishedPhotos) {
  const testing::TempDir temp("retention");
  const fs::path dir = temp.path() / "library";
  SyntheticLibrary lib(dir, 3, 2);
  store::Catalog& catalog = lib.library->catalog();
  for (const std::int64_t person : lib.people) catalog.rename_person(person, std::nullopt);
  name_person(catalog, lib.people[0], "Kept");
  const std::int64_t vanished_photo = catalog.find_face(lib.faces[1][0].id)->photo_id;
  catalog.mark_vanished(vanished_photo);

  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  RetentionPolicy policy;
  EXPECT_FALSE(policy.any());
  EXPECT_TRUE(plan_retention(catalog, policy, now + 1000 * 86400).empty());
  policy.unnamed_face_days = 30;
  save_retention_policy(catalog, policy);
  lib.library.reset();
  lib.library = Library::open(dir);
  store::Catalog& reopened = lib.library->catalog();
  const RetentionPolicy loaded = load_retention_policy(reopened);
  ASSERT_EQ(loaded.unnamed_face_days, std::optional<int>(30));
  EXPECT_FALSE(loaded.vanished_photos);

  // Ten days on: nothing has expired.
  EXPECT_EQ(apply_retention(*lib.library, loaded, now + 10 * 86400).faces, 0u);
  // Forty days on: the four unnamed faces go, the named person's two stay.
  const ErasureReport expired = apply_retention(*lib.library, loaded, now + 40 * 86400);
  EXPECT_EQ(expired.faces, 4u);
  EXPECT_EQ(expired.people, 2u);
  EXPECT_EQ(reopened.face_count(), 2);
  for (const StoredFace& f : lib.faces[0]) EXPECT_TRUE(reopened.find_face(f.id));
  EXPECT_TRUE(reopened.find_photo(vanished_photo));  // its face went, the record stays

  RetentionPolicy vanished;
  vanished.vanished_photos = true;
  EXPECT_EQ(apply_retention(*lib.library, vanished, now).photos, 1u);
  EXPECT_FALSE(reopened.find_photo(vanished_photo));
  std::size_t retention_entries = 0;
  for (const store::AuditEntry& e : reopened.audit_log())
    retention_entries += e.action == "retention";
  EXPECT_EQ(retention_entries, 2u);
  EXPECT_TRUE(lib.library->check().ok());
}

// plan_like_erasure on real faces: a new photo of one person selects that
// person's faces and no one else's.
TEST(LibraryErasure, LikePlanSelectsTheFacesOfThePersonInTheQueryPhoto) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const infer::ModelStore store = infer::ModelStore::open();
  for (const char* model : {"ultraface_rfb320", "faceplugin_landmark_68"}) {
    if (store.check(model).status != infer::ModelStatus::ok) {
      GTEST_SKIP() << "model " << model << " not installed (scripts/setup.sh models)";
    }
  }
  const auto indexer = Indexer::create(store, {});
  const testing::TempDir temp("erasure_like");
  const fs::path photos = temp.path() / "photos";
  const auto lfw = [](const std::string& name, int i) {
    char file[16];
    std::snprintf(file, sizeof file, "_%04d.jpg", i);
    return testing::datasets_dir() / "lfw" / "images" / name / (name + file);
  };
  for (const auto& [name, i] : std::vector<std::pair<std::string, int>>{{"Colin_Powell", 1},
                                                                        {"Colin_Powell", 2},
                                                                        {"Colin_Powell", 3},
                                                                        {"Tony_Blair", 1},
                                                                        {"Tony_Blair", 2},
                                                                        {"Serena_Williams", 1}}) {
    fs::create_directories(photos / name);
    fs::copy_file(lfw(name, i), photos / name / lfw(name, i).filename());
  }
  auto lib = Library::open(temp.path() / "library");
  const std::vector<fs::path> folders{photos};
  indexer->run(*lib, folders, {});
  ASSERT_EQ(lib->catalog().face_count(), 6);

  const DetectedPhoto query_photo = indexer->analyzer().detect(lfw("Colin_Powell", 10));
  ASSERT_TRUE(query_photo.ok() && !query_photo.faces.empty());
  const match::FaceDescription query =
      indexer->analyzer().describe(query_photo, largest_face(query_photo.faces));
  const ErasurePlan plan =
      plan_like_erasure(*lib, indexer->analyzer().recognizer(), query,
                        indexer->analyzer().recognizer().calibration().probability_threshold());
  std::vector<std::string> erased_paths;
  for (const std::int64_t face_id : plan.faces) {
    const auto face = lib->catalog().find_face(face_id);
    erased_paths.push_back(lib->catalog().find_photo(face->photo_id)->path);
  }
  ASSERT_EQ(erased_paths.size(), 3u);
  for (const std::string& path : erased_paths) {
    EXPECT_NE(path.find("Colin_Powell"), std::string::npos) << path;
  }
  const ErasureReport report = erase(*lib, plan);
  EXPECT_EQ(report.faces, 3u);
  EXPECT_EQ(lib->catalog().face_count(), 3);
  EXPECT_TRUE(lib->check().ok());
}

}  // namespace
}  // namespace likeness::library
