// `likeness index DIR...`: indexes photo folders into the library, with a
// progress bar, a summary, and a clean stop on Ctrl-C (a re-run resumes).
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library_json.h"
#include "likeness/library/people_cluster.h"
#include "likeness/library/retention.h"

namespace likeness::cli {
namespace {

struct IndexCommandOptions {
  LibraryLocation library;
  std::vector<std::filesystem::path> folders;
  std::size_t batch = 25;
  int workers = 2;
  bool prune = false;
  bool json = false;
  bool quiet = false;
  bool progress = false;
  std::string detector = "default";
  float min_face = 30.0f;
  int detect_long_side = library::AnalyzerOptions{}.detect_long_side;
  bool no_analytics = false;
  bool sensitive_attributes = false;
};

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

// The first Ctrl-C asks for a clean stop; the handler is one-shot, so a
// second one ends the process at once (the catalog stays consistent anyway).
void install_stop_handler() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0.0) || seconds > 360000.0) return "--";
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%lds", s);
  }
  return text;
}

// Redraws one status line on stderr at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  ~ProgressBar() { finish(); }

  void update(const library::IndexProgress& p) {
    if (!enabled_) return;
    const bool last = p.files_found > 0 && p.files_done >= p.files_found;
    if (!last && p.seconds - last_draw_ < 0.1 && drawn_) return;
    last_draw_ = p.seconds;
    drawn_ = true;
    constexpr int kWidth = 24;
    const double share =
        p.files_found == 0 ? 0.0
                           : static_cast<double>(p.files_done) / static_cast<double>(p.files_found);
    const int filled = static_cast<int>(share * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    char line[256];
    std::snprintf(line, sizeof line,
                  "\r[%s] %zu/%zu photos  %.1f photos/s  %zu faces  %zu failed  ETA %s ",
                  bar.c_str(), p.files_done, p.files_found, p.photos_per_second, p.faces_added,
                  p.failed, format_duration(p.eta_seconds).c_str());
    std::cerr << line << std::flush;
  }

  void finish() {
    if (enabled_ && drawn_) std::cerr << '\n';
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  double last_draw_ = 0.0;
};

nlohmann::json summary_json(const library::IndexSummary& s, const library::Library& lib,
                            store::Catalog& catalog) {
  nlohmann::json out = library::index_summary_json(s);
  out["library"] = lib.dir().string();
  out["photos_per_second"] =
      s.seconds > 0.0 ? static_cast<double>(s.photos_indexed() + s.failed) / s.seconds : 0.0;
  out["library_photos"] = catalog.photo_count(store::PhotoStatus::kIndexed);
  out["library_faces"] = catalog.face_count();
  return out;
}

// "1 photo", "2 photos".
std::string count_of(std::int64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}
std::string count_of(std::size_t n, std::string_view noun) {
  return count_of(static_cast<std::int64_t>(n), noun);
}

// "2 symlink loops (not followed)": the reasons of IndexSummary::skipped_by_reason.
std::string skipped_words(const std::string& reason, std::size_t n) {
  if (reason == "symlink_loop") return count_of(n, "symlink loop") + " (not followed)";
  if (reason == "folder_seen_before") {
    return count_of(n, "folder") + " reached a second time through a symlink (walked once)";
  }
  if (reason == "broken_symlink") return count_of(n, "broken symlink");
  if (reason == "not_a_file") {
    return std::to_string(n) + (n == 1 ? " socket, pipe or device" : " sockets, pipes or devices");
  }
  if (reason == "unreadable") {
    return std::to_string(n) + (n == 1 ? " entry" : " entries") + " that cannot be looked at";
  }
  if (reason == "erased") {
    return count_of(n, "photo") + " whose faces were erased with " + (n == 1 ? "its" : "their") +
           " record (not indexed again)";
  }
  return std::to_string(n) + " " + reason;
}

void print_summary(const library::IndexSummary& s, const library::Library& lib,
                   store::Catalog& catalog) {
  const double rate =
      s.seconds > 0.0 ? static_cast<double>(s.photos_indexed() + s.failed) / s.seconds : 0.0;
  std::cout << (s.interrupted ? "Stopped" : "Done") << " in " << format_duration(s.seconds)
            << ": indexed " << count_of(s.photos_indexed(), "photo") << " (" << s.photos_new
            << " new, " << s.photos_changed << " changed), " << count_of(s.faces_added, "face");
  if (s.photos_indexed() + s.failed > 0) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", rate);
    std::cout << ", " << text << " photos/s";
  }
  std::cout << ".\n";
  std::cout << "Skipped " << s.unchanged << " unchanged";
  if (s.photos_touched > 0) std::cout << ", updated " << s.photos_touched << " touched";
  if (s.other_files > 0) {
    std::cout << ", ignored " << count_of(s.other_files, "file")
              << (s.other_files == 1 ? " that is not a photo" : " that are not photos");
  }
  std::cout << ".\n";
  // Every entry the walk met is accounted for: the folders, and what was
  // neither a photo nor a file.
  std::cout << "Walked " << count_of(s.folders, "folder");
  if (!s.skipped_by_reason.empty()) {
    std::cout << "; left alone";
    const char* separator = " ";
    for (const auto& [reason, n] : s.skipped_by_reason) {
      std::cout << separator << skipped_words(reason, n);
      separator = ", ";
    }
  }
  std::cout << ".\n";
  if (s.faces_too_small > 0) {
    std::cout << count_of(s.faces_too_small, "face") << (s.faces_too_small == 1 ? " was" : " were")
              << " too small to recognise (see --min-face).\n";
  }
  if (s.failed > 0 || !s.errors_by_reason.empty()) {
    std::cout << "Errors:";
    for (const auto& [reason, n] : s.errors_by_reason) std::cout << ' ' << reason << ' ' << n;
    std::cout << '\n';
    const std::size_t shown = std::min<std::size_t>(s.failures.size(), 10);
    for (std::size_t i = 0; i < shown; ++i) {
      std::cout << "  " << s.failures[i].path << ": " << s.failures[i].message << '\n';
    }
    if (s.failures.size() > shown) {
      // Every error, not only failed photos: folders that cannot be listed
      // are listed too (and s.failed alone can be smaller than `shown`).
      std::size_t errors = 0;
      for (const auto& [reason, n] : s.errors_by_reason) errors += n;
      std::cout << "  ... and " << (errors - shown) << " more (--json lists them)\n";
    }
  }
  if (!s.vanished.empty()) {
    std::cout << count_of(s.vanished.size(), "photo") << (s.vanished.size() == 1 ? " is" : " are")
              << " no longer on disk"
              << (s.pruned > 0 ? " and were removed from the library"
                               : " (kept, not searched; --prune removes them)")
              << ".\n";
  }
  if (s.interrupted) {
    std::cout << "Interrupted: everything committed is kept; run the same command again to "
                 "resume.\n";
  }
  std::cout << "Library " << lib.dir().string() << ": "
            << count_of(catalog.photo_count(store::PhotoStatus::kIndexed), "photo") << ", "
            << count_of(catalog.face_count(), "face") << ".\n";
}

int run_index(const GlobalOptions& global, const IndexCommandOptions& options) {
  const infer::ModelStore store = infer::ModelStore::open({.models_dir = global.models_dir});
  library::IndexerOptions indexer_options;
  indexer_options.workers = options.workers;
  indexer_options.analyzer.detector = options.detector;
  indexer_options.analyzer.min_face_size = options.min_face;
  indexer_options.analyzer.detect_long_side = options.detect_long_side;
  indexer_options.analyzer.analytics = !options.no_analytics;
  indexer_options.analyzer.attributes.sensitive = options.sensitive_attributes;
  if (options.sensitive_attributes) std::cerr << attributes::kSensitiveAttributesNotice << '\n';
  auto indexer = library::Indexer::create(store, indexer_options);
  for (const auto& why : indexer->analyzer().recognizer().skipped()) {
    std::cerr << "likeness: warning: recognition model skipped: " << why << '\n';
  }
  // Held for the whole run: a second indexer must not decide from the same
  // catalog that a photo is new.
  auto lib = open_library_for_writing(options.library);
  ProgressBar bar(!options.quiet && (options.progress || ::isatty(STDERR_FILENO) == 1));
  install_stop_handler();
  library::IndexRunOptions run;
  run.batch_size = options.batch;
  run.prune = options.prune;
  run.stop = &g_stop;
  run.on_progress = [&bar](const library::IndexProgress& p) { bar.update(p); };
  const library::IndexSummary summary = indexer->run(*lib, options.folders, run);
  bar.finish();
  // New faces of people already known join them now; the rest wait for the
  // next `people cluster`.
  const library::AttachReport attached =
      library::attach_new_faces(*lib, indexer->analyzer().recognizer(), summary.new_face_ids);
  // The library's retention rules (`likeness privacy retention`) run after
  // every complete run: an interrupted one has not seen every photo yet.
  library::ErasureReport expired;
  const library::RetentionPolicy retention = library::load_retention_policy(lib->catalog());
  if (!summary.interrupted && retention.any()) {
    expired =
        library::apply_retention(*lib, retention, static_cast<std::int64_t>(std::time(nullptr)));
  }
  if (options.json) {
    // Paths are bytes; one that is not UTF-8 (an old camera's file name) is
    // printed with U+FFFD for its invalid bytes rather than failing the run.
    nlohmann::json out = summary_json(summary, *lib, lib->catalog());
    out["faces_joined_people"] = attached.attached;
    if (retention.any()) {
      out["retention"] = nlohmann::json::parse(library::erasure_details_json("retention", expired));
    }
    std::cout << json_text(out, 2) << '\n';
  } else if (!options.quiet) {
    print_summary(summary, *lib, lib->catalog());
    if (attached.considered > 0) {
      std::cout << attached.attached << " of " << attached.considered
                << " new faces joined people already known.\n";
    }
    if (expired.faces > 0 || expired.photos > 0) {
      std::cout << "Retention rules deleted " << expired.faces << " face(s) and " << expired.photos
                << " photo record(s) (`likeness privacy retention`).\n";
    }
  }
  return summary.interrupted ? 130 : 0;
}

}  // namespace

void register_index_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<IndexCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "index",
      "Index photo folders into the library: finds every JPEG, PNG, BMP and WEBP photo (by "
      "content) in the folders and their subfolders, detects and describes the faces, and "
      "stores them. Unchanged photos are skipped, changed ones re-indexed, vanished ones "
      "reported (--prune removes them). A bad file is recorded with its reason and the run "
      "goes on. Ctrl-C stops cleanly; running the same command again resumes. Exit code 130 "
      "when stopped early.");
  add_writing_library_option(cmd, options->library);
  cmd->add_option("folders", options->folders, "Folders (or single photos) to index")->required();
  cmd->add_option("--batch", options->batch, "Photos per catalog commit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--workers", options->workers, "Photos processed at once (one core each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--prune", options->prune,
                "Remove photos that are no longer on disk (with their faces) instead of only "
                "reporting them");
  cmd->add_option("--detector,-d", options->detector, "Detector backend")->capture_default_str();
  cmd->add_option("--min-face", options->min_face,
                  "Smallest face width kept, in pixels of the detection view")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--detect-size", options->detect_long_side,
                  "Big JPEGs are detected on a view whose long side is at least this (0 = full "
                  "resolution: finds smaller faces, about 3x slower)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-analytics", options->no_analytics,
                "Do not estimate age, gender and expression of the faces (faster; nothing of "
                "the kind is stored)");
  cmd->add_flag("--sensitive-attributes", options->sensitive_attributes,
                std::string(attributes::kSensitiveAttributesHelp))
      ->excludes("--no-analytics");
  cmd->add_flag("--json", options->json, "Print the summary as JSON");
  cmd->add_flag("--quiet,-q", options->quiet, "No progress bar and no summary");
  cmd->add_flag("--progress", options->progress,
                "Show the progress bar even when stderr is not a terminal");
  cmd->callback([options, &global, &exit_code] { exit_code = run_index(global, *options); });
}

}  // namespace likeness::cli
