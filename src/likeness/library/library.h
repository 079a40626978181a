// The photo library: one folder holding the catalog (store/catalog.h) and the
// vector index over the faces' fused vectors (store/vector_index.h), kept in
// step with each other.
//
//   auto library = likeness::library::Library::open(likeness::library::default_library_dir());
//   library->catalog().list_photos();
//   auto near = library->vector_index()->search(fused, 50);  // loaded or rebuilt on demand
//   library->add_to_index(face_id, fused); library->save_index();
//   likeness::library::LibraryCheck report = library->check();
//
// The catalog is the truth; the index is a cache of its fused vectors. The
// index is saved beside the catalog (faces.hnsw + faces.hnsw.stamp; when the
// library is encrypted, faces.hnsw.sealed: encrypted and authenticated with
// the catalog's key, store/encryption.h); when it
// is missing, unreadable or out of step with the catalog (an interrupted
// run, a crash, another process's writes), vector_index() repairs it (adds the
// faces it lacks when that is enough) or rebuilds it from the catalog, and
// says so in index_state().
//
// Errors: StoreError (store/catalog.h) for a library that cannot be opened or
// written, with a message that says what to do. A library folder that does not
// exist is created unless LibraryOptions::create_if_missing is false.
// One writer at a time (store/catalog.h, WriterInfo): a command that writes
// opens its Library with LibraryOptions::writer, which holds the library's
// writer lock for the Library's life; the server takes it per edit with
// lock_for_writing(). Readers take no lock; a reader saves a repaired index
// only when no writer is at work.
//
// An erasure that was interrupted after its catalog commit (kill -9, power
// cut) is finished by the next open() of the library, whatever the command,
// before anything else: the catalog is purged and the index rewritten, so
// that none of the erased vectors stays in a library file.
//
// Thread-safety: none; one Library per thread (several processes may open the
// same library).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "likeness/store/catalog.h"
#include "likeness/store/vector_index.h"

namespace likeness::library {

// Where the library lives when --library is not given: $LIKENESS_LIBRARY when
// set and not empty, else $XDG_DATA_HOME/likeness/library, else
// ~/.local/share/likeness/library.
std::filesystem::path default_library_dir();

struct LibraryOptions {
  // false: a library folder without a catalog is StoreError ("no library at
  // DIR: run `likeness index --library DIR FOLDER` first") instead of being
  // created. Read-only commands (search, people, check) use false.
  bool create_if_missing = true;
  int busy_timeout_ms = 10000;
  // An encrypted library's passphrase; with encrypt_if_created, a library
  // created by this open() is encrypted with it (store::CatalogOptions).
  std::string passphrase = {};
  bool encrypt_if_created = false;
  // Set by commands that write: the writer lock is taken in open() (waiting
  // as it says; LibraryBusyError when it runs out) and held until the Library
  // is destroyed.
  std::optional<store::WriterLockOptions> writer = {};
  // false: leave an interrupted erasure for `library check` to report (and
  // its --repair to finish) instead of finishing it in open().
  bool finish_interrupted_work = true;
};

// How vector_index() obtained the index.
struct IndexState {
  enum class Source { kNotLoaded, kLoaded, kRepaired, kRebuilt, kEmpty };
  Source source = Source::kNotLoaded;
  std::string reason;  // why it was repaired or rebuilt ("" when loaded as saved)
  std::size_t faces = 0;
  double seconds = 0.0;  // time spent loading / repairing / rebuilding
};
// "not loaded", "loaded", "repaired", "rebuilt", "empty".
std::string_view to_string(IndexState::Source source);

// `likeness library check`: the catalog's own integrity plus the index against
// the catalog. Never modifies the library.
struct LibraryCheck {
  store::CheckReport catalog;
  bool index_file_present = false;  // faces.hnsw, or faces.hnsw.sealed when encrypted
  bool index_loadable = false;
  std::string index_error;                // why it could not be loaded
  std::int64_t catalog_vectors = 0;       // faces with a fused vector
  std::int64_t index_entries = 0;         // live ids in the saved index
  std::int64_t missing_from_index = 0;    // catalog faces the index lacks
  std::int64_t extra_in_index = 0;        // index ids the catalog no longer has
  std::int64_t faces_without_vector = 0;  // faces with no fused vector (not searchable at all)
  // An erasure was interrupted before its purge: erased data may still be in
  // the catalog's free pages or log and in the index file.
  bool erasure_pending = false;
  std::vector<std::string> problems;  // human-readable, catalog's first
  // The catalog is sound. The index being stale is not an error (it is
  // repaired on the next use) but is reported in `problems` and index_ok().
  bool catalog_ok() const { return catalog.ok(); }
  bool index_ok() const {
    return catalog_vectors == 0 ||
           (index_loadable && missing_from_index == 0 && extra_in_index == 0);
  }
  bool ok() const { return catalog_ok() && index_ok() && !erasure_pending; }
};

class Library {
 public:
  static std::unique_ptr<Library> open(const std::filesystem::path& dir,
                                       const LibraryOptions& options = {});
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  store::Catalog& catalog() { return *catalog_; }
  // dir/faces.hnsw.
  std::filesystem::path index_file() const { return dir_ / "faces.hnsw"; }
  // An encrypted library's index, sealed with the catalog's key
  // (store::seal): dir/faces.hnsw.sealed.
  std::filesystem::path sealed_index_file() const { return dir_ / "faces.hnsw.sealed"; }

  // The index over every catalog face's fused vector, loaded, repaired or
  // rebuilt (and then saved) on first use; nullptr while the library holds no
  // fused vector. Throws StoreError when the catalog holds fused vectors of
  // different lengths (the models changed between runs: re-index).
  const store::VectorIndex* vector_index();
  const IndexState& index_state() const { return state_; }

  // Keep the in-memory index in step with catalog writes the caller made
  // (after the catalog transaction committed). The index is loaded first if
  // it is not yet. save_index() writes it if anything changed.
  void add_to_index(std::int64_t face_id, std::span<const float> fused);
  void remove_from_index(std::int64_t face_id);
  void save_index();
  // Rebuilds the index from the catalog and replaces the file. After an
  // erasure: remove() only marks an entry deleted, and the vector stays in
  // the index's memory and file until the index is written anew. With no
  // faces left the files are deleted.
  void rewrite_index(std::string reason);

  LibraryCheck check();

  // The library's writer lock until the returned object is destroyed (at
  // once when this Library holds it already), after which an interrupted
  // erasure is finished. LibraryBusyError when options.wait runs out.
  std::unique_ptr<store::WriterLock> lock_for_writing(const store::WriterLockOptions& options = {});

  // Makes deleted rows unrecoverable from every library file: purges the
  // catalog (store::Catalog::purge_deleted), rewrites the index from what is
  // left, removes abandoned temporary index files, then clears the catalog's
  // "erasure pending" mark. Holds the writer lock. Re-running it is harmless.
  void purge_erased();
  // Marks, inside the caller's batch, that an erasure has deleted rows that
  // purge_erased() must still purge (erase() does it in its deleting batch).
  void mark_erasure_pending();
  // Whether open() finished an erasure that had been interrupted.
  bool finished_interrupted_erasure() const { return finished_interrupted_erasure_; }

 private:
  Library(std::filesystem::path dir, std::unique_ptr<store::Catalog> catalog);
  // The index saved beside the catalog (sealed when the library is
  // encrypted) with its stamp, or why it cannot be used.
  struct SavedIndex {
    std::unique_ptr<store::VectorIndex> index;
    store::IndexStamp stamp;
    std::string why_not;
  };
  SavedIndex read_saved_index(std::size_t faces) const;
  void save_sealed_index() const;
  void ensure_index();
  void remove_index_files();
  void remove_plain_index_files();
  void rebuild_index(std::span<const std::int64_t> ids, std::string reason);
  // open(): finishes an interrupted erasure if there is one and the writer
  // lock can be had within `wait` (else its holder finishes it).
  void finish_interrupted_erasure(std::chrono::milliseconds wait);
  bool erasure_is_pending();

  std::filesystem::path dir_;
  std::unique_ptr<store::Catalog> catalog_;
  std::unique_ptr<store::VectorIndex> index_;
  IndexState state_;
  bool index_dirty_ = false;
  bool finished_interrupted_erasure_ = false;
  // Declared last: released first, after the destructor has saved the index.
  std::unique_ptr<store::WriterLock> writer_lock_;
};

}  // namespace likeness::library
