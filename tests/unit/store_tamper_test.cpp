// Tamper evidence of an encrypted catalog (store/encryption.h): one changed
// bit anywhere in catalog.sqlite, or anywhere in a log that holds committed
// transactions, is refused with an error that names the file (at open, at
// `check()`, or at the first read), never read as data; pages and frames
// cannot be moved or borrowed from another library; and what a crash leaves
// (a writer killed at random moments, a frame cut short) still opens with
// every committed transaction.
//
// Only the catalog's public interface is used to read, so these tests run
// unchanged against any encryption design (the AES-256-XTS one before
// format 2 accepted almost every flipped bit).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "likeness/store/catalog.h"
#include "likeness/store/encryption.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using likeness::store::Catalog;
using likeness::store::CatalogOptions;
using likeness::store::Face;
using likeness::store::FaceVector;
using likeness::store::Photo;
using likeness::store::PhotoStatus;
using likeness::store::StoreError;

namespace {

constexpr const char* kPassphrase = "tamper test passphrase";
constexpr int kFlips = 200;

CatalogOptions with_passphrase(bool create = false) {
  CatalogOptions options;
  options.passphrase = kPassphrase;
  options.encrypt_new_catalog = create;
  options.create_if_missing = create;
  return options;
}

std::string photo_path(int i) { return "/photos/tamper-" + std::to_string(i) + ".jpg"; }

std::vector<float> vector_of(int i, std::size_t size = 512) {
  std::mt19937 rng(static_cast<unsigned>(i) * 7919u + 1u);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size);
  for (float& x : v) x = dist(rng);
  return v;
}

// Photos [first, first + count) in one transaction, one face each with a
// fused vector (and `extra_models` more vectors, to make big transactions).
void add_photos(Catalog& catalog, int first, int count, int extra_models = 0) {
  likeness::store::Transaction batch(catalog);
  for (int i = first; i < first + count; ++i) {
    Photo photo;
    photo.path = photo_path(i);
    photo.content_hash = std::string(64, 'a');
    photo.status = PhotoStatus::kIndexed;
    Face face;
    face.photo_id = catalog.upsert_photo(photo);
    face.box = {1, 2, 3, 4};
    face.attributes = "{\"n\":" + std::to_string(i) + "}";
    std::vector<FaceVector> vectors = {{"fused", vector_of(i)}};
    for (int m = 0; m < extra_models; ++m) {
      vectors.push_back({"model" + std::to_string(m), vector_of(i * 10 + m + 1000000)});
    }
    catalog.add_face(face, vectors);
  }
  batch.commit();
}

// Every photo [0, count) with its face and vector, exactly as written.
bool holds_exactly(Catalog& catalog, int count, std::string& why) {
  if (catalog.face_count() != count) {
    why = std::to_string(catalog.face_count()) + " faces instead of " + std::to_string(count);
    return false;
  }
  for (int i = 0; i < count; ++i) {
    const auto photo = catalog.find_photo(photo_path(i));
    if (!photo) {
      why = "photo " + std::to_string(i) + " is missing";
      return false;
    }
    const auto faces = catalog.faces_of_photo(photo->id);
    if (faces.size() != 1 || faces[0].attributes != "{\"n\":" + std::to_string(i) + "}") {
      why = "photo " + std::to_string(i) + "'s face differs";
      return false;
    }
    const auto vectors = catalog.vectors_of_face(faces[0].id);
    const auto fused = std::find_if(vectors.begin(), vectors.end(),
                                    [](const FaceVector& v) { return v.model == "fused"; });
    if (fused == vectors.end() || fused->values != vector_of(i)) {
      why = "photo " + std::to_string(i) + "'s vector differs";
      return false;
    }
  }
  return true;
}

void copy_library(const fs::path& from, const fs::path& to) {
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    if (name == "catalog.sqlite" || name == "catalog.sqlite-wal" || name == "catalog.key") {
      fs::copy_file(entry.path(), to / name, fs::copy_options::overwrite_existing);
    }
  }
}

void flip_bit(const fs::path& file, std::uintmax_t offset, int bit) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(stream.good()) << file;
  stream.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  stream.read(&byte, 1);
  byte = static_cast<char>(byte ^ (1 << bit));
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(&byte, 1);
  ASSERT_TRUE(stream.good()) << file << " at " << offset;
}

std::string read_bytes(const fs::path& file, std::uintmax_t offset, std::size_t size) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  return bytes;
}

void write_bytes(const fs::path& file, std::uintmax_t offset, const std::string& bytes) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(stream.good());
}

// `count` offsets spread over [0, size): one at random in each of `count`
// equal slices, from a fixed seed.
std::vector<std::uintmax_t> spread_offsets(std::uintmax_t size, int count, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uintmax_t> offsets;
  for (int i = 0; i < count; ++i) {
    const std::uintmax_t low = size * static_cast<std::uintmax_t>(i) / count;
    const std::uintmax_t high = size * static_cast<std::uintmax_t>(i + 1) / count;
    offsets.push_back(std::uniform_int_distribution<std::uintmax_t>(low, high - 1)(rng));
  }
  return offsets;
}

struct Outcome {
  bool refused = false;  // a StoreError naming the file and "failed authentication"
  std::string what;      // the error, or what was accepted
};

// Opens the library in `dir`, checks it and reads everything back.
Outcome open_check_and_read(const fs::path& dir, const fs::path& changed_file, int photos) {
  Outcome outcome;
  try {
    auto catalog = Catalog::open(dir, with_passphrase());
    const auto report = catalog->check();
    std::string why;
    const bool same = holds_exactly(*catalog, photos, why);
    outcome.what = std::string("accepted; check ") + (report.ok() ? "ok" : "found problems") +
                   (same ? ", every row as written" : ", WRONG DATA: " + why);
  } catch (const StoreError& error) {
    outcome.what = error.what();
    outcome.refused =
        outcome.what.find(changed_file.string() + " failed authentication") != std::string::npos;
  }
  return outcome;
}

// The library in `pristine`, opened from a copy (opening it in place would
// checkpoint its log away), checked and read back whole.
void expect_untouched_copy_opens(const fs::path& pristine, int photos) {
  likeness::testing::TempDir copy("tamper_copy");
  copy_library(pristine, copy.path());
  const Outcome outcome = open_check_and_read(copy.path(), copy.path() / "catalog.sqlite", photos);
  EXPECT_EQ(outcome.what, "accepted; check ok, every row as written");
}

// Flips one bit at each offset of `file` in a fresh copy of `pristine` and
// expects every copy to be refused.
void expect_every_flip_refused(const fs::path& pristine, const std::string& file_name,
                               const std::vector<std::uintmax_t>& offsets, int photos,
                               unsigned seed) {
  std::mt19937 rng(seed);
  int refused = 0;
  std::vector<std::string> accepted;
  for (const std::uintmax_t offset : offsets) {
    likeness::testing::TempDir copy("tamper_copy");
    copy_library(pristine, copy.path());
    const int bit = std::uniform_int_distribution<int>(0, 7)(rng);
    flip_bit(copy.path() / file_name, offset, bit);
    const Outcome outcome = open_check_and_read(copy.path(), copy.path() / file_name, photos);
    if (outcome.refused) {
      ++refused;
    } else if (accepted.size() < 8) {
      accepted.push_back("offset " + std::to_string(offset) + " bit " + std::to_string(bit) + ": " +
                         outcome.what);
    }
  }
  std::string listing;
  for (const std::string& line : accepted) listing += "\n  " + line;
  EXPECT_EQ(refused, static_cast<int>(offsets.size()))
      << "flipped bits in " << file_name << " not refused as tampering (first few):" << listing;
}

// A closed library (no log), 8 transactions of 25 photos.
void make_closed_library(const fs::path& pristine) {
  {
    auto catalog = Catalog::open(pristine, with_passphrase(true));
    for (int batch = 0; batch < 8; ++batch) add_photos(*catalog, batch * 25, 25);
  }
  ASSERT_FALSE(fs::exists(pristine / "catalog.sqlite-wal")) << "closing checkpoints";
}

// A library whose log holds committed transactions that the catalog file
// does not: a copy of the folder taken while a connection has it open (what
// an unclean exit leaves). 8 transactions of 25 photos.
constexpr int kLogPhotos = 200;
void make_library_with_log(const fs::path& pristine) {
  likeness::testing::TempDir live("tamper_live");
  auto catalog = Catalog::open(live.path(), with_passphrase(true));
  for (int batch = 0; batch < 8; ++batch) add_photos(*catalog, batch * 25, 25);
  ASSERT_TRUE(fs::exists(live.path() / "catalog.sqlite-wal"));
  copy_library(live.path(), pristine);
}

TEST(StoreTamper, EveryChangedBitOfTheCatalogFileIsRefused) {
  likeness::testing::TempDir pristine("tamper_pristine");
  make_closed_library(pristine.path());
  const fs::path file = pristine.path() / "catalog.sqlite";
  {
    // Every page is one check() reads (no free pages): a flip anywhere is in
    // data the catalog uses.
    const auto key =
        likeness::store::CatalogKey::unlock(pristine.path() / "catalog.key", kPassphrase);
    likeness::store::EncryptingVfs vfs(key);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, vfs.name()), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA freelist_count", -1, &stmt, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(stmt, 0), 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }
  // An untouched copy opens and holds everything (else refusals prove nothing).
  expect_untouched_copy_opens(pristine.path(), kLogPhotos);

  const std::uintmax_t size = fs::file_size(file);
  ASSERT_GT(size, 500'000u);
  expect_every_flip_refused(pristine.path(), "catalog.sqlite", spread_offsets(size, kFlips, 20251),
                            kLogPhotos, 7);
}

TEST(StoreTamper, EveryChangedBitOfALogWithCommittedTransactionsIsRefused) {
  likeness::testing::TempDir pristine("tamper_pristine");
  make_library_with_log(pristine.path());
  const fs::path log = pristine.path() / "catalog.sqlite-wal";
  {
    // The log holds what the catalog file alone does not.
    likeness::testing::TempDir without_log("tamper_nolog");
    fs::copy_file(pristine.path() / "catalog.sqlite", without_log.path() / "catalog.sqlite");
    fs::copy_file(pristine.path() / "catalog.key", without_log.path() / "catalog.key");
    EXPECT_LT(Catalog::open(without_log.path(), with_passphrase())->face_count(), kLogPhotos / 2);
  }
  expect_untouched_copy_opens(pristine.path(), kLogPhotos);

  const std::uintmax_t size = fs::file_size(log);
  ASSERT_GT(size, 400'000u);
  std::vector<std::uintmax_t> offsets = spread_offsets(size, kFlips, 4242);
  // And by name: the log header (magic, salt, checksum), the first frame's
  // header (page number, commit size, salt, checksum) and the last frame's
  // (commit size, checksum) and its end (the tag, in format 2).
  const std::uintmax_t last = size - 4148;
  for (const std::uintmax_t named :
       {std::uintmax_t{3}, std::uintmax_t{19}, std::uintmax_t{27}, std::uintmax_t{60 + 2},
        std::uintmax_t{60 + 6}, std::uintmax_t{60 + 13}, std::uintmax_t{60 + 21}, last + 7,
        last + 18, size - 1}) {
    offsets.push_back(named);
  }
  expect_every_flip_refused(pristine.path(), "catalog.sqlite-wal", offsets, kLogPhotos, 11);
}

TEST(StoreTamper, PagesAndFramesCannotBeMovedOrBorrowed) {
  // Two closed libraries and two with a log, all under the same passphrase
  // (each has its own key: a new salt).
  likeness::testing::TempDir closed("tamper_closed"), closed_other("tamper_closed_other");
  likeness::testing::TempDir logged("tamper_logged"), logged_other("tamper_logged_other");
  make_closed_library(closed.path());
  make_closed_library(closed_other.path());
  make_library_with_log(logged.path());
  make_library_with_log(logged_other.path());
  const std::uintmax_t page = 4124, frame = 4148, frames_start = 60;
  struct Case {
    std::string name;
    const fs::path* library;
    std::string file;
    std::uintmax_t from, to, size;
    const fs::path* source;  // the library the bytes come from
  };
  const std::vector<Case> cases = {
      {"page 2 over page 3", &closed.path(), "catalog.sqlite", page, 2 * page, page,
       &closed.path()},
      {"page 3 of another library", &closed.path(), "catalog.sqlite", 2 * page, 2 * page, page,
       &closed_other.path()},
      {"frame 3 over frame 4", &logged.path(), "catalog.sqlite-wal", frames_start + 2 * frame,
       frames_start + 3 * frame, frame, &logged.path()},
      {"frame 4 of another library", &logged.path(), "catalog.sqlite-wal", frames_start + 3 * frame,
       frames_start + 3 * frame, frame, &logged_other.path()},
      {"the log header of another library", &logged.path(), "catalog.sqlite-wal", 0, 0,
       frames_start, &logged_other.path()},
  };
  for (const Case& c : cases) {
    likeness::testing::TempDir copy("tamper_copy");
    copy_library(*c.library, copy.path());
    const fs::path target = copy.path() / c.file;
    const std::string bytes = read_bytes(*c.source / c.file, c.from, c.size);
    ASSERT_EQ(bytes.size(), c.size);
    ASSERT_NE(bytes, read_bytes(target, c.to, c.size)) << c.name << ": nothing would change";
    write_bytes(target, c.to, bytes);
    const Outcome outcome = open_check_and_read(copy.path(), target, kLogPhotos);
    EXPECT_TRUE(outcome.refused) << c.name << ": " << outcome.what;
  }
}

TEST(StoreTamper, AFrameCutShortByACrashEndsTheLog) {
  // A write interrupted at the end of the log: SQLite ignores the unfinished
  // frame and everything after the last complete transaction before it.
  likeness::testing::TempDir pristine("tamper_pristine");
  make_library_with_log(pristine.path());
  likeness::testing::TempDir copy("tamper_copy");
  copy_library(pristine.path(), copy.path());
  const fs::path log = copy.path() / "catalog.sqlite-wal";
  fs::resize_file(log, fs::file_size(log) - 1000);  // into the last transaction's commit frame
  auto catalog = Catalog::open(copy.path(), with_passphrase());
  std::string why;
  EXPECT_TRUE(holds_exactly(*catalog, kLogPhotos - 25, why)) << why;
  EXPECT_TRUE(catalog->check().ok());
}

TEST(StoreTamper, AFrameWhoseTagIsZeroWasNeverFinishedAndEndsTheLog) {
  // What a rewrite killed half-way leaves (the VFS clears a frame's tag
  // before it rewrites the frame) or a crash that extended the file without
  // its data: the log ends before that frame, as after any unfinished write.
  likeness::testing::TempDir pristine("tamper_pristine");
  make_library_with_log(pristine.path());
  likeness::testing::TempDir copy("tamper_copy");
  copy_library(pristine.path(), copy.path());
  const fs::path log = copy.path() / "catalog.sqlite-wal";
  write_bytes(log, fs::file_size(log) - 16, std::string(16, '\0'));  // the last (commit) frame
  auto catalog = Catalog::open(copy.path(), with_passphrase());
  std::string why;
  EXPECT_TRUE(holds_exactly(*catalog, kLogPhotos - 25, why)) << why;
  EXPECT_TRUE(catalog->check().ok());
}

TEST(StoreTamper, ADamagedFirstPageWhoseNewerCopyIsInTheLogIsNotRead) {
  // SQLite peeks at the first bytes of the catalog file when it opens it
  // (to guess the page size) and then reads page 1 whole, from the log when
  // the log has it: a page 1 torn by a crash during a checkpoint must not
  // stop the replay, and is never read. Without the log it is refused.
  likeness::testing::TempDir pristine("tamper_pristine");
  make_library_with_log(pristine.path());
  {
    likeness::testing::TempDir copy("tamper_copy");
    copy_library(pristine.path(), copy.path());
    flip_bit(copy.path() / "catalog.sqlite", 50, 3);
    auto catalog = Catalog::open(copy.path(), with_passphrase());
    std::string why;
    EXPECT_TRUE(holds_exactly(*catalog, kLogPhotos, why)) << why;
    EXPECT_TRUE(catalog->check().ok());
  }
  likeness::testing::TempDir closed("tamper_closed");
  make_closed_library(closed.path());
  flip_bit(closed.path() / "catalog.sqlite", 50, 3);
  const Outcome outcome =
      open_check_and_read(closed.path(), closed.path() / "catalog.sqlite", kLogPhotos);
  EXPECT_TRUE(outcome.refused) << outcome.what;
}

TEST(StoreTamper, AWriterKilledAtAnyMomentLeavesALogThatReplays) {
  // A child process writes transactions big enough to spill pages into the
  // log before they commit (so SQLite rewrites frames in place) and to
  // trigger checkpoints and restarts of the log; it is killed with SIGKILL at
  // random moments. Every time, the library opens, passes check() and holds
  // exactly the transactions that committed.
  constexpr int kBatch = 300;
  likeness::testing::TempDir dir("tamper_kill");
  { add_photos(*Catalog::open(dir.path(), with_passphrase(true)), 0, kBatch, 4); }
  int photos = kBatch;
  std::mt19937 rng(99);
  for (int round = 0; round < 10; ++round) {
    int pipe_fds[2];
    ASSERT_EQ(pipe(pipe_fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipe_fds[0]);
      int code = 0;
      try {
        auto catalog = Catalog::open(dir.path(), with_passphrase());
        int next = static_cast<int>(catalog->face_count());
        (void)!write(pipe_fds[1], "o", 1);
        for (;;) {
          add_photos(*catalog, next, kBatch, 4);
          next += kBatch;
          (void)!write(pipe_fds[1], "c", 1);
        }
      } catch (...) {
        code = 3;
      }
      _exit(code);
    }
    close(pipe_fds[1]);
    char byte = 0;
    ASSERT_EQ(read(pipe_fds[0], &byte, 1), 1) << "the writer did not open the library";
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 1500)(rng)));
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the writer stopped on its own (exit " << WEXITSTATUS(status) << ")";
    int reported = 0;
    while (read(pipe_fds[0], &byte, 1) == 1) reported += byte == 'c';
    close(pipe_fds[0]);

    auto catalog = Catalog::open(dir.path(), with_passphrase());
    const int count = static_cast<int>(catalog->face_count());
    // A commit may have finished just before the kill without being reported.
    EXPECT_GE(count, photos + reported * kBatch) << "round " << round;
    EXPECT_LE(count, photos + (reported + 1) * kBatch) << "round " << round;
    EXPECT_EQ(count % kBatch, 0) << "round " << round << ": a transaction was half kept";
    EXPECT_TRUE(catalog->check().ok()) << "round " << round;
    std::string why;
    EXPECT_TRUE(holds_exactly(*catalog, count, why)) << "round " << round << ": " << why;
    photos = count;
  }
  EXPECT_GT(photos, 3 * kBatch) << "the writer hardly wrote anything";
}

}  // namespace
