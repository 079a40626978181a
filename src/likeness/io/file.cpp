#include "likeness/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace likeness::io {

std::string_view to_string(FileError error) {
  switch (error) {
    case FileError::none:
      return "none";
    case FileError::not_found:
      return "not_found";
    case FileError::not_a_file:
      return "not_a_file";
    case FileError::unreadable:
      return "unreadable";
    case FileError::too_large:
      return "too_large";
  }
  return "unknown";
}

namespace {

FileBytes failure(FileError error, const std::filesystem::path& path, const std::string& reason) {
  FileBytes out;
  out.error = error;
  out.message = path.string() + ": " + reason;
  return out;
}

FileBytes failure_from_errno(const std::filesystem::path& path, int err, const char* what) {
  if (err == ENOENT || err == ENOTDIR) return failure(FileError::not_found, path, "no such file");
  if (err == EISDIR) return failure(FileError::not_a_file, path, "is a directory");
  return failure(FileError::unreadable, path, std::string(what) + ": " + std::strerror(err));
}

// Closes the descriptor on every return path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads the file; with `prefix_only`, stops after max_bytes instead of
// refusing a larger file.
FileBytes read_file(const std::filesystem::path& path, std::uint64_t max_bytes, bool prefix_only) {
  // O_NONBLOCK so that opening a FIFO returns at once instead of waiting for
  // a writer; it has no effect on regular files.
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (file.fd < 0) return failure_from_errno(path, errno, "cannot open");

  struct stat info {};
  if (::fstat(file.fd, &info) != 0) return failure_from_errno(path, errno, "cannot stat");
  if (S_ISDIR(info.st_mode)) return failure(FileError::not_a_file, path, "is a directory");
  if (!S_ISREG(info.st_mode)) {
    return failure(FileError::not_a_file, path, "is not a regular file (device, FIFO or socket)");
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > max_bytes && !prefix_only) {
    return failure(FileError::too_large, path,
                   "file is " + std::to_string(size) + " bytes, more than the limit of " +
                       std::to_string(max_bytes) + " bytes");
  }

  FileBytes out;
  out.whole_file = size <= max_bytes;
  out.bytes.resize(static_cast<std::size_t>(std::min(size, max_bytes)));
  std::size_t done = 0;
  while (done < out.bytes.size()) {
    const ssize_t n = ::read(file.fd, out.bytes.data() + done, out.bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failure_from_errno(path, errno, "read error");
    }
    if (n == 0) break;  // the file shrank while we read it: keep what is there
    done += static_cast<std::size_t>(n);
  }
  out.bytes.resize(done);
  return out;
}

}  // namespace

FileBytes read_file_bytes(const std::filesystem::path& path, std::uint64_t max_bytes) {
  return read_file(path, max_bytes, /*prefix_only=*/false);
}

FileBytes read_file_prefix(const std::filesystem::path& path, std::size_t max_bytes) {
  return read_file(path, max_bytes, /*prefix_only=*/true);
}

std::optional<std::string> write_file_atomically(const std::filesystem::path& path,
                                                 std::string_view bytes) {
  const std::filesystem::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return temporary.string() + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool written = done == bytes.size() && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(written ? errno : error);
    ::unlink(temporary.c_str());
    return path.string() + ": " + why + " (disk full or not writable?)";
  }
  return std::nullopt;
}

std::optional<std::uintmax_t> shred_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT ? std::optional<std::uintmax_t>(0) : std::nullopt;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  const std::vector<char> zeros(1 << 16, 0);
  const auto size = static_cast<std::uintmax_t>(st.st_size);
  std::uintmax_t done = 0;
  while (done < size) {
    const std::size_t chunk =
        static_cast<std::size_t>(std::min<std::uintmax_t>(zeros.size(), size - done));
    const ssize_t n = ::pwrite(fd, zeros.data(), chunk, static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<std::uintmax_t>(n);
  }
  const bool overwritten = done == size && ::fsync(fd) == 0;
  ::close(fd);
  if (!overwritten || ::unlink(path.c_str()) != 0) return std::nullopt;
  return size;
}

}  // namespace likeness::io
