// Batch indexing of photo folders into a library (`likeness index`).
//
//   auto indexer = likeness::library::Indexer::create(store, {});
//   IndexSummary summary = indexer->run(*library, {"/photos"}, {.on_progress = show});
//
// What a run does:
//  - walks every folder recursively (symlinked folders followed once each,
//    loops counted and not followed), in path order, counting every entry it
//    meets under what became of it, and decides each file's format by its
//    first bytes: JPEG, PNG, BMP and WEBP are photos; another file with a
//    photo's extension (.jpg, .png, ...) is recorded as failed with the
//    reason; any other file is left alone and counted;
//  - skips photos whose size and modification time match the catalog (but
//    retries those that failed as "unreadable" or "processing_error", which
//    can pass without the file changing); a photo whose bytes are unchanged
//    (same sha256) but whose time changed is only updated; a changed photo is
//    re-indexed (its old faces replaced); a photo reached twice (a folder and
//    a photo in it) is one photo;
//  - decodes, detects and describes photos on `workers` threads at once (each
//    worker does every stage of its photo, so the stages of different photos
//    overlap), and commits them in batches of `batch_size` photos; a photo's
//    record and its faces are committed together, so a run stopped at any
//    moment (Ctrl-C, kill -9, power loss) loses at most the open batch, which
//    the next run redoes: no face is lost or stored twice;
//  - reports photos of the catalog under the given folders that are no longer
//    on disk as vanished (kept, not searched), and deletes them with `prune`;
//    a folder that cannot be listed is an error ("unreadable_folder") and the
//    photos under it are left as they are, never vanished;
//  - keeps the vector index in step and saves it at the end (or on stop);
//  - stores each face's attributes (age, gender, expression: attributes/
//    attributes.h) as JSON in store::Face::attributes, unless
//    IndexerOptions::analyzer.analytics is false.
// Memory is bounded by workers + 2 * batch_size photos in flight, whatever the
// number of photos (plus one path per file found).
//
// Errors: a bad photo is a value in the summary and the catalog, never an
// exception. A folder that does not exist is UsageError before anything is
// written; StoreError when the library cannot be written.
// Thread-safety: run() uses its own threads; one run per Indexer at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "likeness/infer/model_store.h"
#include "likeness/library/library.h"
#include "likeness/library/photo_analyzer.h"

namespace likeness::library {

struct IndexProgress {
  std::size_t files_found = 0;  // photos to look at (the walk is complete)
  std::size_t files_done = 0;   // looked at: indexed, skipped or failed
  std::size_t photos_indexed = 0;
  std::size_t faces_added = 0;
  std::size_t unchanged = 0;
  std::size_t failed = 0;
  double seconds = 0.0;  // since the run started
  // Photos indexed per second over the photos that needed work (unchanged
  // ones are not counted: they cost nothing), and the time left at that rate.
  double photos_per_second = 0.0;
  double eta_seconds = 0.0;
};

struct IndexFailure {
  std::string path;
  std::string reason;   // stable identifier: "truncated", "not_an_image", ...
  std::string message;  // for people
};

struct IndexSummary {
  std::size_t folders = 0;      // folders walked (the given ones included)
  std::size_t files_found = 0;  // photos and would-be photos found
  std::size_t other_files = 0;  // files that are not photos, left alone
  // Entries of the walk that are neither a photo, a would-be photo (those are
  // recorded as failed: errors_by_reason), a file left alone nor a folder
  // walked, by reason: "symlink_loop" (a symlink back to a folder being
  // walked, or a chain of symlinks that never ends), "folder_seen_before" (a
  // folder reached a second time through a symlink), "broken_symlink",
  // "not_a_file" (a socket, pipe or device), "unreadable" (cannot even be
  // looked at), "erased" (a photo whose faces were erased with its record:
  // store::Catalog::is_erased_content). Nothing the walk meets goes uncounted.
  std::map<std::string, std::size_t> skipped_by_reason;
  std::size_t photos_new = 0;      // indexed for the first time
  std::size_t photos_changed = 0;  // re-indexed because their bytes changed
  std::size_t photos_touched = 0;  // same bytes, new time: record updated only
  std::size_t unchanged = 0;       // skipped
  std::size_t failed = 0;          // recorded with a reason (see errors_by_reason)
  std::size_t faces_added = 0;
  std::size_t faces_removed = 0;  // of changed photos, and with pruned photos
  std::size_t faces_too_small = 0;
  std::vector<std::string> vanished;  // catalog photos under the folders no longer on disk
  std::size_t pruned = 0;             // of those, deleted (prune)
  std::map<std::string, std::size_t> errors_by_reason;
  std::vector<IndexFailure> failures;      // the first 1000
  std::vector<std::int64_t> new_face_ids;  // faces added by this run (people assign them)
  bool interrupted = false;                // stopped early; a re-run resumes
  double seconds = 0.0;
  std::size_t photos_indexed() const { return photos_new + photos_changed; }
};

struct IndexRunOptions {
  std::size_t batch_size = 25;  // photos per catalog commit
  bool prune = false;           // delete vanished photos instead of marking them
  // Called from the calling thread after every photo (and once when the walk
  // ends); keep it cheap.
  std::function<void(const IndexProgress&)> on_progress;
  // Set (e.g. by a signal handler) to stop: photos in flight are finished and
  // committed, the index saved, and run() returns with interrupted = true.
  const std::atomic<bool>* stop = nullptr;
};

struct IndexerOptions {
  AnalyzerOptions analyzer;
  // Photos processed at once; each worker uses one core.
  int workers = 2;
};

class Indexer {
 public:
  static std::unique_ptr<Indexer> create(const infer::ModelStore& store,
                                         const IndexerOptions& options = {});
  ~Indexer();

  const PhotoAnalyzer& analyzer() const { return *analyzer_; }

  IndexSummary run(Library& library, std::span<const std::filesystem::path> folders,
                   const IndexRunOptions& options = {});

 private:
  Indexer(std::unique_ptr<PhotoAnalyzer> analyzer, int workers);
  std::unique_ptr<PhotoAnalyzer> analyzer_;
  int workers_;
};

// The path under which a file is recorded: absolute and lexically normal
// (symlinks are not resolved, so a photo keeps the path the user knows).
std::string library_path(const std::filesystem::path& file);

}  // namespace likeness::library
