#include "likeness/library/library.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "likeness/core/crash_points.h"
#include "likeness/io/file.h"
#include "likeness/store/encryption.h"

namespace likeness::library {
namespace {

// The sealed index: a 24-byte stamp (dimension, count, id hash; uint64 each)
// then the index's bytes, sealed with the catalog's key.
constexpr std::string_view kSealedIndexPurpose = "vector index";
constexpr std::size_t kSealedStampBytes = 3 * sizeof(std::uint64_t);

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

store::VectorIndexOptions index_options(std::size_t dimension, std::size_t faces) {
  store::VectorIndexOptions options;
  options.dimension = dimension;
  // Room for the faces plus some growth, so that an indexing run does not
  // start with a capacity doubling.
  options.max_elements = std::max(options.max_elements, faces + faces / 4);
  return options;
}

// The catalog setting that marks an erasure whose purge has not finished.
constexpr std::string_view kErasurePendingSetting = "erasure.purge_pending";

// VectorIndex::save() writes through temporary files beside the index; a
// process killed during a save leaves them behind. Those older than `age`
// cannot belong to a save still running (with the writer lock held, no save
// can be running: age 0).
void remove_abandoned_temporaries(const std::filesystem::path& dir,
                                  std::chrono::seconds age = std::chrono::hours(1)) {
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - age;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("faces.hnsw", 0) != 0 || name.find(".tmp") == std::string::npos) continue;
    std::error_code ignored;
    if (entry.last_write_time(ignored) <= cutoff) std::filesystem::remove(entry.path(), ignored);
  }
}

}  // namespace

std::filesystem::path default_library_dir() {
  if (const char* env = std::getenv("LIKENESS_LIBRARY"); env != nullptr && *env != '\0') {
    return env;
  }
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "likeness" / "library";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    throw UsageError(
        "cannot find a default library folder: HOME is not set; pass --library DIR or set "
        "LIKENESS_LIBRARY");
  }
  return std::filesystem::path(home) / ".local" / "share" / "likeness" / "library";
}

std::string_view to_string(IndexState::Source source) {
  switch (source) {
    case IndexState::Source::kNotLoaded:
      return "not loaded";
    case IndexState::Source::kLoaded:
      return "loaded";
    case IndexState::Source::kRepaired:
      return "repaired";
    case IndexState::Source::kRebuilt:
      return "rebuilt";
    case IndexState::Source::kEmpty:
      return "empty";
  }
  return "unknown";
}

std::unique_ptr<Library> Library::open(const std::filesystem::path& dir,
                                       const LibraryOptions& options) {
  if (!options.create_if_missing && !std::filesystem::exists(dir / "catalog.sqlite")) {
    throw store::StoreError("no library at " + dir.string() +
                            ": index photos into it first (likeness index --library " +
                            dir.string() + " FOLDER), or pass the right --library");
  }
  store::CatalogOptions catalog_options;
  catalog_options.create_if_missing = options.create_if_missing;
  catalog_options.busy_timeout_ms = options.busy_timeout_ms;
  catalog_options.passphrase = options.passphrase;
  catalog_options.encrypt_new_catalog = options.encrypt_if_created;
  auto catalog = store::Catalog::open(dir, catalog_options);
  remove_abandoned_temporaries(dir);
  auto library = std::unique_ptr<Library>(new Library(dir, std::move(catalog)));
  if (options.writer) library->writer_lock_ = library->catalog_->lock_for_writing(*options.writer);
  // An index file beside an encrypted catalog can only be a leftover from
  // before the library was encrypted; it holds vectors in the clear.
  if (library->catalog_->encrypted()) library->remove_plain_index_files();
  if (options.finish_interrupted_work) {
    library->finish_interrupted_erasure(std::chrono::milliseconds(options.busy_timeout_ms));
  }
  return library;
}

bool Library::erasure_is_pending() { return catalog_->setting(kErasurePendingSetting).has_value(); }

void Library::mark_erasure_pending() { catalog_->set_setting(kErasurePendingSetting, "{}"); }

void Library::finish_interrupted_erasure(std::chrono::milliseconds wait) {
  if (!erasure_is_pending()) return;
  try {
    lock_for_writing({.wait = wait});  // finishes it, unless another did meanwhile
  } catch (const store::LibraryBusyError&) {
    // Its holder took the lock after the erasure stopped, and finishes the
    // erasure first thing (open() or lock_for_writing()).
  }
}

std::unique_ptr<store::WriterLock> Library::lock_for_writing(
    const store::WriterLockOptions& options) {
  std::unique_ptr<store::WriterLock> lock = catalog_->lock_for_writing(options);
  if (erasure_is_pending()) {
    purge_erased();
    finished_interrupted_erasure_ = true;
  }
  return lock;
}

void Library::purge_erased() {
  const auto lock = catalog_->lock_for_writing({});
  catalog_->purge_deleted();
  remove_abandoned_temporaries(dir_, std::chrono::seconds(0));
  rewrite_index("erasure");
  crash_point("purge: index rewritten");
  catalog_->set_setting(kErasurePendingSetting, std::nullopt);
  crash_point("purge: finished");
}

Library::Library(std::filesystem::path dir, std::unique_ptr<store::Catalog> catalog)
    : dir_(std::move(dir)), catalog_(std::move(catalog)) {}

Library::~Library() {
  // Saving here keeps an index that a caller forgot to save; a failure is not
  // worth an exception from a destructor (the next open repairs the index).
  try {
    save_index();
  } catch (...) {
  }
}

const store::VectorIndex* Library::vector_index() {
  ensure_index();
  return index_.get();
}

void Library::ensure_index() {
  if (state_.source != IndexState::Source::kNotLoaded) return;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::int64_t> ids = catalog_->face_ids_with_vector(store::kFusedModel);
  if (ids.empty()) {
    state_ = {IndexState::Source::kEmpty, "", 0, seconds_since(start)};
    return;
  }
  SavedIndex saved = read_saved_index(ids.size());
  if (!saved.index) {
    rebuild_index(ids, saved.why_not);
    state_.seconds = seconds_since(start);
    return;
  }
  index_ = std::move(saved.index);
  const store::IndexStamp stamp = saved.stamp;
  if (stamp == store::stamp_of(ids, stamp.dimension)) {
    state_ = {IndexState::Source::kLoaded, "", ids.size(), seconds_since(start)};
    return;
  }
  // Out of step. The usual cause is a run interrupted after committing faces
  // but before saving the index: then the index lacks some faces and holds
  // nothing extra, and adding the missing ones is enough.
  std::vector<std::int64_t> missing;
  for (std::int64_t id : ids) {
    if (!index_->contains(id)) missing.push_back(id);
  }
  if (index_->size() + missing.size() != ids.size()) {
    rebuild_index(ids, "the saved index holds faces the catalog no longer has");
    state_.seconds = seconds_since(start);
    return;
  }
  for (std::int64_t id : missing) {
    for (const store::FaceVector& v : catalog_->vectors_of_face(id)) {
      if (v.model != store::kFusedModel) continue;
      if (v.values.size() != index_->dimension()) {
        rebuild_index(ids, "the catalog holds vectors of another length than the index");
        state_.seconds = seconds_since(start);
        return;
      }
      index_->add(id, v.values);
    }
  }
  index_dirty_ = true;
  save_index();
  state_ = {IndexState::Source::kRepaired,
            "added " + std::to_string(missing.size()) + " faces the saved index lacked", ids.size(),
            seconds_since(start)};
}

void Library::rebuild_index(std::span<const std::int64_t> ids, std::string reason) {
  std::vector<store::FaceIdVector> vectors = catalog_->all_vectors(store::kFusedModel);
  index_.reset();
  if (vectors.empty()) {
    state_ = {IndexState::Source::kEmpty, std::move(reason), 0, 0.0};
    return;
  }
  const std::size_t dimension = vectors.front().values.size();
  for (const store::FaceIdVector& v : vectors) {
    if (v.values.size() != dimension) {
      throw store::StoreError(
          "the library at " + dir_.string() + " holds face vectors of " +
          std::to_string(dimension) + " and of " + std::to_string(v.values.size()) +
          " numbers (the recognition models changed between indexing runs); re-index it into "
          "a new library");
    }
  }
  index_ = store::VectorIndex::create(index_options(dimension, ids.size()));
  {
    // One batch on every core: rebuilding a large library is the slow path.
    std::vector<std::int64_t> face_ids;
    std::vector<float> flat;
    face_ids.reserve(vectors.size());
    flat.reserve(vectors.size() * dimension);
    for (store::FaceIdVector& v : vectors) {
      face_ids.push_back(v.face_id);
      flat.insert(flat.end(), v.values.begin(), v.values.end());
      std::vector<float>().swap(v.values);
    }
    index_->add_batch(face_ids, flat, 0);
  }
  vectors.clear();
  index_dirty_ = true;
  save_index();
  state_ = {IndexState::Source::kRebuilt, std::move(reason), ids.size(), 0.0};
}

void Library::add_to_index(std::int64_t face_id, std::span<const float> fused) {
  ensure_index();
  if (!index_) {
    index_ = store::VectorIndex::create(index_options(fused.size(), 0));
  } else if (fused.size() != index_->dimension()) {
    throw store::StoreError("a face vector of " + std::to_string(fused.size()) +
                            " numbers cannot join the library at " + dir_.string() +
                            ", whose faces have " + std::to_string(index_->dimension()) +
                            " (the recognition models changed): index into a new library");
  }
  index_->add(face_id, fused);
  index_dirty_ = true;
}

void Library::remove_from_index(std::int64_t face_id) {
  ensure_index();
  if (!index_) return;
  index_->remove(face_id);
  index_dirty_ = true;
}

Library::SavedIndex Library::read_saved_index(std::size_t faces) const {
  SavedIndex saved;
  const std::filesystem::path file = index_file();
  if (const store::CatalogKey* key = catalog_->encryption_key()) {
    const io::FileBytes sealed = io::read_file_bytes(sealed_index_file());
    if (!sealed.ok()) {
      saved.why_not = sealed.error == io::FileError::not_found
                          ? "there was no saved index"
                          : "the saved index could not be read (" + sealed.message + ")";
      return saved;
    }
    std::optional<std::string> plain = store::unseal(
        std::string_view(reinterpret_cast<const char*>(sealed.bytes.data()), sealed.bytes.size()),
        *key, kSealedIndexPurpose);
    if (!plain || plain->size() < kSealedStampBytes) {
      saved.why_not = "the saved index could not be decrypted (damaged, or from another key)";
      return saved;
    }
    std::array<std::uint64_t, 3> stamp_fields{};
    std::memcpy(stamp_fields.data(), plain->data(), kSealedStampBytes);
    saved.stamp = {static_cast<std::size_t>(stamp_fields[0]),
                   static_cast<std::size_t>(stamp_fields[1]), stamp_fields[2]};
    try {
      saved.index =
          store::VectorIndex::from_bytes(std::string_view(*plain).substr(kSealedStampBytes),
                                         index_options(saved.stamp.dimension, faces));
    } catch (const store::StoreError& error) {
      saved.why_not = std::string("the saved index could not be read (") + error.what() + ")";
    }
    OPENSSL_cleanse(plain->data(), plain->size());
    return saved;
  }
  const std::optional<store::IndexStamp> stamp = store::read_stamp(file);
  if (!stamp) {
    saved.why_not = std::filesystem::exists(file) ? "its stamp file is missing or unreadable"
                                                  : "there was no saved index";
    return saved;
  }
  try {
    saved.index = store::VectorIndex::load(file, index_options(stamp->dimension, faces));
    saved.stamp = *stamp;
  } catch (const store::StoreError& error) {
    saved.why_not = std::string("the saved index could not be read (") + error.what() + ")";
  }
  return saved;
}

void Library::save_sealed_index() const {
  const store::IndexStamp stamp = index_->stamp();
  const std::array<std::uint64_t, 3> stamp_fields = {stamp.dimension, stamp.count, stamp.id_hash};
  std::string plain(kSealedStampBytes, '\0');
  std::memcpy(plain.data(), stamp_fields.data(), kSealedStampBytes);
  plain += index_->to_bytes();
  const std::string sealed = store::seal(plain, *catalog_->encryption_key(), kSealedIndexPurpose);
  OPENSSL_cleanse(plain.data(), plain.size());
  crash_point("sealed index save: sealed");
  if (const auto failure = io::write_file_atomically(sealed_index_file(), sealed)) {
    throw store::StoreError("cannot save the encrypted vector index " + *failure);
  }
  crash_point("sealed index save: replaced");
}

void Library::save_index() {
  if (!index_dirty_) return;
  // A reader saves only when no writer is at work: the writer keeps the
  // index in step itself, and two saves at once would race.
  std::unique_ptr<store::WriterLock> lock;
  if (!catalog_->holds_writer_lock()) {
    try {
      lock = catalog_->lock_for_writing({.wait = std::chrono::milliseconds(0)});
    } catch (const store::LibraryBusyError&) {
      return;  // still dirty: kept in memory, saved by a later call
    }
  }
  if (index_ && index_->size() > 0 && catalog_->encrypted()) {
    save_sealed_index();
  } else if (index_ && index_->size() > 0) {
    index_->save(index_file());
  } else {
    // No faces left: a stale file would only be rebuilt away next time.
    remove_index_files();
  }
  index_dirty_ = false;
}

void Library::remove_index_files() {
  std::error_code ignored;
  std::filesystem::remove(index_file(), ignored);
  std::filesystem::remove(index_file().string() + ".stamp", ignored);
  std::filesystem::remove(sealed_index_file(), ignored);
}

void Library::remove_plain_index_files() {
  // The index holds every face's vector in the clear: overwritten, not only
  // unlinked. A file that cannot be overwritten is at least removed.
  for (const std::filesystem::path& file : {index_file(), index_file().concat(".stamp")}) {
    if (!io::shred_file(file)) {
      std::error_code ignored;
      std::filesystem::remove(file, ignored);
    }
  }
}

void Library::rewrite_index(std::string reason) {
  const std::vector<std::int64_t> ids = catalog_->face_ids_with_vector(store::kFusedModel);
  crash_point("index rewrite: ids read");
  rebuild_index(ids, std::move(reason));
  if (!index_) {
    index_dirty_ = true;
    save_index();  // removes the files
  }
}

LibraryCheck Library::check() {
  LibraryCheck report;
  report.catalog = catalog_->check();
  report.problems = report.catalog.problems;
  report.erasure_pending = erasure_is_pending();
  if (report.erasure_pending) {
    report.problems.push_back(
        "erasure: an erasure was interrupted before its deleted data was purged from the "
        "library's files; `likeness library check --repair` (or any other command) finishes it");
  }
  const std::vector<std::int64_t> ids = catalog_->face_ids_with_vector(store::kFusedModel);
  report.catalog_vectors = static_cast<std::int64_t>(ids.size());
  report.faces_without_vector = catalog_->face_count() - report.catalog_vectors;
  const std::filesystem::path file = catalog_->encrypted() ? sealed_index_file() : index_file();
  report.index_file_present = std::filesystem::exists(file);
  if (!report.index_file_present) {
    if (!ids.empty()) {
      report.missing_from_index = report.catalog_vectors;
      report.problems.push_back("index: no saved index (" + file.string() +
                                "); it is rebuilt on the next search or index run");
    }
    return report;
  }
  SavedIndex saved = read_saved_index(0);
  if (!saved.index) {
    report.index_error = saved.why_not;
    report.missing_from_index = report.catalog_vectors;
    report.problems.push_back("index: cannot be read (" + report.index_error +
                              "); it is rebuilt on the next search or index run");
    return report;
  }
  report.index_loadable = true;
  report.index_entries = static_cast<std::int64_t>(saved.index->size());
  for (std::int64_t id : ids) {
    if (!saved.index->contains(id)) ++report.missing_from_index;
  }
  report.extra_in_index =
      report.index_entries - (report.catalog_vectors - report.missing_from_index);
  if (report.missing_from_index > 0) {
    report.problems.push_back("index: lacks " + std::to_string(report.missing_from_index) +
                              " of the catalog's faces (an interrupted run?); they are added on "
                              "the next search or index run");
  }
  if (report.extra_in_index > 0) {
    report.problems.push_back("index: holds " + std::to_string(report.extra_in_index) +
                              " faces the catalog no longer has; it is rebuilt on the next "
                              "search or index run");
  }
  return report;
}

}  // namespace likeness::library
