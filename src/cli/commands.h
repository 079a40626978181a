// The `likeness` command: each subcommand registers itself on the CLI11 app
// and is a thin shell over the library.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/library/library.h"
#include "likeness/quality/quality.h"

namespace likeness::cli {

// Options every subcommand shares.
struct GlobalOptions {
  std::filesystem::path models_dir;  // empty = ModelStore::default_models_dir()
};

// Each register_* adds one subcommand. The callback it installs sets the
// process exit code through `exit_code`.
void register_models_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_detect_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_compare_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_embed_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_index_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_search_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_library_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_people_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_analyze_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_erase_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_export_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
void register_privacy_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

// Which library a command works on, and how to unlock it when encrypted.
struct LibraryLocation {
  std::filesystem::path dir;              // empty = library::default_library_dir()
  std::filesystem::path passphrase_file;  // empty = $LIKENESS_PASSPHRASE or ask
  bool no_wait = false;  // a command that writes: fail instead of waiting for another writer
};
// Adds `--library DIR` and `--passphrase-file FILE` to a library command.
void add_library_option(CLI::App* command, LibraryLocation& location);
// add_library_option() and `--no-wait`, for a command that writes.
void add_writing_library_option(CLI::App* command, LibraryLocation& location);
// The folder: location.dir, or the default library folder when empty.
std::filesystem::path library_dir(const LibraryLocation& location);
// The passphrase the user gave for the library: the first line of
// --passphrase-file, else $LIKENESS_PASSPHRASE; when neither is given and
// `ask` is set, it is read from the terminal without echo (twice when
// `confirm`, for a new passphrase). Empty when none was given and none could
// be asked for. Throws UsageError for an unreadable passphrase file.
std::string library_passphrase(const LibraryLocation& location, bool ask, bool confirm = false);
// Opens the library (library::Library::open) with the passphrase it needs:
// the given one, or, for an encrypted library, one asked on the terminal.
std::unique_ptr<library::Library> open_library(const LibraryLocation& location,
                                               library::LibraryOptions options = {});
// The same for a command that writes: it holds the library's writer lock until
// the Library is destroyed. When another process writes, it says so on stderr
// and waits, or with --no-wait fails (store::LibraryBusyError) at once.
std::unique_ptr<library::Library> open_library_for_writing(const LibraryLocation& location,
                                                           library::LibraryOptions options = {});

// Human-readable byte count ("4.9 MB").
std::string format_bytes(std::uintmax_t bytes);

// "a, b, c": for help texts that list the names an option accepts.
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

// JSON as text for output. Paths need not be UTF-8 (file names are bytes):
// invalid sequences are printed as U+FFFD instead of aborting the command.
inline std::string json_text(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A face's quality measures as JSON (`detect --json`, `compare --json`):
// {overall, high, formula, sharpness, contrast, size, pose, exposure,
//  yaw, pitch, roll (degrees, null without landmarks), raw: {...}}.
nlohmann::json quality_json(const quality::QualityMeasures& q);

}  // namespace likeness::cli
