// Indexing in the background for `likeness serve` (POST /api/index): one run
// at a time of library::Indexer on a worker thread, with its own
// Library::open of the library folder (the catalog serialises writers, so the
// server keeps answering from its own Library meanwhile), progress for
// GET /api/index, a clean stop, and, when the run ends, the new faces
// attached to the people already known (as `likeness index` does).
//
//   IndexJob job(store, {.library_dir = dir}, [&] { reopen_library(); });
//   if (job.start("/photos", false) == IndexJob::Start::kAlreadyRunning) ...;
//   nlohmann::json progress = job.status_json();
//   job.stop_and_wait();  // finishes the photos in flight, commits, saves
//
// Errors: a run that throws (a broken model, an unwritable library) ends in
// state "failed" with the error's message; nothing escapes the worker.
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "likeness/infer/model_store.h"
#include "likeness/library/indexer.h"

namespace likeness::server {

struct IndexJobOptions {
  std::filesystem::path library_dir;
  std::string library_passphrase;  // an encrypted library's
  library::IndexerOptions indexer{};
  std::size_t batch_size = library::IndexRunOptions{}.batch_size;
  std::size_t recent_errors = 20;  // failures listed in the status (the latest)
  // While running, failures are read back from the catalog at most this often
  // (IndexProgress has counts only; the reasons are in the catalog rows).
  double failure_refresh_seconds = 1.0;
};

class IndexJob {
 public:
  // on_finished runs on the worker thread after every run (done, stopped or
  // failed), once the run's Library is closed: the server re-opens its own
  // Library there so that searches see the new faces.
  IndexJob(const infer::ModelStore& store, IndexJobOptions options,
           std::function<void()> on_finished);
  ~IndexJob();
  IndexJob(const IndexJob&) = delete;
  IndexJob& operator=(const IndexJob&) = delete;

  enum class Start { kStarted, kAlreadyRunning };
  // Starts indexing `folder` (which the caller checked exists). The indexer's
  // models are loaded by the first run, on the worker thread.
  Start start(const std::filesystem::path& folder, bool prune);
  // Asks the run to stop: photos in flight are finished and committed.
  // Returns false when nothing is running.
  bool request_stop();
  // request_stop() and waits for the worker to end.
  void stop_and_wait();
  bool running() const;

  // docs/api.md, GET /api/index.
  nlohmann::json status_json() const;

 private:
  enum class State { kIdle, kRunning, kStopping, kDone, kFailed };
  void run(std::filesystem::path folder, bool prune);
  void note_failures_from_catalog(store::Catalog& catalog, std::int64_t run_started_at);

  const infer::ModelStore& store_;
  IndexJobOptions options_;
  std::function<void()> on_finished_;
  std::unique_ptr<library::Indexer> indexer_;  // touched only by the worker thread

  mutable std::mutex mutex_;  // guards everything below
  std::thread worker_;
  std::atomic<bool> stop_{false};
  State state_ = State::kIdle;
  std::string folder_;
  std::string message_;
  library::IndexProgress progress_;
  std::map<std::string, std::size_t> errors_by_reason_;
  std::deque<library::IndexFailure> recent_errors_;  // oldest first
  std::optional<nlohmann::json> summary_;
  std::size_t failures_seen_ = 0;
  double failures_read_at_ = -1.0;
};

}  // namespace likeness::server
