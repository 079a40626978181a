// `likeness library info | check | init | encrypt | upgrade`: what the library
// holds, whether the catalog and the vector index are sound and in step,
// making a library (optionally encrypted), encrypting an existing one, and
// upgrading one encrypted in the old format (AES-256-XTS, not authenticated).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/core/error.h"
#include "likeness/library/library.h"
#include "likeness/store/catalog.h"
#include "likeness/store/encryption.h"

namespace likeness::cli {
namespace {

struct LibraryCommandOptions {
  LibraryLocation library;
  bool json = false;
  bool repair = false;
  bool encrypt = false;
};

std::uintmax_t folder_bytes(const std::filesystem::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

int run_info(const LibraryCommandOptions& options) {
  auto lib = open_library(options.library, {.create_if_missing = false});
  store::Catalog& catalog = lib->catalog();
  const nlohmann::json info{{"library", lib->dir().string()},
                            {"schema_version", catalog.schema_version()},
                            {"encrypted", catalog.encrypted()},
                            {"photos",
                             {{"indexed", catalog.photo_count(store::PhotoStatus::kIndexed)},
                              {"failed", catalog.photo_count(store::PhotoStatus::kFailed)},
                              {"vanished", catalog.photo_count(store::PhotoStatus::kVanished)}}},
                            {"faces", catalog.face_count()},
                            {"searchable_vectors", catalog.face_ids_with_vector().size()},
                            {"people", catalog.list_people().size()},
                            {"bytes_on_disk", folder_bytes(lib->dir())}};
  if (options.json) {
    std::cout << json_text(info, 2) << '\n';
    return 0;
  }
  std::cout << "Library " << info["library"].get<std::string>() << " (schema "
            << info["schema_version"] << (catalog.encrypted() ? ", encrypted" : "") << ")\n"
            << "  photos: " << info["photos"]["indexed"] << " indexed, " << info["photos"]["failed"]
            << " failed, " << info["photos"]["vanished"] << " vanished\n"
            << "  faces: " << info["faces"] << " (" << info["searchable_vectors"]
            << " with vectors)\n"
            << "  people: " << info["people"] << '\n'
            << "  on disk: " << format_bytes(info["bytes_on_disk"].get<std::uintmax_t>()) << '\n';
  return 0;
}

int run_check(const LibraryCommandOptions& options) {
  // Opened as it is: an interrupted erasure is reported, and finished only
  // with --repair.
  library::LibraryOptions open_options{.create_if_missing = false,
                                       .finish_interrupted_work = false};
  auto lib = options.repair ? open_library_for_writing(options.library, open_options)
                            : open_library(options.library, open_options);
  library::LibraryCheck report = lib->check();
  std::string erasure_repaired, repaired;
  if (options.repair && report.erasure_pending) {
    lib->purge_erased();
    erasure_repaired = "finished: the deleted data was purged and the index rewritten";
    report = lib->check();
  }
  if (options.repair && !report.index_ok() && report.catalog_ok()) {
    lib->vector_index();
    const library::IndexState& state = lib->index_state();
    repaired = std::string(library::to_string(state.source)) +
               (state.reason.empty() ? "" : ": " + state.reason);
    report = lib->check();
  }
  if (options.json) {
    nlohmann::json out{{"library", lib->dir().string()},
                       {"ok", report.ok()},
                       {"catalog_ok", report.catalog_ok()},
                       {"index_ok", report.index_ok()},
                       {"integrity", report.catalog.integrity},
                       {"orphan_faces", report.catalog.orphan_faces},
                       {"orphan_vectors", report.catalog.orphan_vectors},
                       {"links_missing_face", report.catalog.links_missing_face},
                       {"links_missing_person", report.catalog.links_missing_person},
                       {"malformed_vectors", report.catalog.malformed_vectors},
                       {"catalog_vectors", report.catalog_vectors},
                       {"index_entries", report.index_entries},
                       {"missing_from_index", report.missing_from_index},
                       {"extra_in_index", report.extra_in_index},
                       {"faces_without_vector", report.faces_without_vector},
                       {"erasure_pending", report.erasure_pending},
                       {"problems", report.problems}};
    if (!repaired.empty()) out["index_repair"] = repaired;
    if (!erasure_repaired.empty()) out["erasure_repair"] = erasure_repaired;
    std::cout << json_text(out, 2) << '\n';
  } else {
    if (!erasure_repaired.empty()) std::cout << "Erasure " << erasure_repaired << ".\n";
    if (!repaired.empty()) std::cout << "Index " << repaired << ".\n";
    std::cout << "Catalog: " << (report.catalog_ok() ? "ok" : "PROBLEMS") << "\n"
              << "Index: " << (report.index_ok() ? "ok" : "out of step") << " ("
              << report.index_entries << " entries for " << report.catalog_vectors
              << " faces with vectors)\n";
    for (const std::string& problem : report.problems) std::cout << "  " << problem << '\n';
    if (report.erasure_pending) {
      std::cout << "Erasure: interrupted before its purge; --repair (or any other command) "
                   "finishes it.\n";
    }
    if (!report.index_ok() && report.catalog_ok() && !options.repair) {
      std::cout << "The index is repaired automatically on the next search or index run, or "
                   "now with --repair.\n";
    }
    if (!report.catalog_ok()) {
      std::cout << "The catalog is damaged: restore " << (lib->dir() / "catalog.sqlite").string()
                << " from a backup, or index the photos into a new library.\n";
    }
  }
  return report.ok() ? 0 : 1;
}

void print_encryption_notice() {
  std::cerr << "The catalog (every page and log frame) and the saved vector index are encrypted "
               "and authenticated with AES-256-GCM, under keys derived from the passphrase: a "
               "file changed outside Likeness is refused, not read. Without the passphrase "
               "the library cannot be opened by anyone, including you: there is no recovery. "
               "Photos themselves are not copied into the library and stay as they are.\n";
}

int run_init(const LibraryCommandOptions& options) {
  const std::filesystem::path dir = library_dir(options.library);
  if (std::filesystem::exists(dir / "catalog.sqlite")) {
    throw UsageError("a library already exists at " + dir.string() +
                     (options.encrypt ? "; to encrypt it use `likeness library encrypt`" : ""));
  }
  library::LibraryOptions open_options;
  if (options.encrypt) {
    open_options.passphrase = library_passphrase(options.library, true, true);
    if (open_options.passphrase.empty()) {
      throw UsageError(
          "--encrypt needs a passphrase: --passphrase-file FILE, "
          "LIKENESS_PASSPHRASE, or a terminal to ask on");
    }
    open_options.encrypt_if_created = true;
  }
  auto lib = library::Library::open(dir, open_options);
  std::cout << "Created " << (lib->catalog().encrypted() ? "an encrypted" : "a") << " library at "
            << dir.string() << '\n';
  if (options.encrypt) print_encryption_notice();
  return 0;
}

int run_encrypt(const LibraryCommandOptions& options) {
  const std::filesystem::path dir = library_dir(options.library);
  if (store::catalog_is_encrypted(dir)) {
    throw UsageError("the library at " + dir.string() + " is encrypted already");
  }
  const std::string passphrase = library_passphrase(options.library, true, true);
  if (passphrase.empty()) {
    throw UsageError(
        "encrypting needs a passphrase: --passphrase-file FILE, "
        "LIKENESS_PASSPHRASE, or a terminal to ask on");
  }
  const store::EncryptionReport report = store::encrypt_catalog(dir, passphrase);
  // Opening the now encrypted library overwrites and deletes the unencrypted
  // vector index (Library::open); the next search or index run saves it sealed.
  library::LibraryOptions open_options;
  open_options.create_if_missing = false;
  open_options.passphrase = passphrase;
  library::Library::open(dir, open_options).reset();
  std::cout << "Encrypted the library at " << dir.string() << ": " << report.rows_copied
            << " rows copied, the old catalog (" << format_bytes(report.plain_bytes_overwritten)
            << ") and the unencrypted index overwritten with zeros and deleted.\n";
  print_encryption_notice();
  std::cerr << "On SSDs, copy-on-write file systems and in backups, old copies of the "
               "unencrypted files may survive; see docs/privacy.md.\n";
  return 0;
}

int run_upgrade(const LibraryCommandOptions& options) {
  const std::filesystem::path dir = library_dir(options.library);
  if (!store::catalog_is_encrypted(dir)) {
    throw UsageError("the library at " + dir.string() +
                     " is not encrypted: there is nothing to upgrade (to encrypt it, use "
                     "`likeness library encrypt`)");
  }
  if (store::CatalogKey::format_of(dir / store::kCatalogKeyFile) ==
      store::PageFormat::kAuthenticated) {
    std::cout << "The library at " << dir.string()
              << " already uses authenticated encryption; nothing to do.\n";
    return 0;
  }
  const std::string passphrase = library_passphrase(options.library, true);
  if (passphrase.empty()) {
    throw UsageError(
        "upgrading needs the library's passphrase: --passphrase-file FILE, "
        "LIKENESS_PASSPHRASE, or a terminal to ask on");
  }
  const store::EncryptionReport report = store::upgrade_catalog(dir, passphrase);
  library::LibraryOptions open_options;
  open_options.create_if_missing = false;
  open_options.passphrase = passphrase;
  library::Library::open(dir, open_options).reset();
  std::cout << "Upgraded the library at " << dir.string()
            << " to authenticated encryption: " << report.rows_copied
            << " rows copied into a new catalog under a new key (same passphrase), the old "
               "catalog ("
            << format_bytes(report.plain_bytes_overwritten)
            << ") overwritten with zeros and replaced. The search index is rebuilt on the next "
               "search or index run.\n";
  return 0;
}

}  // namespace

void register_library_command(CLI::App& app, const GlobalOptions& /*global*/, int& exit_code) {
  CLI::App* cmd =
      app.add_subcommand("library", "Inspect, check, create, encrypt or upgrade the photo library");
  cmd->require_subcommand(1);
  auto options = std::make_shared<LibraryCommandOptions>();

  CLI::App* info = cmd->add_subcommand("info", "Counts of photos, faces and people");
  add_library_option(info, options->library);
  info->add_flag("--json", options->json, "JSON output");
  info->callback([options, &exit_code] { exit_code = run_info(*options); });

  CLI::App* check = cmd->add_subcommand(
      "check",
      "Verify the library: the catalog's integrity (storage check, orphan rows, malformed "
      "vectors) and the vector index against the catalog. Exit code 1 when anything is wrong.");
  add_writing_library_option(check, options->library);
  check->add_flag("--json", options->json, "JSON output");
  check->add_flag("--repair", options->repair,
                  "Finish an interrupted erasure, and bring an out-of-step vector index up to "
                  "date (the catalog's content is never changed)");
  check->callback([options, &exit_code] { exit_code = run_check(*options); });

  CLI::App* init = cmd->add_subcommand(
      "init", "Create an empty library (`likeness index` also creates one when missing)");
  add_library_option(init, options->library);
  init->add_flag("--encrypt", options->encrypt,
                 "Encrypt the library with a passphrase (asked twice on the terminal, or "
                 "--passphrase-file / LIKENESS_PASSPHRASE); every later command needs it");
  init->callback([options, &exit_code] { exit_code = run_init(*options); });

  CLI::App* encrypt = cmd->add_subcommand(
      "encrypt",
      "Encrypt an existing library with a passphrase: the catalog is rewritten encrypted, the "
      "old one overwritten with zeros, the unencrypted index deleted");
  add_library_option(encrypt, options->library);
  encrypt->callback([options, &exit_code] { exit_code = run_encrypt(*options); });

  CLI::App* upgrade = cmd->add_subcommand(
      "upgrade",
      "Upgrade a library encrypted by an older Likeness (AES-256-XTS, which cannot tell when its "
      "files were changed) to authenticated encryption: the catalog is rewritten with the same "
      "passphrase, the old one overwritten with zeros. No other likeness command may use the "
      "library meanwhile");
  add_library_option(upgrade, options->library);
  upgrade->callback([options, &exit_code] { exit_code = run_upgrade(*options); });
}

}  // namespace likeness::cli
