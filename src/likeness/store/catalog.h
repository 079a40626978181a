// The library catalog: photos, faces, their vectors, people and face-person
// links, behind one interface so that a server backend can follow the
// embedded one.
//
//   auto catalog = likeness::store::Catalog::open(library_dir);
//   {
//     likeness::store::Transaction batch(*catalog);  // e.g. every 25 photos
//     std::int64_t photo = catalog->upsert_photo(p);
//     catalog->add_face(face_of(photo), {{"fused", fused}, {"faceres", v}});
//     batch.commit();  // leaving the scope without commit() rolls back
//   }
//
// Units: times are seconds since the Unix epoch (UTC); boxes and landmarks are
// in pixels of the photo as decoded (EXIF orientation applied), origin top
// left. Ids are positive; 0 means "not stored yet".
//
// Errors: "not found" is an empty optional (or false). A catalog that cannot
// be opened, is corrupt, locked by another process for longer than
// CatalogOptions::busy_timeout_ms, or was written by a newer Likeness throws
// StoreError with a message that says how to fix it. Referring to a photo,
// face or person that does not exist (add_face, link_face) is UsageError.
//
// Thread-safety: a Catalog is not thread-safe; use one Catalog per thread.
// Several Catalogs on the same library, in one process or several, are fine:
// readers never block; writers take the library's writer lock (below), and a
// write without it waits for it up to busy_timeout_ms.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "likeness/core/error.h"

namespace likeness::store {

// The catalog is unusable: cannot be opened or written, corrupt, locked, or
// from a newer Likeness. The message names the file and what to do.
class StoreError : public Error {
 public:
  using Error::Error;
};

enum class PhotoStatus { kIndexed, kFailed, kVanished };
// "indexed", "failed", "vanished".
std::string_view to_string(PhotoStatus status);

struct Photo {
  std::int64_t id = 0;
  std::string path;          // as given; UTF-8 or raw bytes, kept byte-exact
  std::string content_hash;  // lower-case hex sha256 of the file
  std::int64_t size_bytes = 0;
  std::int64_t mtime = 0;                   // seconds since epoch
  std::optional<std::string> capture_time;  // EXIF DateTimeOriginal (io::ExifInfo), if any
  PhotoStatus status = PhotoStatus::kIndexed;
  std::string error;            // why status is kFailed; empty otherwise
  std::int64_t indexed_at = 0;  // 0 on upsert = now
};

struct FaceBox {
  float x = 0.0f, y = 0.0f, w = 0.0f, h = 0.0f;  // top-left corner and size, photo pixels
};

struct FacePoint {
  float x = 0.0f, y = 0.0f;  // photo pixels
};

// The quality measures of quality/quality.h, each in [0, 1], and the pose in
// degrees.
struct FaceQuality {
  float overall = 0.0f;
  float sharpness = 0.0f, contrast = 0.0f, size = 0.0f, pose = 0.0f, exposure = 0.0f;
  float yaw_deg = 0.0f, pitch_deg = 0.0f, roll_deg = 0.0f;
};

struct Face {
  std::int64_t id = 0;
  std::int64_t photo_id = 0;
  FaceBox box;
  // The five ArcFace points: left eye, right eye, nose, left and right mouth
  // corner (detect/detector.h's order).
  std::array<FacePoint, 5> landmarks{};
  float detector_score = 0.0f;
  FaceQuality quality;
  std::string attributes;       // JSON text (age, expression, ...); may be empty
  std::int64_t created_at = 0;  // 0 on add_face = now
};

// The name under which the fused vector (match/ensemble.h) is stored.
inline constexpr std::string_view kFusedModel = "fused";

// One embedding of a face; its dimension is values.size(). Stored bit-exact.
struct FaceVector {
  std::string model;  // an Embedder name, or kFusedModel
  std::vector<float> values;
};

// A vector with the face it belongs to (index rebuilds).
struct FaceIdVector {
  std::int64_t face_id = 0;
  std::vector<float> values;
};

struct Person {
  std::int64_t id = 0;
  std::optional<std::string> name;  // empty for a cluster nobody named yet
  std::int64_t created_at = 0;
};

// automatic: put there by clustering; confirmed / rejected: by the user, and
// therefore kept by re-clustering.
enum class LinkOrigin { kAutomatic, kConfirmed, kRejected };
// "automatic", "confirmed", "rejected".
std::string_view to_string(LinkOrigin origin);

struct FacePersonLink {
  std::int64_t face_id = 0;
  std::int64_t person_id = 0;
  LinkOrigin origin = LinkOrigin::kAutomatic;
  std::int64_t created_at = 0;
};

// What check() found. Orphans can only appear when something bypassed the
// catalog (foreign keys are enforced on every write it makes).
struct CheckReport {
  std::vector<std::string> integrity;  // the storage engine's own check; {"ok"} when clean
  std::int64_t orphan_faces = 0;       // faces whose photo is missing
  std::int64_t orphan_vectors = 0;     // vectors whose face is missing
  std::int64_t links_missing_face = 0;
  std::int64_t links_missing_person = 0;
  std::int64_t malformed_vectors = 0;  // byte length not a positive multiple of 4
  std::vector<std::string> problems;   // one line per problem, the first 20 of each kind
  bool ok() const {
    return integrity == std::vector<std::string>{"ok"} && orphan_faces == 0 &&
           orphan_vectors == 0 && links_missing_face == 0 && links_missing_person == 0 &&
           malformed_vectors == 0;
  }
};

// One line of the audit log: what was done to the library, when, and how much.
// `details` is a JSON object of counts and settings; it never holds names,
// paths or vectors (the log must outlive what it records).
struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t time = 0;  // seconds since the epoch
  std::string action;     // e.g. "erase", "export", "merge", "rename", "retention"
  std::string details;    // JSON object text
};

// ---- One writer per library ------------------------------------------------
//
// Every write to a library happens under its writer lock: an indexing run, an
// erasure with its purge, a person's rename. Commands that write hold it for
// their whole run (Catalog::lock_for_writing), so that two `likeness index`
// runs, or a server's index job and a CLI run, never decide from the same
// catalog state that a photo is new; a write made without it takes it for
// its own duration. Readers (search, the server's queries) never take it.
// The lock is the operating system's (the embedded backend: flock() on
// dir/catalog.lock), so the kernel releases it when its process ends, however
// it ends.

// Who holds the writer lock, as it recorded itself.
struct WriterInfo {
  std::int64_t pid = 0;  // 0: unknown (it did not record itself yet)
  std::string host;
  std::string command;     // "likeness index", "likeness serve" (no paths or names)
  std::int64_t since = 0;  // seconds since the epoch
  // "another likeness process (pid 4242, `likeness index`, for 3 min)", or
  // "this process (...)" for another Catalog of the caller's own process
  // (a server's indexing run, seen from its edits).
  std::string describe() const;
};

// The lock is held by another writer and the wait allowed for it ran out.
class LibraryBusyError : public StoreError {
 public:
  LibraryBusyError(const std::string& message, WriterInfo holder)
      : StoreError(message), holder_(std::move(holder)) {}
  const WriterInfo& holder() const { return holder_; }

 private:
  WriterInfo holder_;
};

struct WriterLockOptions {
  // Shown to a second writer; default: this program's command (its words up
  // to the first option, path or name, so that nothing personal is written).
  std::string command = {};
  // How long to wait for another writer: negative waits as long as it takes,
  // zero not at all.
  std::chrono::milliseconds wait{-1};
  // Called once, from the waiting thread, when another writer holds the lock
  // and this one starts to wait for it (e.g. to say so on the terminal).
  std::function<void(const WriterInfo&)> on_wait = {};
};

// A held writer lock: released when destroyed. Must not outlive the Catalog
// that gave it.
class WriterLock {
 public:
  virtual ~WriterLock() = default;
};

struct CatalogOptions {
  // "embedded" (the only one so far): a single file, dir/catalog.sqlite.
  std::string backend = "embedded";
  // false: a missing catalog is a StoreError instead of being created.
  bool create_if_missing = true;
  // How long a write waits for another process's write before StoreError.
  int busy_timeout_ms = 10000;
  // Encryption at rest (store/encryption.h). A catalog with a key file
  // (dir/catalog.key) needs its passphrase: without one, open() throws
  // LockedCatalogError; with a wrong one, StoreError. A passphrase given for
  // a catalog without a key file is a StoreError too (it is not encrypted),
  // unless the catalog is being created and encrypt_new_catalog is set.
  std::string passphrase = {};
  bool encrypt_new_catalog = false;
};

// The catalog is encrypted and no passphrase was given.
class LockedCatalogError : public StoreError {
 public:
  using StoreError::StoreError;
};

// Whether the library folder `dir` holds an encrypted catalog (has a key file).
bool catalog_is_encrypted(const std::filesystem::path& dir);

// Encrypts the existing unencrypted catalog in `dir` with `passphrase`: a new
// encrypted copy is written beside it and checked row for row, the key file
// is put in place, the old file is overwritten with zeros and replaced. A
// crash at any point leaves either the old catalog or the new one (open()
// finishes an interrupted swap). No other process may have the library open.
// Throws StoreError (already encrypted, no catalog, in use, copy mismatch).
struct EncryptionReport {
  std::int64_t rows_copied = 0;
  std::uintmax_t plain_bytes_overwritten = 0;  // the old catalog's
};
EncryptionReport encrypt_catalog(const std::filesystem::path& dir, std::string_view passphrase);

class Transaction;
class CatalogKey;  // store/encryption.h

class Catalog {
 public:
  // Opens (creating dir and the catalog when missing and allowed) and brings
  // the schema up to date one migration step at a time. Throws StoreError for
  // a catalog that cannot be opened or migrated, or whose schema is newer
  // than this build knows (the catalog is then left untouched); UsageError
  // for an unknown backend.
  static std::unique_ptr<Catalog> open(const std::filesystem::path& dir,
                                       const CatalogOptions& options = {});
  // The schema version this build writes.
  static int latest_schema_version();

  virtual ~Catalog() = default;

  // The schema version recorded in the catalog.
  virtual int schema_version() = 0;
  // Opened with a passphrase (store/encryption.h): nothing derived from it
  // may be written to disk in the clear; what is saved beside it is sealed
  // with its key (store::seal). Null for an unencrypted catalog.
  virtual const CatalogKey* encryption_key() const = 0;
  bool encrypted() const { return encryption_key() != nullptr; }

  // Photos. upsert_photo inserts or, for a path already known, updates every
  // field (its faces stay: clear_faces() before re-indexing a changed file);
  // returns the photo's id (photo.id is ignored).
  virtual std::int64_t upsert_photo(const Photo& photo) = 0;
  virtual std::optional<Photo> find_photo(std::string_view path) = 0;
  virtual std::optional<Photo> find_photo(std::int64_t photo_id) = 0;
  // Ordered by path; every status when status is empty.
  virtual std::vector<Photo> list_photos(std::optional<PhotoStatus> status = {}) = 0;
  // false when there is no such photo.
  virtual bool mark_vanished(std::int64_t photo_id) = 0;
  // Removes the photo with its faces, their vectors and links. false when
  // there is no such photo.
  virtual bool delete_photo(std::int64_t photo_id) = 0;
  // Removes the photo's faces (with vectors and links); returns how many.
  virtual std::int64_t clear_faces(std::int64_t photo_id) = 0;

  // Faces. add_face stores face (face.id ignored) and its vectors atomically
  // and returns the new id. A face of the same photo with the same box is one
  // face (the catalog's key: photo, box; and face, model for vectors): it is
  // not stored twice, and its existing id is returned with the vectors it
  // lacked added. A missing photo or two vectors of one model is UsageError.
  virtual std::int64_t add_face(const Face& face, std::span<const FaceVector> vectors) = 0;
  virtual std::optional<Face> find_face(std::int64_t face_id) = 0;
  virtual std::vector<Face> faces_of_photo(std::int64_t photo_id) = 0;  // by id
  // Every face, by id (clustering reads the whole library at once).
  virtual std::vector<Face> all_faces() = 0;
  virtual std::vector<FaceVector> vectors_of_face(std::int64_t face_id) = 0;  // by model
  // Every face's vector of one model, by face id (for index rebuilds).
  virtual std::vector<FaceIdVector> all_vectors(std::string_view model = kFusedModel) = 0;
  // Ids of the faces that have a vector of `model`, ascending (cheap: no
  // vector data is read; the library compares them with its vector index).
  virtual std::vector<std::int64_t> face_ids_with_vector(std::string_view model = kFusedModel) = 0;
  virtual std::int64_t face_count() = 0;
  // Photos per status.
  virtual std::int64_t photo_count(PhotoStatus status) = 0;

  // People. Names need not be unique.
  virtual std::int64_t create_person(std::optional<std::string> name = {}) = 0;
  virtual bool rename_person(std::int64_t person_id, std::optional<std::string> name) = 0;
  virtual std::optional<Person> find_person(std::int64_t person_id) = 0;
  virtual std::vector<Person> list_people() = 0;  // by id
  // Links (or re-links with a new origin) a face to a person; at most one link
  // per (face, person) pair. A missing face or person is UsageError.
  virtual void link_face(std::int64_t face_id, std::int64_t person_id, LinkOrigin origin) = 0;
  virtual bool unlink_face(std::int64_t face_id, std::int64_t person_id) = 0;
  // The person's links, rejected ones included, by face id.
  virtual std::vector<FacePersonLink> faces_of_person(std::int64_t person_id) = 0;
  // The face's links, rejected ones included, by person id.
  virtual std::vector<FacePersonLink> people_of_face(std::int64_t face_id) = 0;
  // Every link, by person id then face id (re-clustering reads them at once).
  virtual std::vector<FacePersonLink> all_links() = 0;
  // Removes the person and their links (the faces stay). false when there is
  // no such person.
  virtual bool delete_person(std::int64_t person_id) = 0;
  // Deletes one face with its vectors and person links; false when absent.
  virtual bool delete_face(std::int64_t face_id) = 0;

  // Makes what was deleted unrecoverable from the catalog's files. Deleted
  // content is overwritten as it is deleted (secure_delete is on for every
  // connection), but older copies of the pages can still sit in the
  // write-ahead log and in free pages: this checkpoints the log into the
  // database and truncates it, then vacuums (rewrites the file without free
  // pages) and checkpoints again. Slow on a large library; not inside a batch.
  virtual void purge_deleted() = 0;

  // Photos erased with their records (erase --with-photos) are remembered by
  // the sha256 of their bytes only, so that indexing the file again does not
  // bring the erased faces back; nothing else about them is kept.
  virtual void remember_erased_content(std::string_view content_hash) = 0;
  virtual bool is_erased_content(std::string_view content_hash) = 0;

  // The audit log (append-only).
  virtual std::int64_t add_audit_entry(std::string_view action, std::string_view details_json) = 0;
  virtual std::vector<AuditEntry> audit_log() = 0;  // oldest first

  // Library settings (e.g. the retention policy): text values by key.
  virtual std::optional<std::string> setting(std::string_view key) = 0;
  virtual void set_setting(std::string_view key, std::optional<std::string> value) = 0;

  // Integrity of the catalog alone (the vector index is checked above it).
  virtual CheckReport check() = 0;

  // Takes the library's writer lock (see WriterInfo above) until the returned
  // object is destroyed. Taking it again through the same Catalog while it is
  // held returns at once. Throws LibraryBusyError when options.wait runs out,
  // StoreError when the lock cannot be made (the folder is not writable).
  virtual std::unique_ptr<WriterLock> lock_for_writing(const WriterLockOptions& options = {}) = 0;
  // Whether this Catalog holds the writer lock.
  virtual bool holds_writer_lock() const = 0;
  // Who holds it now, from any process; nullopt when nobody does.
  virtual std::optional<WriterInfo> writer() = 0;

  // Runs fn inside a Transaction: committed when fn returns, rolled back when
  // it throws (the exception propagates).
  template <class Fn>
  void write_batch(Fn&& fn);

 protected:
  friend class Transaction;
  // Start / end a write transaction. Transactions do not nest: begin_batch()
  // inside another is UsageError.
  virtual void begin_batch() = 0;
  virtual void commit_batch() = 0;
  virtual void rollback_batch() noexcept = 0;
};

// A batch of writes: everything done on the catalog between construction and
// commit() becomes visible (and durable) at once; destroyed without commit()
// (an exception, a return) it is rolled back. Holds the catalog's write lock:
// keep batches short (the indexer commits every 25 photos).
class Transaction {
 public:
  explicit Transaction(Catalog& catalog) : catalog_(&catalog) { catalog_->begin_batch(); }
  ~Transaction() {
    if (catalog_ != nullptr) catalog_->rollback_batch();
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Throws StoreError when the commit fails (the batch is then rolled back).
  void commit() {
    if (catalog_ == nullptr) throw UsageError("catalog: Transaction committed twice");
    Catalog* catalog = std::exchange(catalog_, nullptr);
    try {
      catalog->commit_batch();
    } catch (...) {
      catalog->rollback_batch();
      throw;
    }
  }

 private:
  Catalog* catalog_;
};

template <class Fn>
void Catalog::write_batch(Fn&& fn) {
  Transaction batch(*this);
  std::forward<Fn>(fn)();
  batch.commit();
}

}  // namespace likeness::store
