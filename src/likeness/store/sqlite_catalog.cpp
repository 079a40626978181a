// The embedded catalog: one SQLite file, dir/catalog.sqlite, in WAL mode.
//
// Schema (version 3):
//   photos(id, path UNIQUE, content_hash, size_bytes, mtime, capture_time NULL,
//          status 'indexed'|'failed'|'vanished', error, indexed_at)
//   faces(id, photo_id -> photos ON DELETE CASCADE, box_x, box_y, box_w, box_h,
//         landmarks BLOB (10 float32: x0 y0 ... x4 y4), detector_score,
//         q_overall, q_sharpness, q_contrast, q_size, q_pose, q_exposure,
//         yaw_deg, pitch_deg, roll_deg, attributes TEXT, created_at)
//   vectors(face_id -> faces ON DELETE CASCADE, model, data BLOB of float32,
//           PRIMARY KEY (face_id, model)); the fused vector is model 'fused'
//   persons(id, name NULL, created_at)
//   face_person(face_id -> faces, person_id -> persons, both ON DELETE CASCADE,
//               origin 'automatic'|'confirmed'|'rejected', created_at,
//               PRIMARY KEY (face_id, person_id))
//   audit_log(id, time, action, details JSON)                        (version 2)
//   settings(key PRIMARY KEY, value)                                  (version 2)
//   faces UNIQUE (photo_id, box_x, box_y, box_w, box_h): a face is stored once,
//   erased_photos(content_hash PRIMARY KEY, erased_at)                (version 3)
// Quality measures are columns (not JSON) so that search can filter on them.
// Floats in BLOBs are in the machine's byte order, which is little-endian on
// every platform this builds for (checked below).
//
// The version is PRAGMA user_version. kMigrations[i] takes the schema from
// version i to i + 1, each step in its own transaction; a catalog newer than
// kMigrations knows is refused before anything writes to it.
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>

#include "likeness/core/crash_points.h"
#include "likeness/io/file.h"
#include "likeness/store/catalog.h"
#include "likeness/store/crash_counting_vfs.h"
#include "likeness/store/encryption.h"
#include "likeness/store/writer_lock.h"

namespace likeness::store {

static_assert(std::endian::native == std::endian::little,
              "the catalog stores float32 BLOBs little-endian");

std::string_view to_string(PhotoStatus status) {
  switch (status) {
    case PhotoStatus::kIndexed:
      return "indexed";
    case PhotoStatus::kFailed:
      return "failed";
    case PhotoStatus::kVanished:
      return "vanished";
  }
  return "indexed";
}

std::string_view to_string(LinkOrigin origin) {
  switch (origin) {
    case LinkOrigin::kAutomatic:
      return "automatic";
    case LinkOrigin::kConfirmed:
      return "confirmed";
    case LinkOrigin::kRejected:
      return "rejected";
  }
  return "automatic";
}

namespace {

constexpr int kMaxProblemsPerKind = 20;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PhotoStatus parse_status(std::string_view text) {
  if (text == "failed") return PhotoStatus::kFailed;
  if (text == "vanished") return PhotoStatus::kVanished;
  return PhotoStatus::kIndexed;
}

LinkOrigin parse_origin(std::string_view text) {
  if (text == "confirmed") return LinkOrigin::kConfirmed;
  if (text == "rejected") return LinkOrigin::kRejected;
  return LinkOrigin::kAutomatic;
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

class Db;

// One use of a cached prepared statement: bind, step, read columns. Resets
// the statement when done so that it holds no read lock.
class Query {
 public:
  Query(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  Query& bind(int index, double value) {
    check(sqlite3_bind_double(stmt_, index, value));
    return *this;
  }
  Query& bind(int index, float value) { return bind(index, static_cast<double>(value)); }
  Query& bind(int index, std::string_view text) {
    check(
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  Query& bind(int index, const std::optional<std::string>& text) {
    if (!text) {
      check(sqlite3_bind_null(stmt_, index));
      return *this;
    }
    return bind(index, std::string_view(*text));
  }
  Query& bind_blob(int index, const void* data, std::size_t bytes) {
    // A zero-length blob from a null pointer would bind NULL; keep it a blob.
    static const char kEmpty = 0;
    check(sqlite3_bind_blob64(stmt_, index, bytes == 0 ? &kEmpty : data, bytes, SQLITE_TRANSIENT));
    return *this;
  }

  // true: a row is ready; false: done. Throws on error.
  bool step();
  // Runs a statement that returns no rows (or ignores them).
  void run() {
    while (step()) {
    }
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  float real(int col) const { return static_cast<float>(sqlite3_column_double(stmt_, col)); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* data = sqlite3_column_text(stmt_, col);
    const int bytes = sqlite3_column_bytes(stmt_, col);
    if (data == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(bytes));
  }
  std::optional<std::string> optional_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  std::vector<float> floats(int col) const {
    const void* data = sqlite3_column_blob(stmt_, col);
    const auto bytes = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
    std::vector<float> values(bytes / sizeof(float));
    if (data != nullptr && !values.empty()) {
      std::memcpy(values.data(), data, values.size() * sizeof(float));
    }
    return values;
  }

 private:
  void check(int rc);
  Db* db_;
  sqlite3_stmt* stmt_;
};

// The connection, its statement cache and the error messages.
class Db {
 public:
  // `key`: open through the encrypting VFS (store/encryption.h).
  Db(std::filesystem::path file, const CatalogOptions& options, const CatalogKey* key)
      : file_(std::move(file)) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (options.create_if_missing) flags |= SQLITE_OPEN_CREATE;
    std::error_code ignored;
    const bool is_new =
        !std::filesystem::exists(file_) || std::filesystem::file_size(file_, ignored) == 0;
    if (key != nullptr) vfs_ = std::make_unique<EncryptingVfs>(*key);
    const int rc = sqlite3_open_v2(file_.string().c_str(), &db_, flags,
                                   vfs_ != nullptr ? vfs_->name() : nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      if (!options.create_if_missing && !std::filesystem::exists(file_)) {
        throw StoreError("no library catalog at " + file_.string() +
                         ": run `likeness index DIR --library " + file_.parent_path().string() +
                         "` first, or pass the right --library");
      }
      throw StoreError("cannot open the library catalog " + file_.string() + ": " + message +
                       "; check that the folder exists, is writable and the disk is not full, "
                       "or use another --library");
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    if (vfs_ != nullptr) configure_encrypted(is_new);
  }
  ~Db() {
    cache_.clear();
    sqlite3_close(db_);
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Query query(const char* sql) {
    auto found = cache_.find(sql);
    if (found == cache_.end()) {
      sqlite3_stmt* stmt = nullptr;
      const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) fail(rc, "preparing a statement");
      found = cache_.emplace(sql, StmtPtr(stmt)).first;
    }
    return Query(*this, found->second.get());
  }

  // For statements without parameters (schema, transactions, pragmas with
  // constants from this file only).
  void exec(const char* sql, const char* doing) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
    sqlite3_free(error);
    if (rc != SQLITE_OK) fail(rc, doing);
  }

  std::int64_t single_int(const char* sql) {
    Query q = query(sql);
    return q.step() ? q.int64(0) : 0;
  }

  // Copies the write-ahead log into the database and truncates it to zero
  // bytes, waiting (busy timeout) for other connections' readers.
  void checkpoint_truncate(const char* doing) {
    int log_frames = 0, checkpointed = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames,
                                             &checkpointed);
    if (rc != SQLITE_OK) fail(rc, doing);
  }

  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  const std::filesystem::path& file() const { return file_; }
  bool encrypted() const { return vfs_ != nullptr; }
  const CatalogKey* key() const { return vfs_ != nullptr ? &vfs_->key() : nullptr; }

  [[noreturn]] void fail(int rc, std::string_view doing) const {
    // A page or log frame of an encrypted catalog that failed authentication:
    // the VFS's message names the file and the place.
    if (vfs_ != nullptr) {
      if (std::optional<std::string> tampered = vfs_->take_failure()) throw StoreError(*tampered);
    }
    const std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    const std::string where = "the library catalog " + file_.string();
    switch (rc & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        throw StoreError(where + " is locked by another process (" + detail + ", while " +
                         std::string(doing) +
                         "): wait for the other likeness command to finish, or use another "
                         "--library");
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        if (encrypted()) {
          throw StoreError(where + " cannot be decrypted (" + detail + ", while " +
                           std::string(doing) +
                           "): it is damaged, or it does not belong with the key file "
                           "catalog.key beside it; restore both from the same backup");
        }
        throw StoreError(where + " is corrupt or not a Likeness catalog (" + detail + ", while " +
                         std::string(doing) +
                         "): restore it from a backup, or move it away and re-index into a new "
                         "--library");
      case SQLITE_CONSTRAINT:
        throw UsageError("catalog: " + std::string(doing) + " refers to something missing or " +
                         "duplicated (" + detail + ")");
      case SQLITE_READONLY:
      case SQLITE_CANTOPEN:
      case SQLITE_PERM:
      case SQLITE_IOERR:
      case SQLITE_FULL:
        throw StoreError("cannot write " + where + " (" + detail + ", while " + std::string(doing) +
                         "): check the folder's permissions and free disk space, or use another "
                         "--library");
      default:
        throw StoreError(where + ": " + detail + " while " + std::string(doing));
    }
  }

 private:
  // An encrypted catalog: temporary tables and indices in memory, never in
  // temporary files (the VFS refuses those: they would be in the clear), and
  // on creation the fixed page size the VFS works in and an in-memory journal
  // for the one transaction before WAL mode takes over.
  void configure_encrypted(bool is_new) {
    exec("PRAGMA temp_store = MEMORY", "configuring the encrypted catalog");
    if (is_new) {
      exec("PRAGMA page_size = 4096; PRAGMA journal_mode = MEMORY",
           "creating the encrypted catalog");
    }
    if (single_int("PRAGMA page_size") != EncryptingVfs::kPageSize) {
      fail(SQLITE_NOTADB, "checking the encrypted catalog's page size");
    }
  }

  std::filesystem::path file_;
  std::unique_ptr<EncryptingVfs> vfs_;  // outlives db_ (closed in ~Db)
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, StmtPtr> cache_;
};

bool Query::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail(rc, std::string("running `") + sqlite3_sql(stmt_) + "`");
}

void Query::check(int rc) {
  if (rc != SQLITE_OK) db_->fail(rc, "binding a parameter");
}

// Makes a group of statements atomic whether or not a Transaction is open.
class Savepoint {
 public:
  explicit Savepoint(Db& db) : db_(db) { db_.exec("SAVEPOINT likeness_op", "starting a write"); }
  ~Savepoint() {
    if (!released_) {
      try {
        db_.exec("ROLLBACK TO likeness_op; RELEASE likeness_op", "undoing a failed write");
      } catch (...) {
        // The connection rolled back on its own (e.g. after an I/O error).
      }
    }
  }
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  void release() {
    db_.exec("RELEASE likeness_op", "finishing a write");
    released_ = true;
  }

 private:
  Db& db_;
  bool released_ = false;
};

// ---- schema migrations ----------------------------------------------------

void migrate_0_to_1(Db& db) {
  db.exec(R"sql(
CREATE TABLE photos (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  capture_time TEXT,
  status TEXT NOT NULL CHECK (status IN ('indexed', 'failed', 'vanished')),
  error TEXT NOT NULL DEFAULT '',
  indexed_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX photos_path ON photos (path);
CREATE INDEX photos_status ON photos (status);
CREATE TABLE faces (
  id INTEGER PRIMARY KEY,
  photo_id INTEGER NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
  box_x REAL NOT NULL, box_y REAL NOT NULL, box_w REAL NOT NULL, box_h REAL NOT NULL,
  landmarks BLOB NOT NULL,
  detector_score REAL NOT NULL,
  q_overall REAL NOT NULL, q_sharpness REAL NOT NULL, q_contrast REAL NOT NULL,
  q_size REAL NOT NULL, q_pose REAL NOT NULL, q_exposure REAL NOT NULL,
  yaw_deg REAL NOT NULL, pitch_deg REAL NOT NULL, roll_deg REAL NOT NULL,
  attributes TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX faces_photo ON faces (photo_id);
CREATE TABLE vectors (
  face_id INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (face_id, model)
) WITHOUT ROWID;
CREATE TABLE persons (
  id INTEGER PRIMARY KEY,
  name TEXT,
  created_at INTEGER NOT NULL
);
CREATE TABLE face_person (
  face_id INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
  origin TEXT NOT NULL CHECK (origin IN ('automatic', 'confirmed', 'rejected')),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (face_id, person_id)
) WITHOUT ROWID;
CREATE INDEX face_person_person ON face_person (person_id);
)sql",
          "creating the catalog (schema 1)");
}

void migrate_1_to_2(Db& db) {
  db.exec(R"sql(
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  action TEXT NOT NULL,
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql",
          "adding the audit log and settings (schema 2)");
}

// A face is stored once per photo and box. Before this key, two indexing runs
// at once could store every face of a photo twice; the older copy is kept,
// with the person links of both (the user's confirmations and rejections
// included), and the newer one deleted with its vectors.
void migrate_2_to_3(Db& db) {
  db.exec(R"sql(
CREATE TEMP TABLE face_copies AS
  SELECT f.id AS copy_id,
         (SELECT min(g.id) FROM faces g
           WHERE g.photo_id = f.photo_id AND g.box_x = f.box_x AND g.box_y = f.box_y
             AND g.box_w = f.box_w AND g.box_h = f.box_h) AS kept_id
    FROM faces f;
DELETE FROM temp.face_copies WHERE copy_id = kept_id;
INSERT OR IGNORE INTO face_person (face_id, person_id, origin, created_at)
  SELECT c.kept_id, l.person_id, l.origin, l.created_at
    FROM face_person l JOIN temp.face_copies c ON l.face_id = c.copy_id;
DELETE FROM faces WHERE id IN (SELECT copy_id FROM temp.face_copies);
DROP TABLE temp.face_copies;
DROP INDEX IF EXISTS faces_photo;
CREATE UNIQUE INDEX IF NOT EXISTS faces_photo_box ON faces (photo_id, box_x, box_y, box_w, box_h);
CREATE TABLE IF NOT EXISTS erased_photos (
  content_hash TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
          "keying faces by photo and box, remembering erased photos (schema 3)");
}

using MigrationStep = void (*)(Db&);
// kMigrations[i]: version i -> i + 1. A new schema version is one more entry.
constexpr MigrationStep kMigrations[] = {&migrate_0_to_1, &migrate_1_to_2, &migrate_2_to_3};
constexpr int kLatestVersion = static_cast<int>(std::size(kMigrations));

// PRAGMA takes no bound parameters; the values are this file's integers.
void set_user_version(Db& db, int version) {
  const std::string sql = "PRAGMA user_version = " + std::to_string(version);
  db.exec(sql.c_str(), "recording the schema version");
}

[[noreturn]] void refuse_newer(const Db& db, std::int64_t version) {
  throw StoreError("the library catalog " + db.file().string() +
                   " was created by a newer Likeness (schema " + std::to_string(version) +
                   ", this build knows " + std::to_string(kLatestVersion) +
                   "): upgrade Likeness or use another --library");
}

// ---- the catalog ------------------------------------------------------------

Photo read_photo(const Query& q) {
  Photo p;
  p.id = q.int64(0);
  p.path = q.text(1);
  p.content_hash = q.text(2);
  p.size_bytes = q.int64(3);
  p.mtime = q.int64(4);
  p.capture_time = q.optional_text(5);
  p.status = parse_status(q.text(6));
  p.error = q.text(7);
  p.indexed_at = q.int64(8);
  return p;
}

Face read_face(const Query& q) {
  Face f;
  f.id = q.int64(0);
  f.photo_id = q.int64(1);
  f.box = {q.real(2), q.real(3), q.real(4), q.real(5)};
  const std::vector<float> points = q.floats(6);
  for (std::size_t i = 0; i < f.landmarks.size() && 2 * i + 1 < points.size(); ++i) {
    f.landmarks[i] = {points[2 * i], points[2 * i + 1]};
  }
  f.detector_score = q.real(7);
  f.quality = {q.real(8),  q.real(9),  q.real(10), q.real(11), q.real(12),
               q.real(13), q.real(14), q.real(15), q.real(16)};
  f.attributes = q.text(17);
  f.created_at = q.int64(18);
  return f;
}

#define LIKENESS_FACE_COLUMNS                                                           \
  "id, photo_id, box_x, box_y, box_w, box_h, landmarks, detector_score, q_overall, "    \
  "q_sharpness, q_contrast, q_size, q_pose, q_exposure, yaw_deg, pitch_deg, roll_deg, " \
  "attributes, created_at"
#define LIKENESS_PHOTO_COLUMNS \
  "id, path, content_hash, size_bytes, mtime, capture_time, status, error, indexed_at"

class SqliteCatalog final : public Catalog {
 public:
  // `lock_file`: the library's writer lock (catalog.h, WriterInfo).
  SqliteCatalog(const std::filesystem::path& file, const CatalogOptions& options,
                const CatalogKey* key, std::filesystem::path lock_file)
      : db_(file, options, key),
        lock_file_(std::move(lock_file)),
        busy_timeout_(options.busy_timeout_ms),
        writer_([this](const WriterLockOptions& o) -> std::unique_ptr<WriterLock> {
          return FileWriterLock::acquire(lock_file_, o,
                                         "the library at " + db_.file().parent_path().string());
        }) {
    // Read the version before anything can write (journal_mode=WAL rewrites
    // the header), so that a newer catalog is left byte-for-byte untouched.
    const std::int64_t version = db_.single_int("PRAGMA user_version");
    if (version > kLatestVersion) refuse_newer(db_, version);
    {
      Query wal = db_.query("PRAGMA journal_mode = WAL");
      if (!wal.step() || wal.text(0) != "wal") {
        throw StoreError("the library catalog " + file.string() +
                         " cannot use write-ahead logging (is it on a network file system?): "
                         "use a --library on a local disk");
      }
    }
    // secure_delete: deleted rows are overwritten with zeros, not just
    // unlinked (faces are biometric data; see purge_deleted()).
    db_.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON",
             "configuring the catalog");
    migrate();
  }

  int schema_version() override { return static_cast<int>(db_.single_int("PRAGMA user_version")); }
  const CatalogKey* encryption_key() const override { return db_.key(); }
  Db& db() { return db_; }  // encrypt_catalog() copies through the connection

  std::int64_t upsert_photo(const Photo& photo) override {
    const auto lock = write_guard();
    Query q = db_.query(
        "INSERT INTO photos (path, content_hash, size_bytes, mtime, capture_time, status, error, "
        "indexed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (path) DO UPDATE SET content_hash = excluded.content_hash, "
        "size_bytes = excluded.size_bytes, mtime = excluded.mtime, "
        "capture_time = excluded.capture_time, status = excluded.status, "
        "error = excluded.error, indexed_at = excluded.indexed_at RETURNING id");
    q.bind(1, std::string_view(photo.path))
        .bind(2, std::string_view(photo.content_hash))
        .bind(3, photo.size_bytes)
        .bind(4, photo.mtime)
        .bind(5, photo.capture_time)
        .bind(6, to_string(photo.status))
        .bind(7, std::string_view(photo.error))
        .bind(8, photo.indexed_at != 0 ? photo.indexed_at : now_seconds());
    if (!q.step()) db_.fail(SQLITE_ERROR, "storing a photo");
    const std::int64_t id = q.int64(0);
    q.run();  // RETURNING completes the write only when stepped to the end
    return id;
  }

  std::optional<Photo> find_photo(std::string_view path) override {
    Query q = db_.query("SELECT " LIKENESS_PHOTO_COLUMNS " FROM photos WHERE path = ?1");
    q.bind(1, path);
    if (!q.step()) return std::nullopt;
    return read_photo(q);
  }

  std::optional<Photo> find_photo(std::int64_t photo_id) override {
    Query q = db_.query("SELECT " LIKENESS_PHOTO_COLUMNS " FROM photos WHERE id = ?1");
    q.bind(1, photo_id);
    if (!q.step()) return std::nullopt;
    return read_photo(q);
  }

  std::vector<Photo> list_photos(std::optional<PhotoStatus> status) override {
    Query q = db_.query("SELECT " LIKENESS_PHOTO_COLUMNS
                        " FROM photos WHERE ?1 IS NULL OR status = ?1 ORDER BY path");
    if (status) q.bind(1, to_string(*status));
    std::vector<Photo> photos;
    while (q.step()) photos.push_back(read_photo(q));
    return photos;
  }

  bool mark_vanished(std::int64_t photo_id) override {
    const auto lock = write_guard();
    db_.query("UPDATE photos SET status = 'vanished' WHERE id = ?1").bind(1, photo_id).run();
    return db_.changes() > 0;
  }

  bool delete_photo(std::int64_t photo_id) override {
    const auto lock = write_guard();
    db_.query("DELETE FROM photos WHERE id = ?1").bind(1, photo_id).run();
    return db_.changes() > 0;
  }

  std::int64_t clear_faces(std::int64_t photo_id) override {
    const auto lock = write_guard();
    db_.query("DELETE FROM faces WHERE photo_id = ?1").bind(1, photo_id).run();
    return db_.changes();
  }

  std::int64_t add_face(const Face& face, std::span<const FaceVector> vectors) override {
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      for (std::size_t j = i + 1; j < vectors.size(); ++j) {
        if (vectors[i].model == vectors[j].model) {
          throw UsageError("catalog: add_face got two '" + vectors[i].model + "' vectors");
        }
      }
    }
    const auto lock = write_guard();
    Savepoint sp(db_);
    std::int64_t face_id = 0;
    std::array<float, 10> points{};
    for (std::size_t i = 0; i < face.landmarks.size(); ++i) {
      points[2 * i] = face.landmarks[i].x;
      points[2 * i + 1] = face.landmarks[i].y;
    }
    {
      Query q = db_.query(
          "INSERT INTO faces (photo_id, box_x, box_y, box_w, box_h, landmarks, detector_score, "
          "q_overall, q_sharpness, q_contrast, q_size, q_pose, q_exposure, yaw_deg, pitch_deg, "
          "roll_deg, attributes, created_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
          "?18) ON CONFLICT (photo_id, box_x, box_y, box_w, box_h) DO UPDATE SET "
          "photo_id = excluded.photo_id RETURNING id");
      const FaceQuality& qa = face.quality;
      q.bind(1, face.photo_id)
          .bind(2, face.box.x)
          .bind(3, face.box.y)
          .bind(4, face.box.w)
          .bind(5, face.box.h)
          .bind_blob(6, points.data(), sizeof(points))
          .bind(7, face.detector_score)
          .bind(8, qa.overall)
          .bind(9, qa.sharpness)
          .bind(10, qa.contrast)
          .bind(11, qa.size)
          .bind(12, qa.pose)
          .bind(13, qa.exposure)
          .bind(14, qa.yaw_deg)
          .bind(15, qa.pitch_deg)
          .bind(16, qa.roll_deg)
          .bind(17, std::string_view(face.attributes))
          .bind(18, face.created_at != 0 ? face.created_at : now_seconds());
      // The new face's id, or the stored one's (catalog.h: one face per
      // photo and box; the no-op update makes RETURNING give it).
      if (!q.step()) db_.fail(SQLITE_ERROR, "storing a face");
      face_id = q.int64(0);
      q.run();  // RETURNING completes the write only when stepped to the end
    }
    for (const FaceVector& v : vectors) {
      db_.query(
             "INSERT INTO vectors (face_id, model, data) VALUES (?1, ?2, ?3) "
             "ON CONFLICT (face_id, model) DO NOTHING")
          .bind(1, face_id)
          .bind(2, std::string_view(v.model))
          .bind_blob(3, v.values.data(), v.values.size() * sizeof(float))
          .run();
    }
    sp.release();
    return face_id;
  }

  std::optional<Face> find_face(std::int64_t face_id) override {
    Query q = db_.query("SELECT " LIKENESS_FACE_COLUMNS " FROM faces WHERE id = ?1");
    q.bind(1, face_id);
    if (!q.step()) return std::nullopt;
    return read_face(q);
  }

  std::vector<Face> faces_of_photo(std::int64_t photo_id) override {
    Query q =
        db_.query("SELECT " LIKENESS_FACE_COLUMNS " FROM faces WHERE photo_id = ?1 ORDER BY id");
    q.bind(1, photo_id);
    std::vector<Face> faces;
    while (q.step()) faces.push_back(read_face(q));
    return faces;
  }

  std::vector<Face> all_faces() override {
    Query q = db_.query("SELECT " LIKENESS_FACE_COLUMNS " FROM faces ORDER BY id");
    std::vector<Face> faces;
    while (q.step()) faces.push_back(read_face(q));
    return faces;
  }

  std::vector<FaceVector> vectors_of_face(std::int64_t face_id) override {
    Query q = db_.query("SELECT model, data FROM vectors WHERE face_id = ?1 ORDER BY model");
    q.bind(1, face_id);
    std::vector<FaceVector> vectors;
    while (q.step()) vectors.push_back({q.text(0), q.floats(1)});
    return vectors;
  }

  std::vector<FaceIdVector> all_vectors(std::string_view model) override {
    Query q = db_.query("SELECT face_id, data FROM vectors WHERE model = ?1 ORDER BY face_id");
    q.bind(1, model);
    std::vector<FaceIdVector> vectors;
    while (q.step()) vectors.push_back({q.int64(0), q.floats(1)});
    return vectors;
  }

  std::vector<std::int64_t> face_ids_with_vector(std::string_view model) override {
    Query q = db_.query("SELECT face_id FROM vectors WHERE model = ?1 ORDER BY face_id");
    q.bind(1, model);
    std::vector<std::int64_t> ids;
    while (q.step()) ids.push_back(q.int64(0));
    return ids;
  }

  std::int64_t face_count() override { return db_.single_int("SELECT count(*) FROM faces"); }

  std::int64_t photo_count(PhotoStatus status) override {
    Query q = db_.query("SELECT count(*) FROM photos WHERE status = ?1");
    q.bind(1, to_string(status));
    q.step();
    return q.int64(0);
  }

  std::int64_t create_person(std::optional<std::string> name) override {
    const auto lock = write_guard();
    db_.query("INSERT INTO persons (name, created_at) VALUES (?1, ?2)")
        .bind(1, name)
        .bind(2, now_seconds())
        .run();
    return db_.last_insert_id();
  }

  bool rename_person(std::int64_t person_id, std::optional<std::string> name) override {
    const auto lock = write_guard();
    db_.query("UPDATE persons SET name = ?2 WHERE id = ?1").bind(1, person_id).bind(2, name).run();
    return db_.changes() > 0;
  }

  std::optional<Person> find_person(std::int64_t person_id) override {
    Query q = db_.query("SELECT id, name, created_at FROM persons WHERE id = ?1");
    q.bind(1, person_id);
    if (!q.step()) return std::nullopt;
    return Person{q.int64(0), q.optional_text(1), q.int64(2)};
  }

  std::vector<Person> list_people() override {
    Query q = db_.query("SELECT id, name, created_at FROM persons ORDER BY id");
    std::vector<Person> people;
    while (q.step()) people.push_back({q.int64(0), q.optional_text(1), q.int64(2)});
    return people;
  }

  void link_face(std::int64_t face_id, std::int64_t person_id, LinkOrigin origin) override {
    const auto lock = write_guard();
    db_.query(
           "INSERT INTO face_person (face_id, person_id, origin, created_at) "
           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (face_id, person_id) DO UPDATE SET "
           "origin = excluded.origin, created_at = excluded.created_at")
        .bind(1, face_id)
        .bind(2, person_id)
        .bind(3, to_string(origin))
        .bind(4, now_seconds())
        .run();
  }

  bool unlink_face(std::int64_t face_id, std::int64_t person_id) override {
    const auto lock = write_guard();
    db_.query("DELETE FROM face_person WHERE face_id = ?1 AND person_id = ?2")
        .bind(1, face_id)
        .bind(2, person_id)
        .run();
    return db_.changes() > 0;
  }

  std::vector<FacePersonLink> faces_of_person(std::int64_t person_id) override {
    Query q = db_.query(
        "SELECT face_id, person_id, origin, created_at FROM face_person WHERE person_id = ?1 "
        "ORDER BY face_id");
    q.bind(1, person_id);
    return read_links(q);
  }

  std::vector<FacePersonLink> people_of_face(std::int64_t face_id) override {
    Query q = db_.query(
        "SELECT face_id, person_id, origin, created_at FROM face_person WHERE face_id = ?1 "
        "ORDER BY person_id");
    q.bind(1, face_id);
    return read_links(q);
  }

  std::vector<FacePersonLink> all_links() override {
    Query q = db_.query(
        "SELECT face_id, person_id, origin, created_at FROM face_person "
        "ORDER BY person_id, face_id");
    return read_links(q);
  }

  bool delete_person(std::int64_t person_id) override {
    const auto lock = write_guard();
    db_.query("DELETE FROM persons WHERE id = ?1").bind(1, person_id).run();
    return db_.changes() > 0;
  }

  bool delete_face(std::int64_t face_id) override {
    const auto lock = write_guard();
    db_.query("DELETE FROM faces WHERE id = ?1").bind(1, face_id).run();
    return db_.changes() > 0;
  }

  void purge_deleted() override {
    if (db_.in_transaction()) throw UsageError("catalog: purge_deleted() inside a batch");
    const auto lock = write_guard();
    // TRUNCATE waits (busy timeout) for readers to finish, then empties the
    // log file; VACUUM writes the new database through the log, hence the
    // second checkpoint.
    db_.checkpoint_truncate("checkpointing the catalog before a vacuum");
    crash_point("purge: log checkpointed");
    db_.exec("VACUUM", "vacuuming the catalog");
    crash_point("purge: vacuumed");
    db_.checkpoint_truncate("checkpointing the catalog after a vacuum");
    crash_point("purge: log checkpointed after the vacuum");
  }

  void remember_erased_content(std::string_view content_hash) override {
    const auto lock = write_guard();
    db_.query(
           "INSERT INTO erased_photos (content_hash, erased_at) VALUES (?1, ?2) "
           "ON CONFLICT (content_hash) DO NOTHING")
        .bind(1, content_hash)
        .bind(2, now_seconds())
        .run();
  }

  bool is_erased_content(std::string_view content_hash) override {
    Query q = db_.query("SELECT 1 FROM erased_photos WHERE content_hash = ?1");
    q.bind(1, content_hash);
    return q.step();
  }

  std::unique_ptr<WriterLock> lock_for_writing(const WriterLockOptions& options) override {
    return writer_.lock(options);
  }
  bool holds_writer_lock() const override { return writer_.held(); }
  std::optional<WriterInfo> writer() override { return FileWriterLock::holder(lock_file_); }

  std::int64_t add_audit_entry(std::string_view action, std::string_view details_json) override {
    const auto lock = write_guard();
    db_.query("INSERT INTO audit_log (time, action, details) VALUES (?1, ?2, ?3)")
        .bind(1, now_seconds())
        .bind(2, action)
        .bind(3, details_json.empty() ? std::string_view("{}") : details_json)
        .run();
    return db_.last_insert_id();
  }

  std::optional<std::string> setting(std::string_view key) override {
    Query q = db_.query("SELECT value FROM settings WHERE key = ?1");
    q.bind(1, key);
    if (!q.step()) return std::nullopt;
    return q.text(0);
  }

  void set_setting(std::string_view key, std::optional<std::string> value) override {
    const auto lock = write_guard();
    if (!value) {
      db_.query("DELETE FROM settings WHERE key = ?1").bind(1, key).run();
      return;
    }
    db_.query(
           "INSERT INTO settings (key, value) VALUES (?1, ?2) "
           "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(1, key)
        .bind(2, std::string_view(*value))
        .run();
  }

  std::vector<AuditEntry> audit_log() override {
    Query q = db_.query("SELECT id, time, action, details FROM audit_log ORDER BY id");
    std::vector<AuditEntry> entries;
    while (q.step()) entries.push_back({q.int64(0), q.int64(1), q.text(2), q.text(3)});
    return entries;
  }

  CheckReport check() override {
    CheckReport report;
    {
      Query q = db_.query("PRAGMA integrity_check");
      while (q.step()) report.integrity.push_back(q.text(0));
    }
    report.orphan_faces = collect(
        "SELECT id, photo_id FROM faces WHERE photo_id NOT IN (SELECT id FROM photos) ORDER BY id",
        [](const std::string& face, const std::string& photo) {
          return "face " + face + " refers to missing photo " + photo;
        },
        report.problems);
    report.orphan_vectors = collect(
        "SELECT face_id, model FROM vectors WHERE face_id NOT IN (SELECT id FROM faces) "
        "ORDER BY face_id",
        [](const std::string& face, const std::string& model) {
          return "vector '" + model + "' refers to missing face " + face;
        },
        report.problems);
    report.links_missing_face = collect(
        "SELECT face_id, person_id FROM face_person WHERE face_id NOT IN (SELECT id FROM faces) "
        "ORDER BY face_id",
        [](const std::string& face, const std::string& person) {
          return "link of person " + person + " refers to missing face " + face;
        },
        report.problems);
    report.links_missing_person = collect(
        "SELECT face_id, person_id FROM face_person "
        "WHERE person_id NOT IN (SELECT id FROM persons) ORDER BY face_id",
        [](const std::string& face, const std::string& person) {
          return "link of face " + face + " refers to missing person " + person;
        },
        report.problems);
    report.malformed_vectors = collect(
        "SELECT face_id, model FROM vectors "
        "WHERE typeof(data) != 'blob' OR length(data) = 0 OR length(data) % 4 != 0 "
        "ORDER BY face_id",
        [](const std::string& face, const std::string& model) {
          return "vector '" + model + "' of face " + face + " is not a float32 array";
        },
        report.problems);
    if (report.integrity != std::vector<std::string>{"ok"}) {
      for (const std::string& line : report.integrity) {
        report.problems.push_back("storage: " + line);
      }
    }
    return report;
  }

 protected:
  void begin_batch() override {
    if (db_.in_transaction()) {
      throw UsageError("catalog: a Transaction is already open on this Catalog (they do not nest)");
    }
    batch_lock_ = write_guard();
    // IMMEDIATE takes SQLite's write lock now, so a busy catalog fails here
    // (after busy_timeout) rather than half-way through a batch.
    try {
      db_.exec("BEGIN IMMEDIATE", "starting a batch");
    } catch (...) {
      batch_lock_.reset();
      throw;
    }
  }
  void commit_batch() override {
    db_.exec("COMMIT", "committing a batch");
    batch_lock_.reset();
  }
  void rollback_batch() noexcept override {
    if (db_.in_transaction()) {
      try {
        db_.exec("ROLLBACK", "rolling back a batch");
      } catch (...) {
        // Nothing more can be done; SQLite rolls back on close.
      }
    }
    batch_lock_.reset();
  }

 private:
  static std::vector<FacePersonLink> read_links(Query& q) {
    std::vector<FacePersonLink> links;
    while (q.step()) {
      links.push_back({q.int64(0), q.int64(1), parse_origin(q.text(2)), q.int64(3)});
    }
    return links;
  }

  // Counts the rows of sql (two columns) and describes the first few.
  using Describe = std::string (*)(const std::string& col0, const std::string& col1);
  std::int64_t collect(const char* sql, Describe describe, std::vector<std::string>& problems) {
    Query q = db_.query(sql);
    std::int64_t count = 0;
    while (q.step()) {
      if (count++ < kMaxProblemsPerKind) problems.push_back(describe(q.text(0), q.text(1)));
    }
    return count;
  }

  // The writer lock for one write made without it (null when it is held:
  // by the caller, or by the open batch), waiting as long as SQLite would.
  std::unique_ptr<WriterLock> write_guard() {
    if (writer_.held()) return nullptr;
    return writer_.lock({.wait = std::chrono::milliseconds(busy_timeout_)});
  }

  void migrate() {
    // Up to date (the usual case): nothing to write, so no writer lock to
    // wait for while another process indexes.
    if (db_.single_int("PRAGMA user_version") == kLatestVersion) return;
    const auto lock = write_guard();
    while (true) {
      db_.exec("BEGIN IMMEDIATE", "upgrading the catalog");
      try {
        // Re-read under the write lock: another process may have migrated.
        const std::int64_t version = db_.single_int("PRAGMA user_version");
        if (version > kLatestVersion) refuse_newer(db_, version);
        if (version < 0) db_.fail(SQLITE_CORRUPT, "reading the schema version");
        if (version == kLatestVersion) {
          db_.exec("COMMIT", "upgrading the catalog");
          return;
        }
        kMigrations[static_cast<std::size_t>(version)](db_);
        set_user_version(db_, static_cast<int>(version) + 1);
        db_.exec("COMMIT", "upgrading the catalog");
      } catch (...) {
        rollback_batch();
        throw;
      }
    }
  }

  Db db_;
  std::filesystem::path lock_file_;
  int busy_timeout_;
  ReentrantWriterLock writer_;
  std::unique_ptr<WriterLock> batch_lock_;  // the open batch's, when it took one
};

// ---- encrypting an existing catalog (encrypt_catalog) ------------------------

constexpr std::string_view kEncryptingSuffix = ".encrypting";
constexpr std::string_view kWriterLockFile = "writer.lock";
constexpr std::string_view kNewKeySuffix = ".new";
// Every table, parents before children.
constexpr std::array<const char*, 8> kTables = {"photos",   "faces",        "vectors",
                                                "persons",  "face_person",  "audit_log",
                                                "settings", "erased_photos"};

// "file:" URI of a path, for ATTACH with an explicit VFS.
std::string file_uri(const std::filesystem::path& file, std::string_view vfs) {
  std::string uri = "file:";
  for (char c : std::filesystem::absolute(file).string()) {
    if (c == '%' || c == '?' || c == '#') {
      static constexpr char kDigits[] = "0123456789ABCDEF";
      const auto byte = static_cast<unsigned char>(c);
      uri += '%';
      uri += kDigits[byte >> 4];
      uri += kDigits[byte & 15];
    } else {
      uri += c;
    }
  }
  return uri + "?vfs=" + std::string(vfs);
}

void remove_with_log_files(const std::filesystem::path& file) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(file.string() + suffix, ignored);
  }
}

}  // namespace

// After the new key file is in place (catalog.key.new renamed to
// catalog.key: the commit point), the encrypted copy replaces the catalog,
// whose content is overwritten first; a crash in between leaves the copy
// beside it, complete and closed, and the next open() comes here again. A
// copy beside catalog.key.new is an attempt that did not commit: the catalog
// is still the one its key file describes, and the next attempt removes it.
// Returns the bytes of the old catalog overwritten.
static std::uintmax_t finish_interrupted_encryption(const std::filesystem::path& dir) {
  const std::filesystem::path catalog_file = dir / "catalog.sqlite";
  const std::filesystem::path copy = catalog_file.string() + std::string(kEncryptingSuffix);
  const std::filesystem::path new_key_file =
      (dir / kCatalogKeyFile).string() + std::string(kNewKeySuffix);
  if (!std::filesystem::exists(copy) || std::filesystem::exists(new_key_file)) return 0;
  const std::optional<std::uintmax_t> shredded = io::shred_file(catalog_file);
  if (!shredded) {
    throw StoreError("cannot overwrite the old catalog " + catalog_file.string() +
                     "; check its permissions, then run the command again");
  }
  std::error_code ec;
  std::filesystem::rename(copy, catalog_file, ec);
  if (ec) {
    throw StoreError("cannot finish encrypting the library at " + dir.string() + ": " +
                     ec.message() + "; check the folder's permissions");
  }
  return *shredded;
}

namespace {

// The copy-and-swap behind encrypt_catalog() and upgrade_catalog(): the
// catalog in `dir` (unencrypted when old_key is null) is brought up to date,
// copied table by table into a new catalog under a new key file of `format`
// and checked row for row; then the new key file replaces catalog.key and
// finish_interrupted_encryption() swaps the catalogs. The passphrase stays.
EncryptionReport rewrite_catalog(const std::filesystem::path& dir, std::string_view passphrase,
                                 const CatalogKey* old_key, PageFormat format) {
  const std::filesystem::path catalog_file = dir / "catalog.sqlite";
  // Brings the old catalog's schema up to date, replays its log (and checks
  // it opens); the last connection to close removes the log.
  {
    CatalogOptions options;
    options.create_if_missing = false;
    SqliteCatalog old(catalog_file, options, old_key, dir / kWriterLockFile);
  }
  // No other writer from here on (a migration above takes the lock for
  // itself); readers still connected are caught by the log check.
  const auto writing =
      FileWriterLock::acquire(dir / kWriterLockFile, {.wait = std::chrono::milliseconds(0)},
                              "the library at " + dir.string());
  if (std::filesystem::exists(catalog_file.string() + "-wal")) {
    throw StoreError("the library at " + dir.string() +
                     " is in use by another likeness process; stop it and try again");
  }
  const std::filesystem::path copy_file = catalog_file.string() + std::string(kEncryptingSuffix);
  const std::filesystem::path key_file = dir / kCatalogKeyFile;
  const std::filesystem::path new_key_file = key_file.string() + std::string(kNewKeySuffix);
  // Leftovers of an attempt that did not commit; the copy first, so that a
  // crash here cannot leave a copy without catalog.key.new (a committed one).
  remove_with_log_files(copy_file);
  std::error_code ignored;
  std::filesystem::remove(new_key_file, ignored);

  EncryptionReport report;
  const CatalogKey key = CatalogKey::create(new_key_file, passphrase, format);
  {
    // The old catalog is read through its own VFS, which must outlive the
    // copy's connection (declared first, destroyed last).
    std::optional<EncryptingVfs> old_vfs;
    if (old_key != nullptr) old_vfs.emplace(*old_key);
    CatalogOptions options;
    SqliteCatalog copy(copy_file, options, &key, copy_file.string() + ".lock");
    Db& db = copy.db();
    Query attach_statement = db.query("ATTACH DATABASE ?1 AS old");
    attach_statement.bind(
        1, std::string_view(file_uri(
               catalog_file, old_vfs ? old_vfs->name() : sqlite3_vfs_find(nullptr)->zName)));
    attach_statement.step();
    db.exec("BEGIN IMMEDIATE", "copying the catalog");
    for (const char* table : kTables) {
      const std::string copy_sql = std::string("DELETE FROM main.") + table +
                                   "; INSERT INTO main." + table + " SELECT * FROM old." + table;
      db.exec(copy_sql.c_str(), "copying the catalog");
      const std::string count_sql = std::string("SELECT (SELECT count(*) FROM main.") + table +
                                    "), (SELECT count(*) FROM old." + table + ")";
      Query counts = db.query(count_sql.c_str());
      if (!counts.step() || counts.int64(0) != counts.int64(1)) {
        db.exec("ROLLBACK", "copying the catalog");
        throw StoreError(std::string("encrypting the library: the copy of table ") + table +
                         " does not match the original; the library was left as it was");
      }
      report.rows_copied += counts.int64(0);
    }
    db.exec("COMMIT", "copying the catalog");
    db.exec("DETACH DATABASE old", "copying the catalog");
    db.checkpoint_truncate("writing the encrypted catalog");
  }
  std::filesystem::remove(copy_file.string() + ".lock", ignored);
  std::filesystem::rename(new_key_file, key_file);
  report.plain_bytes_overwritten = finish_interrupted_encryption(dir);
  return report;
}

}  // namespace

EncryptionReport encrypt_catalog_as(const std::filesystem::path& dir, std::string_view passphrase,
                                    PageFormat format) {
  if (catalog_is_encrypted(dir)) {
    throw StoreError("the library at " + dir.string() + " is encrypted already");
  }
  if (!std::filesystem::exists(dir / "catalog.sqlite")) {
    throw StoreError("no library catalog at " + (dir / "catalog.sqlite").string() + " to encrypt");
  }
  return rewrite_catalog(dir, passphrase, nullptr, format);
}

EncryptionReport encrypt_catalog(const std::filesystem::path& dir, std::string_view passphrase) {
  return encrypt_catalog_as(dir, passphrase, PageFormat::kAuthenticated);
}

EncryptionReport upgrade_catalog(const std::filesystem::path& dir, std::string_view passphrase) {
  const std::filesystem::path key_file = dir / kCatalogKeyFile;
  if (!std::filesystem::exists(key_file)) {
    throw StoreError("the library at " + dir.string() +
                     " is not encrypted: there is nothing to upgrade (to encrypt it: likeness "
                     "library encrypt)");
  }
  finish_interrupted_encryption(dir);
  const CatalogKey old_key = CatalogKey::unlock(key_file, passphrase);
  if (old_key.format() == PageFormat::kAuthenticated) {
    throw UsageError("the library at " + dir.string() +
                     " already uses authenticated encryption: there is nothing to upgrade");
  }
  return rewrite_catalog(dir, passphrase, &old_key, PageFormat::kAuthenticated);
}

std::unique_ptr<Catalog> open_old_format_catalog(const std::filesystem::path& dir,
                                                 std::string_view passphrase) {
  const CatalogKey key = CatalogKey::unlock(dir / kCatalogKeyFile, passphrase);
  if (key.format() != PageFormat::kXts) {
    throw UsageError("the library at " + dir.string() + " is not in the old format");
  }
  CatalogOptions options;
  options.create_if_missing = false;
  return std::make_unique<SqliteCatalog>(dir / "catalog.sqlite", options, &key,
                                         dir / kWriterLockFile);
}

std::unique_ptr<Catalog> Catalog::open(const std::filesystem::path& dir,
                                       const CatalogOptions& options) {
  if (options.backend != "embedded") {
    throw UsageError("unknown catalog backend '" + options.backend + "' (expected: embedded)");
  }
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      throw StoreError("cannot create the library folder " + dir.string() + ": " + ec.message() +
                       "; check its permissions or use another --library");
    }
  }
  const std::filesystem::path catalog_file = dir / "catalog.sqlite";
  const std::filesystem::path key_file = dir / kCatalogKeyFile;
  std::optional<CatalogKey> key;
  if (std::filesystem::exists(key_file)) {
    finish_interrupted_encryption(dir);
    if (options.passphrase.empty()) {
      throw LockedCatalogError("the library at " + dir.string() +
                               " is encrypted: give its passphrase (--passphrase-file FILE, or "
                               "the LIKENESS_PASSPHRASE environment variable)");
    }
    key = CatalogKey::unlock(key_file, options.passphrase);
    if (key->format() != PageFormat::kAuthenticated) {
      throw StoreError("the encrypted library at " + dir.string() +
                       " uses the old format (AES-256-XTS), which cannot tell when its files "
                       "were changed: upgrade it once with `likeness library upgrade --library " +
                       dir.string() +
                       "` (same passphrase; it rewrites the catalog, while no other likeness "
                       "command uses the library)");
    }
  } else if (!options.passphrase.empty()) {
    const bool creating = options.create_if_missing && options.encrypt_new_catalog &&
                          !std::filesystem::exists(catalog_file);
    if (!creating) {
      throw StoreError("the library at " + dir.string() +
                       " is not encrypted, but a passphrase was given; leave the passphrase "
                       "out, or encrypt the library first (likeness library encrypt)");
    }
    key = CatalogKey::create(key_file, options.passphrase);
  } else if (options.encrypt_new_catalog) {
    throw UsageError("an encrypted library needs a non-empty passphrase");
  }
  use_crash_counting_vfs_if_armed();
  return std::make_unique<SqliteCatalog>(catalog_file, options, key ? &*key : nullptr,
                                         dir / kWriterLockFile);
}

bool catalog_is_encrypted(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / kCatalogKeyFile);
}

int Catalog::latest_schema_version() { return kLatestVersion; }

}  // namespace likeness::store
