#include "likeness/server/index_job.h"

#include <chrono>
#include <exception>
#include <utility>

#include "likeness/library/library.h"
#include "likeness/library/library_json.h"
#include "likeness/library/people_cluster.h"

namespace likeness::server {
namespace {

std::string_view state_name(int state) {
  static constexpr std::string_view kNames[] = {"idle", "running", "stopping", "done", "failed"};
  return kNames[state];
}

// The counts of `likeness index --json` (src/cli/index_command.cpp), so that
// the page and the CLI describe a run the same way.
nlohmann::json summary_json(const library::IndexSummary& s, std::size_t faces_joined_people) {
  nlohmann::json out = library::index_summary_json(s);
  out["faces_joined_people"] = faces_joined_people;
  return out;
}

std::int64_t now_epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

IndexJob::IndexJob(const infer::ModelStore& store, IndexJobOptions options,
                   std::function<void()> on_finished)
    : store_(store), options_(std::move(options)), on_finished_(std::move(on_finished)) {}

IndexJob::~IndexJob() { stop_and_wait(); }

IndexJob::Start IndexJob::start(const std::filesystem::path& folder, bool prune) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kRunning || state_ == State::kStopping) return Start::kAlreadyRunning;
  if (worker_.joinable()) worker_.join();  // the previous run has ended; reap its thread
  stop_.store(false);
  state_ = State::kRunning;
  folder_ = library::library_path(folder);
  message_.clear();
  progress_ = {};
  errors_by_reason_.clear();
  recent_errors_.clear();
  summary_.reset();
  failures_seen_ = 0;
  failures_read_at_ = -1.0;
  worker_ = std::thread([this, folder, prune] { run(folder, prune); });
  return Start::kStarted;
}

bool IndexJob::request_stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ != State::kRunning && state_ != State::kStopping) return false;
  stop_.store(true);
  state_ = State::kStopping;
  return true;
}

void IndexJob::stop_and_wait() {
  request_stop();
  std::thread worker;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    worker = std::move(worker_);
  }
  if (worker.joinable()) worker.join();
}

bool IndexJob::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_ == State::kRunning || state_ == State::kStopping;
}

void IndexJob::run(std::filesystem::path folder, bool prune) {
  const std::int64_t started_at = now_epoch_seconds();
  std::string failure;
  std::optional<nlohmann::json> summary;
  library::IndexSummary result;
  try {
    if (!indexer_) indexer_ = library::Indexer::create(store_, options_.indexer);
    // The writer lock for the whole run, as `likeness index` holds it; another
    // writer at work fails the run, with its name (after a moment's wait:
    // the server's own reader may be saving a repaired index).
    auto library = library::Library::open(
        options_.library_dir,
        {.passphrase = options_.library_passphrase,
         .writer = store::WriterLockOptions{.command = "likeness serve (indexing)",
                                            .wait = std::chrono::milliseconds(2000)}});
    library::IndexRunOptions run;
    run.batch_size = options_.batch_size;
    run.prune = prune;
    run.stop = &stop_;
    run.on_progress = [&](const library::IndexProgress& progress) {
      bool read_failures = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        progress_ = progress;
        read_failures = progress.failed > failures_seen_ &&
                        (failures_read_at_ < 0.0 ||
                         progress.seconds - failures_read_at_ >= options_.failure_refresh_seconds);
        if (read_failures) {
          failures_seen_ = progress.failed;
          failures_read_at_ = progress.seconds;
        }
      }
      // On this thread the run's catalog is ours to read between photos.
      if (read_failures) note_failures_from_catalog(library->catalog(), started_at);
    };
    const std::vector<std::filesystem::path> folders = {folder};
    result = indexer_->run(*library, folders, run);
    // New faces of people already known join them now; the rest wait for the
    // next clustering (the same as `likeness index`).
    const library::AttachReport attached =
        library::attach_new_faces(*library, indexer_->analyzer().recognizer(), result.new_face_ids);
    summary = summary_json(result, attached.attached);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // The server re-opens its Library whatever happened: a failed or stopped
  // run still committed its finished batches.
  try {
    if (on_finished_) on_finished_();
  } catch (const std::exception& e) {
    if (failure.empty()) failure = std::string("re-opening the library failed: ") + e.what();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failure.empty()) {
    state_ = State::kFailed;
    message_ = failure;
    return;
  }
  state_ = State::kDone;
  summary_ = std::move(summary);
  errors_by_reason_ = result.errors_by_reason;
  recent_errors_.clear();
  const std::size_t first = result.failures.size() > options_.recent_errors
                                ? result.failures.size() - options_.recent_errors
                                : 0;
  for (std::size_t i = first; i < result.failures.size(); ++i) {
    recent_errors_.push_back(result.failures[i]);
  }
  progress_.files_found = result.files_found;
  progress_.files_done = result.files_found;
  progress_.eta_seconds = 0.0;
}

void IndexJob::note_failures_from_catalog(store::Catalog& catalog, std::int64_t run_started_at) {
  std::map<std::string, std::size_t> by_reason;
  std::deque<library::IndexFailure> recent;
  for (const store::Photo& photo : catalog.list_photos(store::PhotoStatus::kFailed)) {
    if (photo.indexed_at < run_started_at) continue;  // an earlier run's failure
    // The indexer records "reason: message" (library/indexer.cpp).
    const auto colon = photo.error.find(": ");
    library::IndexFailure failure;
    failure.path = photo.path;
    failure.reason = colon == std::string::npos ? photo.error : photo.error.substr(0, colon);
    failure.message = colon == std::string::npos ? photo.error : photo.error.substr(colon + 2);
    ++by_reason[failure.reason];
    recent.push_back(std::move(failure));
    if (recent.size() > options_.recent_errors) recent.pop_front();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == State::kDone || state_ == State::kFailed) return;
  errors_by_reason_ = std::move(by_reason);
  recent_errors_ = std::move(recent);
}

nlohmann::json IndexJob::status_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json recent = nlohmann::json::array();
  for (const auto& f : recent_errors_) {
    recent.push_back({{"path", f.path}, {"reason", f.reason}, {"message", f.message}});
  }
  const bool active = state_ == State::kRunning || state_ == State::kStopping;
  nlohmann::json out{
      {"state", state_name(static_cast<int>(state_))},
      {"folder", folder_.empty() ? nlohmann::json(nullptr) : nlohmann::json(folder_)},
      {"photos_done", progress_.files_done},
      {"photos_total", progress_.files_found},
      {"photos_indexed", progress_.photos_indexed},
      {"unchanged", progress_.unchanged},
      {"failed", progress_.failed},
      {"faces", progress_.faces_added},
      {"seconds", progress_.seconds},
      {"photos_per_second", progress_.photos_per_second},
      // Unknown until the walk has ended and a photo has been timed.
      {"eta_seconds", active && progress_.photos_per_second > 0.0
                          ? nlohmann::json(progress_.eta_seconds)
                          : nlohmann::json(nullptr)},
      {"errors", errors_by_reason_},
      {"recent_errors", recent},
      {"summary", summary_ ? *summary_ : nlohmann::json(nullptr)}};
  if (state_ == State::kFailed) out["message"] = message_;
  return out;
}

}  // namespace likeness::server
