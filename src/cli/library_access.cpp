// Opening the library a command names, with its passphrase when encrypted
// (declared in commands.h).
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "likeness/core/error.h"
#include "likeness/store/catalog.h"

namespace likeness::cli {
namespace {

// One line from the terminal with echo off; nullopt without a terminal.
std::optional<std::string> ask_without_echo(const std::string& prompt) {
  FILE* terminal = std::fopen("/dev/tty", "r+");
  if (terminal == nullptr) return std::nullopt;
  const int fd = fileno(terminal);
  termios saved{};
  const bool can_hide = tcgetattr(fd, &saved) == 0;
  if (can_hide) {
    termios hidden = saved;
    hidden.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &hidden);
  }
  std::fputs(prompt.c_str(), terminal);
  std::fflush(terminal);
  std::string line;
  for (int c = std::fgetc(terminal); c != EOF && c != '\n'; c = std::fgetc(terminal)) {
    line.push_back(static_cast<char>(c));
  }
  if (can_hide) tcsetattr(fd, TCSAFLUSH, &saved);
  std::fputs("\n", terminal);
  std::fclose(terminal);
  return line;
}

}  // namespace

void add_library_option(CLI::App* command, LibraryLocation& location) {
  command->add_option("--library,-L", location.dir,
                      "Library folder (default: $LIKENESS_LIBRARY, else "
                      "~/.local/share/likeness/library)");
  command->add_option("--passphrase-file", location.passphrase_file,
                      "An encrypted library's passphrase: the first line of FILE (else "
                      "$LIKENESS_PASSPHRASE, else it is asked on the terminal)");
}

void add_writing_library_option(CLI::App* command, LibraryLocation& location) {
  add_library_option(command, location);
  command->add_flag("--no-wait", location.no_wait,
                    "When another likeness process is writing the library, fail at once "
                    "instead of waiting for it to finish");
}

std::filesystem::path library_dir(const LibraryLocation& location) {
  return location.dir.empty() ? library::default_library_dir() : location.dir;
}

std::string library_passphrase(const LibraryLocation& location, bool ask, bool confirm) {
  if (!location.passphrase_file.empty()) {
    std::ifstream in(location.passphrase_file, std::ios::binary);
    std::string line;
    if (!in || !std::getline(in, line)) {
      throw UsageError("cannot read a passphrase from " + location.passphrase_file.string() +
                       " (--passphrase-file): it must exist and hold the passphrase on its "
                       "first line");
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  if (const char* env = std::getenv("LIKENESS_PASSPHRASE"); env != nullptr && *env != '\0') {
    return env;
  }
  if (!ask) return {};
  const auto first = ask_without_echo(confirm ? "New passphrase for the library: "
                                              : "Passphrase for the library: ");
  if (!first) return {};
  if (confirm) {
    const auto second = ask_without_echo("The same passphrase again: ");
    if (!second || *second != *first) {
      throw UsageError("the two passphrases differ; nothing was created");
    }
  }
  return *first;
}

std::unique_ptr<library::Library> open_library(const LibraryLocation& location,
                                               library::LibraryOptions options) {
  const std::filesystem::path dir = library_dir(location);
  if (options.passphrase.empty()) {
    options.passphrase = library_passphrase(location, store::catalog_is_encrypted(dir));
  }
  auto library = library::Library::open(dir, options);
  if (library->finished_interrupted_erasure()) {
    std::cerr << "likeness: finished an erasure that had been interrupted: its deleted data is "
                 "now purged from "
              << dir.string() << '\n';
  }
  return library;
}

std::unique_ptr<library::Library> open_library_for_writing(const LibraryLocation& location,
                                                           library::LibraryOptions options) {
  const std::filesystem::path dir = library_dir(location);
  store::WriterLockOptions writer;
  if (location.no_wait) writer.wait = std::chrono::milliseconds(0);
  writer.on_wait = [dir](const store::WriterInfo& holder) {
    std::cerr << "likeness: " << holder.describe() << " is writing the library at " << dir.string()
              << "; waiting for it to finish (Ctrl-C gives up; --no-wait fails at once)\n";
  };
  options.writer = std::move(writer);
  return open_library(location, std::move(options));
}

}  // namespace likeness::cli
