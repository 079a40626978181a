#include "likeness/library/indexer.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "likeness/io/file.h"
#include "likeness/io/image.h"
#include "likeness/library/search.h"

namespace likeness::library {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxFailuresListed = 1000;

// A file the walk found and the catalog does not know in this state.
struct Task {
  std::string path;
  std::int64_t size = 0;
  std::int64_t mtime = 0;
  std::optional<store::Photo> known;
  // Set by the walk for a file with a photo's name whose content is not a
  // photo: recorded as failed without reading further.
  std::string sniff_reason, sniff_message;
};

struct NewFace {
  store::Face face;
  std::vector<store::FaceVector> vectors;  // members, then the fused vector
};

// What a worker made of one Task.
struct Outcome {
  enum class Kind { kIndexed, kTouched, kFailed, kErased };
  Kind kind = Kind::kFailed;
  const Task* task = nullptr;
  store::Photo photo;
  std::vector<NewFace> faces;
  std::size_t too_small = 0;
};

// A photo that failed for a reason that can pass without the file changing
// (its permissions were fixed, which leaves its time alone; the run ran out
// of memory) is tried again by every run until it works.
bool worth_retrying(const store::Photo& photo) {
  if (photo.status != store::PhotoStatus::kFailed) return false;
  const std::string reason = photo.error.substr(0, photo.error.find(':'));
  return reason == "unreadable" || reason == "processing_error";
}

bool has_photo_extension(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".jpg",  ".jpeg", ".jpe", ".png",  ".bmp",
                                                    ".webp", ".gif",  ".tif", ".tiff", ".heic",
                                                    ".heif", ".avif", ".jfif"};
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExtensions.count(ext) > 0;
}

// Walks folders in path order, each real folder once (symlink loops and
// folders reachable twice are visited once).
class Walker {
 public:
  Walker(store::Catalog& catalog, IndexSummary& summary, const std::atomic<bool>* stop)
      : catalog_(catalog), summary_(summary), stop_(stop) {}

  // false when stopped before the end.
  bool walk(const fs::path& root, std::vector<Task>& tasks) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
      skip_unstatable(root, errno, tasks);
      return true;
    }
    if (S_ISREG(st.st_mode)) {
      consider(root, st, tasks);
      return true;
    }
    if (!S_ISDIR(st.st_mode)) {
      skip_special(root, tasks);
      return true;
    }
    return walk_folder(root, st, tasks);
  }

  std::set<std::string> seen;  // every photo path found, for the vanished check
  // Folders that could not be listed ("/a/b/"): what the catalog holds under
  // them is unknown this run, not vanished.
  std::vector<std::string> unlisted;

 private:
  bool walk_folder(const fs::path& folder, const struct stat& st, std::vector<Task>& tasks) {
    const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
    if (!visited_.insert(id).second) {
      // Reached again through a symlink: back into a folder being walked (a
      // loop), or into one walked already. Either way it is not walked twice.
      const bool loop = std::find(walking_.begin(), walking_.end(), id) != walking_.end();
      ++summary_.skipped_by_reason[loop ? "symlink_loop" : "folder_seen_before"];
      return true;
    }
    ++summary_.folders;
    walking_.push_back(id);
    const bool finished = walk_entries(folder, tasks);
    walking_.pop_back();
    return finished;
  }

  bool walk_entries(const fs::path& folder, std::vector<Task>& tasks) {
    std::vector<fs::path> entries;
    std::error_code ec;
    // No skip_permission_denied: it would make an unreadable folder look
    // empty, and its photos vanished (and pruned).
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      entries.push_back(it->path());
    }
    if (ec) {
      fail_folder(folder, ec.message());
      return true;
    }
    std::sort(entries.begin(), entries.end());
    for (const fs::path& entry : entries) {
      if (stop_ != nullptr && stop_->load()) return false;
      struct stat est {};
      if (::stat(entry.c_str(), &est) != 0) {
        skip_unstatable(entry, errno, tasks);
        continue;
      }
      if (S_ISDIR(est.st_mode)) {
        if (!walk_folder(entry, est, tasks)) return false;
      } else if (S_ISREG(est.st_mode)) {
        consider(entry, est, tasks);
      } else {
        skip_special(entry, tasks);
      }
    }
    return true;
  }

  // A dangling symlink, a symlink loop, an entry that cannot be looked at,
  // or a file deleted during the walk. One named like a photo is recorded
  // as a failed photo (the user meant it to be one); any other is counted.
  void skip_unstatable(const fs::path& entry, int error, std::vector<Task>& tasks) {
    const char* reason = error == EACCES || error == EPERM ? "unreadable"
                         : error == ELOOP                  ? "symlink_loop"
                                                           : "not_found";
    if (has_photo_extension(entry)) {
      record_unreadable(entry, reason,
                        entry.string() + ": cannot be opened (" + std::strerror(error) + ")",
                        tasks);
      return;
    }
    if (std::string_view(reason) == "not_found") {
      // A symlink to nothing; anything else vanished between the listing
      // and the look, and is not there to count.
      struct stat link {};
      if (::lstat(entry.c_str(), &link) != 0 || !S_ISLNK(link.st_mode)) return;
      reason = "broken_symlink";
    }
    ++summary_.skipped_by_reason[reason];
  }

  // A socket, pipe or device.
  void skip_special(const fs::path& entry, std::vector<Task>& tasks) {
    if (has_photo_extension(entry)) {
      record_unreadable(entry, "not_a_file", entry.string() + ": is not a regular file", tasks);
      return;
    }
    ++summary_.skipped_by_reason["not_a_file"];
  }

  void consider(const fs::path& file, const struct stat& st, std::vector<Task>& tasks) {
    std::array<std::uint8_t, 16> head{};
    const io::FileBytes prefix = io::read_file_prefix(file, head.size());
    const bool named_like_photo = has_photo_extension(file);
    Task task;
    if (prefix.ok()) {
      const io::ImageFormat format = io::detect_format(prefix.bytes);
      if (format == io::ImageFormat::unknown) {
        if (!named_like_photo) {
          ++summary_.other_files;
          return;
        }
        task.sniff_reason = prefix.bytes.empty() ? "empty" : "not_an_image";
        task.sniff_message =
            file.string() + (prefix.bytes.empty()
                                 ? ": is empty (0 bytes)"
                                 : ": is not a JPEG, PNG, BMP or WEBP photo (by its content)");
      }
    } else if (!named_like_photo) {
      ++summary_.other_files;
      return;
    } else {
      task.sniff_reason = io::to_string(prefix.error);
      task.sniff_message = prefix.message;
    }
    task.path = library_path(file);
    // The same photo named twice (a folder and a photo in it, a folder given
    // twice) is one photo: a second task would store its faces twice.
    if (!seen.insert(task.path).second) return;
    task.size = static_cast<std::int64_t>(st.st_size);
    task.mtime = static_cast<std::int64_t>(st.st_mtime);
    ++summary_.files_found;
    task.known = catalog_.find_photo(task.path);
    if (task.known && task.known->status != store::PhotoStatus::kVanished &&
        task.known->size_bytes == task.size && task.known->mtime == task.mtime &&
        !worth_retrying(*task.known)) {
      ++summary_.unchanged;
      return;
    }
    tasks.push_back(std::move(task));
  }

  void record_unreadable(const fs::path& file, std::string reason, std::string message,
                         std::vector<Task>& tasks) {
    Task task;
    task.path = library_path(file);
    if (!seen.insert(task.path).second) return;
    task.sniff_reason = std::move(reason);
    task.sniff_message = std::move(message);
    ++summary_.files_found;
    task.known = catalog_.find_photo(task.path);
    if (task.known && task.known->status == store::PhotoStatus::kFailed &&
        task.known->error.rfind(task.sniff_reason + ":", 0) == 0) {
      ++summary_.unchanged;
      return;
    }
    tasks.push_back(std::move(task));
  }

  void fail_folder(const fs::path& folder, const std::string& why) {
    unlisted.push_back(library_path(folder) + "/");
    ++summary_.errors_by_reason["unreadable_folder"];
    if (summary_.failures.size() < kMaxFailuresListed) {
      summary_.failures.push_back({library_path(folder), "unreadable_folder",
                                   folder.string() + ": cannot list the folder (" + why + ")"});
    }
  }

  store::Catalog& catalog_;
  IndexSummary& summary_;
  const std::atomic<bool>* stop_;
  std::set<std::pair<dev_t, ino_t>> visited_;
  std::vector<std::pair<dev_t, ino_t>> walking_;  // the folders from the root to here
};

store::Face face_record(const detect::Detection& d, const match::FaceDescription& description) {
  store::Face face;
  face.box = {d.box.x, d.box.y, d.box.width, d.box.height};
  for (std::size_t i = 0; i < face.landmarks.size(); ++i) {
    face.landmarks[i] = {d.landmarks[i].x, d.landmarks[i].y};
  }
  face.detector_score = d.score;
  face.quality = to_stored_quality(description.quality);
  return face;
}

// Bounded hand-over from the workers to the writing thread.
class OutcomeQueue {
 public:
  explicit OutcomeQueue(std::size_t capacity) : capacity_(capacity) {}

  void push(Outcome outcome) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    queue_.push_back(std::move(outcome));
    not_empty_.notify_one();
  }
  // nullopt when every producer is done and the queue is empty.
  std::optional<Outcome> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !queue_.empty() || producers_ == 0; });
    if (queue_.empty()) return std::nullopt;
    Outcome out = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return out;
  }
  void set_producers(int n) {
    std::lock_guard lock(mutex_);
    producers_ = n;
  }
  void producer_done() {
    std::lock_guard lock(mutex_);
    --producers_;
    not_empty_.notify_all();
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Outcome> queue_;
  int producers_ = 0;
};

class Run {
 public:
  Run(Library& library, const PhotoAnalyzer& analyzer, int workers, const IndexRunOptions& options)
      : library_(library),
        catalog_(library.catalog()),
        analyzer_(analyzer),
        workers_(std::max(1, workers)),
        options_(options),
        queue_(std::max<std::size_t>(2 * options.batch_size, 2)) {
    if (options_.batch_size == 0) throw UsageError("index: the batch size must be at least 1");
  }

  IndexSummary run(std::span<const fs::path> folders) {
    for (const fs::path& folder : folders) {
      // With an error_code: a symlink loop given as the folder is a usage
      // error, not a filesystem_error escaping the run.
      std::error_code error;
      if (!fs::exists(folder, error)) {
        throw UsageError("no such folder or photo: " + folder.string() +
                         (error ? " (" + error.message() + ")" : ""));
      }
    }
    Walker walker(catalog_, summary_, options_.stop);
    bool walked = true;
    for (const fs::path& folder : folders) walked = walked && walker.walk(folder, tasks_);
    report_progress();
    process_tasks();
    if (walked && !stopped()) handle_vanished(folders, walker.seen, walker.unlisted);
    summary_.interrupted = stopped() || !walked;
    library_.save_index();
    summary_.seconds = seconds();
    return summary_;
  }

 private:
  bool stopped() const { return options_.stop != nullptr && options_.stop->load(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  Outcome process(const Task& task) const {
    Outcome out;
    out.task = &task;
    out.photo.path = task.path;
    out.photo.size_bytes = task.size;
    out.photo.mtime = task.mtime;
    if (!task.sniff_reason.empty()) {
      return failed(std::move(out), task.sniff_reason, task.sniff_message);
    }
    DetectedPhoto photo = analyzer_.read(task.path);
    out.photo.content_hash = photo.content_hash;
    if (photo.ok() && task.known && task.known->status != store::PhotoStatus::kFailed &&
        task.known->content_hash == photo.content_hash) {
      // Same bytes (copied back, touched): keep the faces, refresh the record.
      out.kind = Outcome::Kind::kTouched;
      out.photo.capture_time = task.known->capture_time;
      return out;
    }
    analyzer_.detect_read(photo, task.path);
    if (!photo.ok()) return failed(std::move(out), photo.reason, photo.message);
    if (!photo.capture_time.empty()) out.photo.capture_time = photo.capture_time;
    out.too_small = photo.too_small;
    const std::vector<std::string>& members = analyzer_.recognizer().members();
    std::vector<AnalyzedFace> all = analyzer_.analyze_all(photo, options_.stop);
    if (all.size() < photo.faces.size() || stopped()) {
      // Half a photo must not be committed: leave it for the next run.
      return failed(std::move(out), "", "");
    }
    for (std::size_t i = 0; i < photo.faces.size(); ++i) {
      AnalyzedFace& analyzed = all[i];
      match::FaceDescription& description = analyzed.description;
      NewFace face{face_record(photo.faces[i], description), {}};
      if (!analyzed.attributes.empty()) {
        face.face.attributes = attributes::to_json(analyzed.attributes).dump();
      }
      for (std::size_t m = 0; m < members.size() && m < description.member_vectors.size(); ++m) {
        if (description.member_vectors[m].empty()) continue;
        face.vectors.push_back({members[m], std::move(description.member_vectors[m])});
      }
      if (!description.fused.empty()) {
        face.vectors.push_back({std::string(store::kFusedModel), std::move(description.fused)});
      }
      out.faces.push_back(std::move(face));
    }
    out.kind = Outcome::Kind::kIndexed;
    return out;
  }

  static Outcome failed(Outcome out, std::string reason, const std::string& message) {
    out.kind = Outcome::Kind::kFailed;
    out.photo.status = store::PhotoStatus::kFailed;
    out.photo.error = reason.empty() ? "" : reason + ": " + message;
    out.faces.clear();
    return out;
  }

  void process_tasks() {
    std::atomic<std::size_t> next{0};
    queue_.set_producers(workers_);
    std::vector<std::thread> threads;
    for (int w = 0; w < workers_; ++w) {
      threads.emplace_back([&] {
        while (!stopped()) {
          const std::size_t i = next.fetch_add(1);
          if (i >= tasks_.size()) break;
          Outcome outcome;
          try {
            outcome = process(tasks_[i]);
          } catch (const std::exception& e) {
            // Out of memory on a huge photo, a model failing: this photo
            // fails, the run goes on.
            Outcome broken;
            broken.task = &tasks_[i];
            outcome = failed(std::move(broken), "processing_error", e.what());
            outcome.photo.path = tasks_[i].path;
            outcome.photo.size_bytes = tasks_[i].size;
            outcome.photo.mtime = tasks_[i].mtime;
          }
          // A photo abandoned on stop has neither a record nor faces.
          if (outcome.kind == Outcome::Kind::kFailed && outcome.photo.error.empty()) continue;
          queue_.push(std::move(outcome));
        }
        queue_.producer_done();
      });
    }
    std::vector<Outcome> batch;
    try {
      while (std::optional<Outcome> outcome = queue_.pop()) {
        batch.push_back(std::move(*outcome));
        if (batch.size() >= options_.batch_size) commit(batch);
      }
      commit(batch);
    } catch (...) {
      // The catalog failed: let the workers finish before propagating.
      abort_workers(next, threads);
      throw;
    }
    for (std::thread& t : threads) t.join();
  }

  void abort_workers(std::atomic<std::size_t>& next, std::vector<std::thread>& threads) {
    next.store(tasks_.size());
    while (queue_.pop()) {
    }
    for (std::thread& t : threads) t.join();
  }

  // Writes a batch in one transaction, then updates the vector index.
  void commit(std::vector<Outcome>& batch) {
    if (batch.empty()) return;
    // The saved index is loaded (and repaired) against the catalog as it is
    // before this run writes: loaded after the first write, it would look
    // out of step and, once a face was removed, be rebuilt from scratch.
    library_.vector_index();
    std::vector<std::int64_t> removed;
    std::vector<std::pair<std::int64_t, const std::vector<float>*>> added;
    catalog_.write_batch([&] {
      for (Outcome& out : batch) {
        const std::optional<store::Photo>& known = out.task->known;
        if (!known && out.kind == Outcome::Kind::kIndexed &&
            catalog_.is_erased_content(out.photo.content_hash)) {
          // Its faces were erased with its record (erase --with-photos):
          // nothing of it is stored again.
          out.kind = Outcome::Kind::kErased;
          out.faces.clear();
          continue;
        }
        if (out.kind == Outcome::Kind::kTouched) {
          store::Photo photo = *known;
          photo.size_bytes = out.photo.size_bytes;
          photo.mtime = out.photo.mtime;
          photo.status = store::PhotoStatus::kIndexed;
          photo.indexed_at = 0;
          catalog_.upsert_photo(photo);
          continue;
        }
        if (known) {
          for (const store::Face& old : catalog_.faces_of_photo(known->id)) {
            removed.push_back(old.id);
          }
          catalog_.clear_faces(known->id);
        }
        const std::int64_t photo_id = catalog_.upsert_photo(out.photo);
        for (NewFace& face : out.faces) {
          face.face.photo_id = photo_id;
          const std::int64_t id = catalog_.add_face(face.face, face.vectors);
          if (!face.vectors.empty() && face.vectors.back().model == store::kFusedModel) {
            added.emplace_back(id, &face.vectors.back().values);
          }
        }
      }
    });
    for (std::int64_t id : removed) library_.remove_from_index(id);
    for (const auto& [id, fused] : added) library_.add_to_index(id, *fused);
    summary_.faces_removed += removed.size();
    for (const Outcome& out : batch) count(out);
    for (const auto& [id, fused] : added) summary_.new_face_ids.push_back(id);
    batch.clear();
  }

  void count(const Outcome& out) {
    ++done_;
    switch (out.kind) {
      case Outcome::Kind::kTouched:
        ++summary_.photos_touched;
        break;
      case Outcome::Kind::kErased:
        ++summary_.skipped_by_reason["erased"];
        break;
      case Outcome::Kind::kIndexed:
        ++(out.task->known ? summary_.photos_changed : summary_.photos_new);
        summary_.faces_added += out.faces.size();
        summary_.faces_too_small += out.too_small;
        ++worked_;
        break;
      case Outcome::Kind::kFailed: {
        ++summary_.failed;
        ++worked_;
        const std::string& error = out.photo.error;
        const std::string reason = error.substr(0, error.find(':'));
        ++summary_.errors_by_reason[reason];
        if (summary_.failures.size() < kMaxFailuresListed) {
          const std::size_t colon = error.find(": ");
          summary_.failures.push_back(
              {out.photo.path, reason,
               colon == std::string::npos ? error : error.substr(colon + 2)});
        }
        break;
      }
    }
    report_progress();
  }

  void report_progress() {
    if (!options_.on_progress) return;
    IndexProgress p;
    p.files_found = summary_.files_found;
    p.files_done = summary_.unchanged + done_;
    p.photos_indexed = summary_.photos_indexed();
    p.faces_added = summary_.faces_added;
    p.unchanged = summary_.unchanged;
    p.failed = summary_.failed;
    p.seconds = seconds();
    if (worked_ > 0 && p.seconds > 0.0) {
      p.photos_per_second = static_cast<double>(worked_) / p.seconds;
      const std::size_t left = tasks_.size() - std::min(tasks_.size(), done_);
      p.eta_seconds = static_cast<double>(left) / p.photos_per_second;
    }
    options_.on_progress(p);
  }

  void handle_vanished(std::span<const fs::path> folders, const std::set<std::string>& seen,
                       const std::vector<std::string>& unlisted) {
    std::vector<std::string> roots;
    for (const fs::path& folder : folders) {
      std::string root = library_path(folder);
      if (!root.empty() && root.back() != '/') root += '/';
      roots.push_back(root);
    }
    std::vector<store::Photo> gone;
    for (store::Photo& photo : catalog_.list_photos()) {
      if (seen.count(photo.path) > 0) continue;
      const bool under = std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
        return photo.path.rfind(root, 0) == 0 || photo.path + "/" == root;
      });
      if (!under) continue;
      const bool unknown = std::any_of(unlisted.begin(), unlisted.end(), [&](const std::string& f) {
        return photo.path.rfind(f, 0) == 0;
      });
      if (unknown) continue;
      if (photo.status == store::PhotoStatus::kVanished && !options_.prune) continue;
      gone.push_back(std::move(photo));
    }
    if (gone.empty()) return;
    library_.vector_index();  // before the catalog changes: see commit()
    std::vector<std::int64_t> removed;
    catalog_.write_batch([&] {
      for (const store::Photo& photo : gone) {
        if (options_.prune) {
          for (const store::Face& face : catalog_.faces_of_photo(photo.id)) {
            removed.push_back(face.id);
          }
          catalog_.delete_photo(photo.id);
        } else {
          catalog_.mark_vanished(photo.id);
        }
      }
    });
    for (std::int64_t id : removed) library_.remove_from_index(id);
    for (const store::Photo& photo : gone) summary_.vanished.push_back(photo.path);
    if (options_.prune) summary_.pruned = gone.size();
    summary_.faces_removed += removed.size();
  }

  Library& library_;
  store::Catalog& catalog_;
  const PhotoAnalyzer& analyzer_;
  int workers_;
  IndexRunOptions options_;
  OutcomeQueue queue_;
  IndexSummary summary_;
  std::vector<Task> tasks_;
  std::size_t done_ = 0;    // tasks committed
  std::size_t worked_ = 0;  // of those, decoded (indexed or failed)
  Clock::time_point start_ = Clock::now();
};

}  // namespace

std::string library_path(const fs::path& file) {
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec);
  if (ec) absolute = file;
  std::string path = absolute.lexically_normal().string();
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Indexer::Indexer(std::unique_ptr<PhotoAnalyzer> analyzer, int workers)
    : analyzer_(std::move(analyzer)), workers_(workers) {}

Indexer::~Indexer() = default;

std::unique_ptr<Indexer> Indexer::create(const infer::ModelStore& store,
                                         const IndexerOptions& options) {
  if (options.workers < 1) throw UsageError("index: workers must be at least 1");
  auto analyzer = PhotoAnalyzer::create(store, options.analyzer);
  // Load the attribute models now: a missing one must fail before the walk.
  (void)analyzer->attribute_estimator();
  return std::unique_ptr<Indexer>(new Indexer(std::move(analyzer), options.workers));
}

IndexSummary Indexer::run(Library& library, std::span<const fs::path> folders,
                          const IndexRunOptions& options) {
  Run run(library, *analyzer_, workers_, options);
  return run.run(folders);
}

}  // namespace likeness::library
