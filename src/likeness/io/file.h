// Reading whole files into memory with per-file error values; writing a
// file so that readers never see half of it; destroying a file's content.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace likeness::io {

// Why a file could not be read. Each is an expected outcome in a photo
// collection (a file deleted during a scan, a stray folder named x.jpg), so
// it is reported as a value, never thrown.
enum class FileError {
  none,
  not_found,   // no such file (or a dangling symlink)
  not_a_file,  // a directory, FIFO, socket or device
  unreadable,  // permission denied or an I/O error while reading
  too_large,   // bigger than the caller's byte limit
};

// "not_found", "not_a_file", ... (stable identifiers, for logs and JSON).
std::string_view to_string(FileError error);

struct FileBytes {
  std::vector<std::uint8_t> bytes;
  FileError error = FileError::none;
  std::string message;     // empty on success; names the file and the reason
  bool whole_file = true;  // false when read_file_prefix stopped before the end

  bool ok() const { return error == FileError::none; }
};

// Reads the whole regular file at `path`.
// Returns the bytes, or on failure an error kind and a message such as
// "photos/x.jpg: is a directory". A zero-byte file is success with no bytes.
// Non-regular files (FIFOs, devices) are refused without reading them, so a
// FIFO in a photo folder cannot block a scan.
// max_bytes: files larger than this are refused as too_large before reading.
// Thread-safe (no shared state).
FileBytes read_file_bytes(const std::filesystem::path& path, std::uint64_t max_bytes = UINT64_MAX);

// Reads at most the first `max_bytes` bytes of the regular file at `path`
// (for header probes). A larger file is not an error: whole_file is then
// false. Same errors as read_file_bytes otherwise. Thread-safe.
FileBytes read_file_prefix(const std::filesystem::path& path, std::size_t max_bytes);

// Writes `bytes` to `path` through a temporary file beside it, synced and
// renamed into place: a reader (or a crash) sees the old file or the new one,
// never a torn one. Returns why it failed ("disk full or not writable?"), or
// nothing on success; the temporary file is removed on failure.
std::optional<std::string> write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view bytes);

// Overwrites a regular file's bytes with zeros in place, syncs, and removes it,
// so that the blocks it used do not keep its content (on a file system that
// rewrites in place; see docs/privacy.md for SSDs and copy-on-write file
// systems). Returns the bytes overwritten; 0 for a missing file. Failures to
// overwrite leave the file and return nothing.
std::optional<std::uintmax_t> shred_file(const std::filesystem::path& path);

}  // namespace likeness::io
