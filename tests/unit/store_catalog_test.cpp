#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "likeness/store/catalog.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using likeness::store::Catalog;
using likeness::store::CheckReport;
using likeness::store::Face;
using likeness::store::FaceVector;
using likeness::store::LinkOrigin;
using likeness::store::Photo;
using likeness::store::PhotoStatus;
using likeness::store::StoreError;
using likeness::store::Transaction;

namespace {

// A temp folder holding one catalog.
class TempDir : public likeness::testing::TempDir {
 public:
  TempDir() : likeness::testing::TempDir("store_test") {}
  fs::path db() const { return path() / "catalog.sqlite"; }
};

// Runs SQL on the catalog file directly, bypassing the Catalog (and, unless
// the SQL turns them on, foreign keys).
void raw_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

std::int64_t raw_int(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(file.string().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  std::int64_t value = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Photo make_photo(const std::string& path) {
  Photo p;
  p.path = path;
  p.content_hash = std::string(64, 'a');
  p.size_bytes = 123456;
  p.mtime = 1700000000;
  p.capture_time = "2019:07:14 10:21:33";
  p.status = PhotoStatus::kIndexed;
  p.indexed_at = 1700000500;
  return p;
}

Face make_face(std::int64_t photo_id, float seed) {
  Face f;
  f.photo_id = photo_id;
  f.box = {10.5f + seed, 20.25f, 100.0f, 120.75f};
  for (int i = 0; i < 5; ++i) {
    f.landmarks[static_cast<std::size_t>(i)] = {30.0f + static_cast<float>(i) + seed,
                                                40.5f + static_cast<float>(i)};
  }
  f.detector_score = 0.875f;
  f.quality = {0.61f, 0.7f, 0.8f, 0.9f, 0.55f, 0.45f, -12.5f, 3.25f, 1.125f};
  f.attributes = R"({"age":31})";
  f.created_at = 1700000600;
  return f;
}

// Values that do not survive a trip through double text or a lossy format.
std::vector<float> odd_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  v[0] = 1e-40f;  // subnormal
  v[1] = -0.0f;
  return v;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// One photo with two faces, each with a fused and a model vector, one person
// linked to both faces.
struct Populated {
  std::int64_t photo = 0, face1 = 0, face2 = 0, person = 0;
};

Populated populate(Catalog& c, const std::string& path = "/photos/a.jpg") {
  Populated p;
  p.photo = c.upsert_photo(make_photo(path));
  const std::vector<FaceVector> v1 = {{"fused", odd_floats(8, 1)}, {"faceres", odd_floats(16, 2)}};
  const std::vector<FaceVector> v2 = {{"fused", odd_floats(8, 3)}, {"faceres", odd_floats(16, 4)}};
  p.face1 = c.add_face(make_face(p.photo, 0.0f), v1);
  p.face2 = c.add_face(make_face(p.photo, 1.0f), v2);
  p.person = c.create_person(std::string("Ada"));
  c.link_face(p.face1, p.person, LinkOrigin::kAutomatic);
  c.link_face(p.face2, p.person, LinkOrigin::kConfirmed);
  return p;
}

TEST(StoreCatalog, RoundTripsEveryRecordBitExact) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  Photo photo = make_photo("/photos/\xff\xfe raw bytes/é.jpg");  // not valid UTF-8
  photo.status = PhotoStatus::kFailed;
  photo.error = "truncated JPEG";
  const std::int64_t photo_id = c->upsert_photo(photo);
  ASSERT_GT(photo_id, 0);

  auto found = c->find_photo(photo.path);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, photo_id);
  EXPECT_EQ(found->path, photo.path);
  EXPECT_EQ(found->content_hash, photo.content_hash);
  EXPECT_EQ(found->size_bytes, photo.size_bytes);
  EXPECT_EQ(found->mtime, photo.mtime);
  EXPECT_EQ(found->capture_time, photo.capture_time);
  EXPECT_EQ(found->status, PhotoStatus::kFailed);
  EXPECT_EQ(found->error, "truncated JPEG");
  EXPECT_EQ(found->indexed_at, photo.indexed_at);
  EXPECT_FALSE(c->find_photo("/photos/other.jpg"));
  EXPECT_EQ(c->find_photo(photo_id)->path, photo.path);

  const Face face = make_face(photo_id, 0.0f);
  const std::vector<float> fused = odd_floats(512, 7);
  const std::vector<float> model = odd_floats(128, 8);
  const std::vector<FaceVector> vectors = {{"fused", fused}, {"dlib_resnet", model}};
  const std::int64_t face_id = c->add_face(face, vectors);
  const auto faces = c->faces_of_photo(photo_id);
  ASSERT_EQ(faces.size(), 1u);
  const Face& f = faces[0];
  EXPECT_EQ(f.id, face_id);
  EXPECT_EQ(f.photo_id, photo_id);
  EXPECT_EQ(f.box.x, face.box.x);
  EXPECT_EQ(f.box.y, face.box.y);
  EXPECT_EQ(f.box.w, face.box.w);
  EXPECT_EQ(f.box.h, face.box.h);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(f.landmarks[i].x, face.landmarks[i].x);
    EXPECT_EQ(f.landmarks[i].y, face.landmarks[i].y);
  }
  EXPECT_EQ(f.detector_score, face.detector_score);
  EXPECT_EQ(f.quality.overall, face.quality.overall);
  EXPECT_EQ(f.quality.exposure, face.quality.exposure);
  EXPECT_EQ(f.quality.yaw_deg, face.quality.yaw_deg);
  EXPECT_EQ(f.quality.roll_deg, face.quality.roll_deg);
  EXPECT_EQ(f.attributes, face.attributes);
  EXPECT_EQ(f.created_at, face.created_at);
  EXPECT_EQ(c->find_face(face_id)->box.w, face.box.w);

  const auto got = c->vectors_of_face(face_id);  // ordered by model
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].model, "dlib_resnet");
  EXPECT_TRUE(bit_equal(got[0].values, model));
  EXPECT_EQ(got[1].model, "fused");
  EXPECT_TRUE(bit_equal(got[1].values, fused));
  const auto all = c->all_vectors();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].face_id, face_id);
  EXPECT_TRUE(bit_equal(all[0].values, fused));
  EXPECT_EQ(c->face_count(), 1);

  const std::int64_t unnamed = c->create_person();
  const std::int64_t named = c->create_person(std::string("Grace"));
  EXPECT_FALSE(c->find_person(unnamed)->name);
  EXPECT_EQ(c->find_person(named)->name, "Grace");
  EXPECT_TRUE(c->rename_person(unnamed, std::string("Ada")));
  EXPECT_EQ(c->find_person(unnamed)->name, "Ada");
  EXPECT_FALSE(c->rename_person(9999, std::string("Nobody")));
  EXPECT_FALSE(c->find_person(9999));
  EXPECT_EQ(c->list_people().size(), 2u);

  c->link_face(face_id, named, LinkOrigin::kAutomatic);
  c->link_face(face_id, named, LinkOrigin::kRejected);  // re-link replaces the origin
  c->link_face(face_id, unnamed, LinkOrigin::kConfirmed);
  auto links = c->faces_of_person(named);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].face_id, face_id);
  EXPECT_EQ(links[0].origin, LinkOrigin::kRejected);
  EXPECT_GT(links[0].created_at, 0);
  EXPECT_EQ(c->faces_of_person(unnamed)[0].origin, LinkOrigin::kConfirmed);
  EXPECT_TRUE(c->unlink_face(face_id, named));
  EXPECT_FALSE(c->unlink_face(face_id, named));
  EXPECT_TRUE(c->faces_of_person(named).empty());
}

TEST(StoreCatalog, MisuseIsUsageError) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  EXPECT_THROW(c->add_face(make_face(42, 0.0f), {}), likeness::UsageError);
  const auto p = populate(*c);
  EXPECT_THROW(c->link_face(p.face1, 777, LinkOrigin::kAutomatic), likeness::UsageError);
  const std::vector<FaceVector> twice = {{"fused", {1.0f}}, {"fused", {2.0f}}};
  EXPECT_THROW(c->add_face(make_face(p.photo, 0.0f), twice), likeness::UsageError);
  EXPECT_EQ(c->face_count(), 2);  // the failed add_face left nothing behind
  EXPECT_THROW(Catalog::open(dir.path(), {.backend = "postgres"}), likeness::UsageError);
}

TEST(StoreCatalog, UpsertByPathUpdatesInsteadOfDuplicating) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  const std::int64_t first = c->upsert_photo(make_photo("/p/x.jpg"));
  c->upsert_photo(make_photo("/p/y.jpg"));
  Photo changed = make_photo("/p/x.jpg");
  changed.content_hash = std::string(64, 'b');
  changed.size_bytes = 99;
  changed.capture_time.reset();
  const std::int64_t second = c->upsert_photo(changed);
  EXPECT_EQ(first, second);
  const auto photos = c->list_photos();
  ASSERT_EQ(photos.size(), 2u);
  EXPECT_EQ(photos[0].path, "/p/x.jpg");
  EXPECT_EQ(photos[0].content_hash, std::string(64, 'b'));
  EXPECT_EQ(photos[0].size_bytes, 99);
  EXPECT_FALSE(photos[0].capture_time);

  EXPECT_TRUE(c->mark_vanished(second));
  EXPECT_FALSE(c->mark_vanished(12345));
  const auto vanished = c->list_photos(PhotoStatus::kVanished);
  ASSERT_EQ(vanished.size(), 1u);
  EXPECT_EQ(vanished[0].id, first);
  EXPECT_EQ(c->list_photos(PhotoStatus::kIndexed).size(), 1u);
}

TEST(StoreCatalog, DeletingAPhotoCascadesToFacesVectorsAndLinks) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  const auto keep = populate(*c, "/photos/keep.jpg");
  const auto gone = populate(*c, "/photos/gone.jpg");
  ASSERT_EQ(c->face_count(), 4);
  ASSERT_EQ(raw_int(dir.db(), "SELECT count(*) FROM vectors"), 8);

  EXPECT_TRUE(c->delete_photo(gone.photo));
  EXPECT_FALSE(c->delete_photo(gone.photo));
  EXPECT_FALSE(c->find_photo("/photos/gone.jpg"));
  EXPECT_EQ(c->face_count(), 2);
  EXPECT_TRUE(c->faces_of_photo(gone.photo).empty());
  EXPECT_TRUE(c->vectors_of_face(gone.face1).empty());
  EXPECT_TRUE(c->faces_of_person(gone.person).empty());
  EXPECT_EQ(c->all_vectors().size(), 2u);
  EXPECT_EQ(raw_int(dir.db(), "SELECT count(*) FROM vectors"), 4);
  EXPECT_EQ(raw_int(dir.db(), "SELECT count(*) FROM face_person"), 2);
  EXPECT_EQ(c->faces_of_person(keep.person).size(), 2u);
  EXPECT_TRUE(c->find_person(gone.person));  // people outlive their photos

  EXPECT_EQ(c->clear_faces(keep.photo), 2);
  EXPECT_EQ(c->face_count(), 0);
  EXPECT_TRUE(c->find_photo(keep.photo));
  EXPECT_EQ(raw_int(dir.db(), "SELECT count(*) FROM vectors"), 0);
}

TEST(StoreCatalog, RolledBackTransactionLeavesNothing) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  EXPECT_THROW(c->write_batch([&] {
    populate(*c);
    ASSERT_EQ(c->face_count(), 2);  // visible inside the batch
    throw std::runtime_error("interrupted");
  }),
               std::runtime_error);
  EXPECT_EQ(c->face_count(), 0);
  EXPECT_TRUE(c->list_photos().empty());
  EXPECT_TRUE(c->list_people().empty());
  {
    Transaction batch(*c);
    populate(*c);
    EXPECT_THROW({ Transaction nested(*c); }, likeness::UsageError);  // no nesting
  }                                                                   // no commit(): rolled back
  EXPECT_EQ(c->face_count(), 0);

  Transaction batch(*c);
  populate(*c);
  batch.commit();
  EXPECT_EQ(c->face_count(), 2);
}

TEST(StoreCatalog, ReopenSeesCommittedData) {
  TempDir dir;
  Populated p;
  {
    auto c = Catalog::open(dir.path());
    c->write_batch([&] { p = populate(*c); });
  }
  auto c = Catalog::open(dir.path(), {.create_if_missing = false});
  EXPECT_EQ(c->face_count(), 2);
  ASSERT_TRUE(c->find_photo("/photos/a.jpg"));
  EXPECT_TRUE(bit_equal(c->vectors_of_face(p.face2)[0].values, odd_floats(16, 4)));
  EXPECT_EQ(c->find_person(p.person)->name, "Ada");
  EXPECT_EQ(c->faces_of_person(p.person).size(), 2u);
}

TEST(StoreCatalog, MissingCatalogWithoutCreateIsStoreError) {
  TempDir dir;
  try {
    Catalog::open(dir.path() / "nothing", {.create_if_missing = false});
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("--library"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.path() / "nothing" / "catalog.sqlite"));
}

TEST(StoreCatalog, RecordsSchemaVersionAndUsesWal) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  EXPECT_GE(Catalog::latest_schema_version(), 1);
  EXPECT_EQ(c->schema_version(), Catalog::latest_schema_version());
  EXPECT_EQ(raw_int(dir.db(), "PRAGMA user_version"), Catalog::latest_schema_version());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.db().string().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  // The indexes the queries rely on exist.
  for (const char* index : {"photos_path", "faces_photo_box", "face_person_person"}) {
    EXPECT_EQ(raw_int(dir.db(), std::string("SELECT count(*) FROM sqlite_master WHERE type = "
                                            "'index' AND name = '") +
                                    index + "'"),
              1)
        << index;
  }
}

TEST(StoreCatalog, NewerSchemaIsRefusedAndLeftUnchanged) {
  TempDir dir;
  const int newer = Catalog::latest_schema_version() + 1;
  raw_exec(dir.db(), "CREATE TABLE future (x); PRAGMA user_version = " + std::to_string(newer));
  const std::string before = file_bytes(dir.db());
  ASSERT_FALSE(before.empty());
  try {
    Catalog::open(dir.path());
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("created by a newer Likeness (schema " + std::to_string(newer) +
                           ", this build knows " +
                           std::to_string(Catalog::latest_schema_version()) + ")"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("upgrade Likeness or use another --library"), std::string::npos)
        << message;
  }
  EXPECT_EQ(file_bytes(dir.db()), before);
  EXPECT_EQ(raw_int(dir.db(), "PRAGMA user_version"), newer);
}

TEST(StoreCatalog, GarbageFileIsStoreErrorNamingTheFix) {
  TempDir dir;
  {
    std::ofstream out(dir.db(), std::ios::binary);
    out << std::string(4096, 'x');
  }
  try {
    Catalog::open(dir.path());
    FAIL() << "expected StoreError";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt or not a Likeness catalog"), std::string::npos)
        << e.what();
  }
}

TEST(StoreCatalog, CheckReportsCleanCatalogAsClean) {
  TempDir dir;
  auto c = Catalog::open(dir.path());
  populate(*c);
  const CheckReport report = c->check();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.integrity, std::vector<std::string>{"ok"});
  EXPECT_TRUE(report.problems.empty());
}

TEST(StoreCatalog, CheckFindsOrphansMadeBehindItsBack) {
  TempDir dir;
  Populated p;
  {
    auto c = Catalog::open(dir.path());
    p = populate(*c);
  }
  // foreign_keys is off by default on a plain connection.
  raw_exec(dir.db(),
           "PRAGMA foreign_keys = OFF;"
           "INSERT INTO faces (id, photo_id, box_x, box_y, box_w, box_h, landmarks, "
           "detector_score, q_overall, q_sharpness, q_contrast, q_size, q_pose, q_exposure, "
           "yaw_deg, pitch_deg, roll_deg, attributes, created_at) "
           "VALUES (900, 555, 0, 0, 1, 1, x'00', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', 0);"
           "INSERT INTO vectors (face_id, model, data) VALUES (901, 'fused', x'0000803f');"
           "DELETE FROM persons WHERE id = " +
               std::to_string(p.person) + ";");
  auto c = Catalog::open(dir.path());
  const CheckReport report = c->check();
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.integrity, std::vector<std::string>{"ok"});
  EXPECT_EQ(report.orphan_faces, 1);
  EXPECT_EQ(report.orphan_vectors, 1);
  EXPECT_EQ(report.links_missing_person, 2);
  EXPECT_EQ(report.links_missing_face, 0);
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems[0], "face 900 refers to missing photo 555");
}

}  // namespace
