// One writer per library (store/catalog.h, WriterInfo): a second writer
// waits or fails with the holder's name, writes without the lock take it for
// themselves, the kernel releases it when its process dies; and the catalog's
// own key keeps a face from being stored twice, also in libraries made before
// the key (the schema 3 migration).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "likeness/store/catalog.h"
#include "support/temp_dir.h"

namespace likeness::store {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Photo photo_at(const std::string& path) {
  Photo p;
  p.path = path;
  p.content_hash = std::string(64, 'b');
  p.size_bytes = 10;
  p.mtime = 1;
  return p;
}

Face face_in(std::int64_t photo_id, float x) {
  Face f;
  f.photo_id = photo_id;
  f.box = {x, 5.0f, 50.0f, 50.0f};
  return f;
}

void run_sql(const fs::path& db_file, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(StoreWriterLock, SecondWriterFailsNamingTheHolder) {
  const testing::TempDir dir("writer_lock");
  auto first = Catalog::open(dir.path());
  auto second = Catalog::open(dir.path());
  EXPECT_FALSE(second->writer());
  const auto lock = first->lock_for_writing({.command = "likeness index"});
  EXPECT_TRUE(first->holds_writer_lock());
  const auto again = first->lock_for_writing({.wait = 0ms});  // re-entrant: at once
  try {
    second->lock_for_writing({.wait = 0ms});
    FAIL() << "a second writer got the lock";
  } catch (const LibraryBusyError& e) {
    EXPECT_EQ(e.holder().pid, static_cast<std::int64_t>(::getpid()));
    EXPECT_EQ(e.holder().command, "likeness index");
    const std::string message = e.what();
    EXPECT_NE(message.find("pid " + std::to_string(::getpid())), std::string::npos) << message;
    EXPECT_NE(message.find("`likeness index`"), std::string::npos) << message;
    // Another Catalog of this very process: not "another likeness process".
    EXPECT_EQ(message.rfind("this process (", 0), 0u) << message;
    EXPECT_NE(message.find(dir.path().string()), std::string::npos) << message;
  }
  ASSERT_TRUE(second->writer());
  EXPECT_EQ(second->writer()->command, "likeness index");
  EXPECT_FALSE(second->holds_writer_lock());
}

TEST(StoreWriterLock, WritesWithoutTheLockWaitForTheHolderThenFail) {
  const testing::TempDir dir("writer_lock_implicit");
  auto holder = Catalog::open(dir.path());
  auto other = Catalog::open(dir.path(), {.busy_timeout_ms = 300});
  const std::int64_t photo = holder->upsert_photo(photo_at("/p/a.jpg"));  // takes it for itself
  EXPECT_FALSE(holder->holds_writer_lock());                              // and released it
  {
    const auto lock = holder->lock_for_writing();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(other->create_person("Ada"), LibraryBusyError);
    EXPECT_THROW(other->write_batch([&] { other->add_face(face_in(photo, 1.0f), {}); }),
                 LibraryBusyError);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms);  // two waits of 300 ms
    holder->add_face(face_in(photo, 1.0f), {});                  // the holder writes freely
    // Readers are not held up.
    EXPECT_EQ(other->face_count(), 1);
  }
  EXPECT_GT(other->create_person("Ada"), 0);
}

TEST(StoreWriterLock, WaitingWriterIsToldThenProceeds) {
  const testing::TempDir dir("writer_lock_wait");
  auto holder = Catalog::open(dir.path());
  auto waiter = Catalog::open(dir.path());
  auto lock = holder->lock_for_writing({.command = "likeness people cluster"});
  std::atomic<bool> told{false}, got{false};
  WriterInfo seen;
  std::thread thread([&] {
    const auto mine = waiter->lock_for_writing({.on_wait = [&](const WriterInfo& info) {
      seen = info;
      told = true;
    }});
    got = true;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(told.load());
  EXPECT_FALSE(got.load());
  lock.reset();
  thread.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(seen.command, "likeness people cluster");
}

TEST(StoreWriterLock, TheKernelReleasesTheLockOfAKilledProcess) {
  const testing::TempDir dir("writer_lock_killed");
  Catalog::open(dir.path()).reset();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto catalog = Catalog::open(dir.path());
    const auto lock = catalog->lock_for_writing();
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  auto catalog = Catalog::open(dir.path());
  EXPECT_THROW(catalog->lock_for_writing({.wait = 0ms}), LibraryBusyError);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_NO_THROW(catalog->lock_for_writing({.wait = 0ms}));
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(StoreFaceKey, AFaceIsStoredOncePerPhotoAndBox) {
  const testing::TempDir dir("face_key");
  auto catalog = Catalog::open(dir.path());
  const std::int64_t photo = catalog->upsert_photo(photo_at("/p/a.jpg"));
  const std::vector<FaceVector> fused = {{"fused", {1.0f, 0.0f}}};
  const std::vector<FaceVector> both = {{"fused", {9.0f, 9.0f}}, {"model_a", {0.5f}}};
  const std::int64_t first = catalog->add_face(face_in(photo, 1.0f), fused);
  EXPECT_EQ(catalog->add_face(face_in(photo, 1.0f), both), first);
  EXPECT_EQ(catalog->face_count(), 1);
  const std::vector<FaceVector> stored = catalog->vectors_of_face(first);
  ASSERT_EQ(stored.size(), 2u);  // the missing vector was added, the stored one kept
  EXPECT_EQ(stored[0].values, fused[0].values);
  EXPECT_NE(catalog->add_face(face_in(photo, 2.0f), fused), first);
  EXPECT_EQ(catalog->face_count(), 2);
}

// A library indexed by two runs at once before schema 3 holds every face
// twice; the migration keeps the older copy with the links of both.
TEST(StoreFaceKey, MigrationMergesFacesStoredTwice) {
  const testing::TempDir dir("face_key_migration");
  std::int64_t kept = 0, copy = 0, person = 0, other = 0;
  {
    auto catalog = Catalog::open(dir.path());
    const std::int64_t photo = catalog->upsert_photo(photo_at("/p/a.jpg"));
    kept = catalog->add_face(face_in(photo, 1.0f), {});
    other = catalog->add_face(face_in(photo, 80.0f), {});
    person = catalog->create_person("Ada");
  }
  const fs::path db = dir.path() / "catalog.sqlite";
  // Back to schema 2: no key, no erased_photos; then the second copy.
  run_sql(db,
          "DROP INDEX faces_photo_box; DROP TABLE erased_photos; "
          "CREATE INDEX faces_photo ON faces (photo_id); "
          "INSERT INTO faces (photo_id, box_x, box_y, box_w, box_h, landmarks, detector_score, "
          "q_overall, q_sharpness, q_contrast, q_size, q_pose, q_exposure, yaw_deg, pitch_deg, "
          "roll_deg, attributes, created_at) SELECT photo_id, box_x, box_y, box_w, box_h, "
          "landmarks, detector_score, q_overall, q_sharpness, q_contrast, q_size, q_pose, "
          "q_exposure, yaw_deg, pitch_deg, roll_deg, attributes, created_at FROM faces "
          "WHERE box_x = 1; PRAGMA user_version = 2");
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(handle, "SELECT max(id) FROM faces", -1, &stmt, nullptr);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    copy = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(handle);
  }
  ASSERT_NE(copy, kept);
  run_sql(db, ("INSERT INTO face_person VALUES (" + std::to_string(copy) + ", " +
               std::to_string(person) + ", 'confirmed', 1)")
                  .c_str());
  auto catalog = Catalog::open(dir.path());
  EXPECT_EQ(catalog->schema_version(), 3);
  EXPECT_EQ(catalog->face_count(), 2);
  EXPECT_TRUE(catalog->find_face(kept));
  EXPECT_TRUE(catalog->find_face(other));
  EXPECT_FALSE(catalog->find_face(copy));
  const std::vector<FacePersonLink> links = catalog->faces_of_person(person);
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].face_id, kept);
  EXPECT_EQ(links[0].origin, LinkOrigin::kConfirmed);
  EXPECT_FALSE(catalog->is_erased_content(std::string(64, 'b')));
  catalog->remember_erased_content(std::string(64, 'b'));
  EXPECT_TRUE(catalog->is_erased_content(std::string(64, 'b')));
}

}  // namespace
}  // namespace likeness::store
