// `likeness erase`: the right of erasure (docs/privacy.md).
// `likeness export`: the rights of access and portability.
// `likeness privacy log`: the audit log of erasures, exports, merges and renames.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/commands.h"
#include "likeness/library/erasure.h"
#include "likeness/library/export.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library_json.h"
#include "likeness/library/people.h"
#include "likeness/library/photo_analyzer.h"
#include "likeness/library/retention.h"

namespace likeness::cli {
namespace {

struct EraseOptions {
  LibraryLocation library;
  std::string person;
  std::filesystem::path photo;
  std::filesystem::path like;
  int face = -1;
  double threshold = -1.0;
  bool yes = false;
  bool json = false;
  bool with_photos = false;
};

// What the plan would remove, in words a person can check before saying yes.
struct PlanView {
  std::set<std::string> photo_paths;  // photos that lose faces (or their record)
  std::vector<std::string> people;    // labels of the people records erased by name
};

PlanView describe_plan(store::Catalog& catalog, const library::ErasurePlan& plan) {
  PlanView view;
  for (const std::int64_t face_id : plan.faces) {
    if (const auto face = catalog.find_face(face_id)) {
      if (const auto photo = catalog.find_photo(face->photo_id))
        view.photo_paths.insert(photo->path);
    }
  }
  for (const std::int64_t photo_id : plan.photos) {
    if (const auto photo = catalog.find_photo(photo_id)) view.photo_paths.insert(photo->path);
  }
  for (const std::int64_t person_id : plan.people) {
    if (const auto person = catalog.find_person(person_id)) {
      view.people.push_back(library::person_label(*person));
    }
  }
  return view;
}

// Asks on the terminal; false (and a message) when there is no terminal to ask.
bool confirmed_by_user(const std::string& question) {
  if (!isatty(STDIN_FILENO)) {
    std::cerr << "likeness: erase asks for confirmation and stdin is not a terminal: add --yes "
                 "to erase without asking\n";
    return false;
  }
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

library::ErasurePlan plan_from_options(const GlobalOptions& global, const EraseOptions& options,
                                       library::Library& lib) {
  store::Catalog& catalog = lib.catalog();
  if (!options.person.empty()) {
    return library::plan_person_erasure(catalog, library::find_person(catalog, options.person).id);
  }
  if (!options.photo.empty()) {
    const std::string key = library::library_path(options.photo);
    const auto photo = catalog.find_photo(key);
    if (!photo) throw UsageError("the photo " + key + " is not in the library");
    return library::plan_photo_erasure(catalog, photo->id);
  }
  const infer::ModelStore store = infer::ModelStore::open({.models_dir = global.models_dir});
  auto analyzer = library::PhotoAnalyzer::create(store, {});
  const library::DetectedPhoto photo = analyzer->detect(options.like);
  if (!photo.ok()) throw UsageError(photo.message);
  if (photo.faces.empty()) {
    throw UsageError(options.like.string() +
                     ": no face found. Use a photo with a clear, well-lit face at least 30x30 "
                     "pixels");
  }
  const std::size_t chosen = options.face < 0 ? library::largest_face(photo.faces)
                                              : static_cast<std::size_t>(options.face);
  if (chosen >= photo.faces.size()) {
    throw UsageError("--face " + std::to_string(options.face) + ": the photo has " +
                     std::to_string(photo.faces.size()) + " faces");
  }
  const match::FaceDescription query = analyzer->describe(photo, chosen);
  const double threshold = options.threshold >= 0.0
                               ? options.threshold
                               : analyzer->recognizer().calibration().probability_threshold();
  return library::plan_like_erasure(lib, analyzer->recognizer(), query, threshold);
}

int run_erase(const GlobalOptions& global, const EraseOptions& options) {
  const int given = !options.person.empty() + !options.photo.empty() + !options.like.empty();
  if (given != 1) {
    std::cerr << "likeness: erase needs exactly one of --person NAME|ID, --photo PATH, --like "
                 "PHOTO\n";
    return 2;
  }
  if (options.with_photos && options.person.empty() && options.like.empty()) {
    throw UsageError(
        "--with-photos goes with --person or --like (--photo always deletes the "
        "photo's record)");
  }
  // The writer lock from the plan to the purge: nothing may change in between.
  auto lib = open_library_for_writing(options.library, {.create_if_missing = false});
  library::ErasurePlan plan = plan_from_options(global, options, *lib);
  const std::vector<std::int64_t> photos_alone =
      library::photos_left_without_faces(lib->catalog(), plan);
  if (options.with_photos) library::add_photos_left_without_faces(lib->catalog(), plan);
  const PlanView view = describe_plan(lib->catalog(), plan);
  if (plan.empty()) {
    if (options.json) {
      std::cout << json_text({{"erased", false}, {"message", "nothing matches"}}, 2) << '\n';
    } else {
      std::cout << "Nothing in the library matches: nothing erased.\n";
    }
    return 0;
  }
  std::ostream& shown = options.json ? std::cerr : std::cout;
  shown << "To erase: " << plan.faces.size() << " face(s) in " << view.photo_paths.size()
        << " photo(s)";
  if (!view.people.empty()) shown << ", the person " << join(view.people);
  if (!plan.photos.empty()) shown << ", and " << plan.photos.size() << " photo record(s)";
  shown << ", with their vectors, attributes and person links.\n";
  if (!options.with_photos && !photos_alone.empty() && plan.scope != "photo") {
    shown << photos_alone.size() << " of these photos show nobody else. Their records (path, "
          << "size, dates) are kept, and a path can name the person; --with-photos also "
             "deletes those records.\n";
  }
  std::size_t listed = 0;
  for (const std::string& path : view.photo_paths) {
    if (++listed > 20) {
      shown << "  ... and " << view.photo_paths.size() - 20 << " more\n";
      break;
    }
    shown << "  " << path << '\n';
  }
  if (!options.yes && !confirmed_by_user("Erase this for good? It cannot be undone.")) {
    std::cerr << "likeness: nothing erased\n";
    return 1;
  }
  const library::ErasureReport report = library::erase(*lib, plan);
  if (options.json) {
    std::cout << json_text({{"erased", true},
                            {"scope", plan.scope},
                            {"faces", report.faces},
                            {"vectors", report.vectors},
                            {"links", report.links},
                            {"people", report.people},
                            {"photos", report.photos},
                            {"photos_remembered", report.photos_remembered},
                            {"audit_id", report.audit_id}},
                           2)
              << '\n';
  } else {
    std::cout << "Erased " << report.faces << " face(s), " << report.vectors << " vector(s), "
              << report.links << " person link(s), " << report.people << " person record(s), "
              << report.photos << " photo record(s); the catalog was purged and the search "
              << "index rewritten (audit entry " << report.audit_id << ").\n";
    if (report.photos_remembered > 0) {
      std::cout << "The photo files are untouched. The " << report.photos_remembered
                << " deleted photo record(s) are remembered by the sha256 of the file's bytes "
                   "only, so that indexing them again does not bring these faces back.\n";
    } else if (plan.scope != "photo") {
      std::cout << "The photo files are untouched; their records are kept, so an index run "
                   "does not bring these faces back while the files stay unchanged. An edited "
                   "copy, or another library, would find them again: move or delete the photos "
                   "to stop that.\n";
    }
  }
  return 0;
}

int run_privacy_log(const LibraryLocation& location, bool json) {
  auto lib = open_library(location, {.create_if_missing = false});
  const std::vector<store::AuditEntry> entries = lib->catalog().audit_log();
  if (json) {
    std::cout << json_text({{"entries", library::audit_log_json(entries)}}, 2) << '\n';
    return 0;
  }
  if (entries.empty()) std::cout << "The audit log is empty.\n";
  for (const store::AuditEntry& e : entries) {
    std::cout << library::iso_utc_time(e.time) << "  " << e.action << "  " << e.details << '\n';
  }
  return 0;
}

struct ExportCommandOptions {
  LibraryLocation library;
  std::string person;
  std::filesystem::path out;
  library::ExportOptions export_options;
  bool json = false;
};

int run_export(const ExportCommandOptions& options) {
  auto lib = open_library(options.library, {.create_if_missing = false});
  const store::Person person = library::find_person(lib->catalog(), options.person);
  const library::ExportReport report =
      library::export_person(*lib, person.id, options.out, options.export_options);
  if (options.json) {
    std::cout << json_text({{"out", report.out.string()},
                            {"person", person.id},
                            {"faces", report.faces},
                            {"photos", report.photos},
                            {"crops", report.crops},
                            {"missing_crops", report.missing_crops},
                            {"audit_id", report.audit_id}},
                           2)
              << '\n';
    return 0;
  }
  std::cout << "Exported " << library::person_label(person) << ": " << report.faces
            << " face(s) in " << report.photos << " photo(s), " << report.crops
            << " face crop(s), to " << report.out.string() << " (person.json and faces/).\n";
  if (report.missing_crops > 0) {
    std::cout << report.missing_crops
              << " photo(s) could not be read for a crop; person.json says why.\n";
  }
  return 0;
}

}  // namespace

void register_export_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)global;
  auto options = std::make_shared<ExportCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Export everything the library stores about a person (GDPR Art. 15/20): person.json "
      "(photos, boxes, quality, attributes, links, when each was added) and a crop of each face, "
      "into a new folder or a .zip");
  add_library_option(cmd, options->library);
  cmd->add_option("--person", options->person, "The person's name or id")->required();
  cmd->add_option("--out", options->out, "A new folder, or a file ending in .zip")->required();
  cmd->add_option("--crop-size", options->export_options.crop_size, "Long side of the face crops")
      ->capture_default_str()
      ->check(CLI::Range(32, 2048));
  cmd->add_flag("--with-vectors", options->export_options.with_vectors,
                "Include the recognition models' vectors (biometric templates) as numbers");
  cmd->add_flag("--json", options->json, "Print the result as JSON");
  cmd->callback([&exit_code, options] { exit_code = run_export(*options); });
}

void register_erase_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<EraseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "erase",
      "Erase a person, a photo, or everyone who looks like a given face from the library (GDPR "
      "Art. 17): faces, vectors, attributes, person links and records, with no recoverable copy "
      "left in the library's files. Shows what will go and asks first.");
  add_writing_library_option(cmd, options->library);
  cmd->add_option("--person", options->person,
                  "A person's name or id (see `likeness people list`)");
  cmd->add_option("--photo", options->photo, "An indexed photo: its record and all its faces");
  cmd->add_option("--like", options->like,
                  "A photo of the data subject: erases every face that matches its face");
  cmd->add_option("--face", options->face,
                  "With --like: which face of the photo (default: largest)");
  cmd->add_option("--threshold", options->threshold,
                  "With --like: the least probability of a match (default: the calibrated "
                  "decision threshold)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--with-photos", options->with_photos,
                "Also delete the records of the photos in which nobody else is left (their "
                "paths can name the person); they are remembered by content only, so that "
                "indexing them again does not bring the faces back");
  cmd->add_flag("--yes,-y", options->yes, "Do not ask for confirmation");
  cmd->add_flag("--json", options->json, "Print the result as JSON (the plan goes to stderr)");
  cmd->callback([&global, &exit_code, options] { exit_code = run_erase(global, *options); });
}

namespace {

struct RetentionCommandOptions {
  LibraryLocation library;
  std::string unnamed_days;  // "" = unchanged, "off", or a number of days
  std::string vanished;      // "" = unchanged, "on", "off"
  bool dry_run = false;
  bool json = false;
};

int run_retention_settings(const RetentionCommandOptions& options) {
  const bool changing = !options.unnamed_days.empty() || !options.vanished.empty();
  auto lib = changing ? open_library_for_writing(options.library, {.create_if_missing = false})
                      : open_library(options.library, {.create_if_missing = false});
  library::RetentionPolicy policy = library::load_retention_policy(lib->catalog());
  if (options.unnamed_days == "off") {
    policy.unnamed_face_days.reset();
  } else if (!options.unnamed_days.empty()) {
    try {
      policy.unnamed_face_days = std::stoi(options.unnamed_days);
    } catch (const std::exception&) {
      throw UsageError("--unnamed-days takes a number of days or 'off', not '" +
                       options.unnamed_days + "'");
    }
  }
  if (!options.vanished.empty()) policy.vanished_photos = options.vanished == "on";
  if (changing) {
    library::save_retention_policy(lib->catalog(), policy);
    lib->catalog().add_audit_entry("retention_policy", library::retention_policy_json(policy));
  }
  if (options.json) {
    std::cout << json_text(nlohmann::json::parse(library::retention_policy_json(policy)), 2)
              << '\n';
    return 0;
  }
  std::cout << "Faces of people never named: "
            << (policy.unnamed_face_days ? "deleted " + std::to_string(*policy.unnamed_face_days) +
                                               " days after indexing"
                                         : std::string("kept"))
            << "\nFaces of photos that vanished from disk: "
            << (policy.vanished_photos ? "deleted" : "kept")
            << "\nApplied by `likeness privacy apply-retention` and by every `likeness index`.\n";
  return 0;
}

int run_apply_retention(const RetentionCommandOptions& options) {
  auto lib = options.dry_run
                 ? open_library(options.library, {.create_if_missing = false})
                 : open_library_for_writing(options.library, {.create_if_missing = false});
  const library::RetentionPolicy policy = library::load_retention_policy(lib->catalog());
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  library::ErasureReport report;
  if (options.dry_run) {
    const library::ErasurePlan plan = library::plan_retention(lib->catalog(), policy, now);
    report.faces = plan.faces.size();
    report.photos = plan.photos.size();
  } else {
    report = library::apply_retention(*lib, policy, now);
  }
  if (options.json) {
    nlohmann::json out = nlohmann::json::parse(library::erasure_details_json("retention", report));
    out["dry_run"] = options.dry_run;
    out["policy"] = nlohmann::json::parse(library::retention_policy_json(policy));
    std::cout << json_text(out, 2) << '\n';
    return 0;
  }
  if (!policy.any()) {
    std::cout << "No retention rule is set (see `likeness privacy retention --help`): nothing "
                 "deleted.\n";
    return 0;
  }
  std::cout << (options.dry_run ? "Would delete " : "Deleted ") << report.faces << " face(s)"
            << (options.dry_run ? "" : ", " + std::to_string(report.people) + " person record(s)")
            << " and " << report.photos << " photo record(s).\n";
  return 0;
}

}  // namespace

void register_privacy_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  (void)global;
  CLI::App* cmd = app.add_subcommand("privacy", "Privacy tools: retention rules and the audit log");
  cmd->require_subcommand(1);
  auto retention_options = std::make_shared<RetentionCommandOptions>();
  CLI::App* retention =
      cmd->add_subcommand("retention",
                          "Show or set how long faces are kept (a library setting, applied by "
                          "apply-retention and every index run)");
  add_writing_library_option(retention, retention_options->library);
  retention->add_option("--unnamed-days", retention_options->unnamed_days,
                        "Delete faces of people never named this many days after indexing "
                        "('off' keeps them)");
  retention
      ->add_option("--vanished", retention_options->vanished,
                   "Delete the faces of photos that vanished from disk (on/off)")
      ->check(CLI::IsMember({"on", "off"}));
  retention->add_flag("--json", retention_options->json, "Print the policy as JSON");
  retention->callback(
      [&exit_code, retention_options] { exit_code = run_retention_settings(*retention_options); });
  CLI::App* apply =
      cmd->add_subcommand("apply-retention",
                          "Delete what the retention rules say has expired (securely, with an "
                          "audit entry)");
  add_writing_library_option(apply, retention_options->library);
  apply->add_flag("--dry-run", retention_options->dry_run, "Only count what would go");
  apply->add_flag("--json", retention_options->json, "Print the counts as JSON");
  apply->callback(
      [&exit_code, retention_options] { exit_code = run_apply_retention(*retention_options); });
  auto dir = std::make_shared<LibraryLocation>();
  auto json = std::make_shared<bool>(false);
  CLI::App* log = cmd->add_subcommand(
      "log",
      "The audit log: every erasure, merge and rename, with time and counts (no names, "
      "paths or face data)");
  add_library_option(log, *dir);
  log->add_flag("--json", *json, "Print as JSON");
  log->callback([&exit_code, dir, json] { exit_code = run_privacy_log(*dir, *json); });
}

}  // namespace likeness::cli
