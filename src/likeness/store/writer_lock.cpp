#include "likeness/store/writer_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace likeness::store {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return {};
  return name;
}

// What the holder wrote; pid 0 when nothing (yet) or not readable.
WriterInfo parse_info(const std::string& text) {
  WriterInfo info;
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (!document.is_object()) return info;
  info.pid = document.value("pid", std::int64_t{0});
  info.host = document.value("host", "");
  info.command = document.value("command", "");
  info.since = document.value("since", std::int64_t{0});
  return info;
}

WriterInfo read_info(int fd) {
  std::string text(4096, '\0');
  const ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  if (n <= 0) return {};
  text.resize(static_cast<std::size_t>(n));
  return parse_info(text);
}

void write_info(int fd, const WriterInfo& info) {
  const std::string text =
      nlohmann::json{
          {"pid", info.pid}, {"host", info.host}, {"command", info.command}, {"since", info.since}}
          .dump() +
      "\n";
  // Best effort: the lock is what matters; the text only makes messages
  // friendlier.
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd, text.data(), text.size(), 0);
  }
}

bool looks_personal(const std::string& word) {
  if (word.empty() || word.size() > 20) return true;
  return std::any_of(word.begin(), word.end(),
                     [](unsigned char c) { return !(std::islower(c) || c == '-' || c == '_'); });
}

}  // namespace

std::string WriterInfo::describe() const {
  if (pid == 0) return "another likeness process";
  const bool this_process = pid == static_cast<std::int64_t>(::getpid()) && host == host_name();
  std::string text = this_process ? "this process" : "another likeness process";
  text += " (pid " + std::to_string(pid);
  if (!host.empty() && host != host_name()) text += " on " + host;
  if (!command.empty()) text += ", `" + command + "`";
  if (since > 0) {
    const std::int64_t seconds = std::max<std::int64_t>(0, now_seconds() - since);
    text += seconds < 120 ? ", for " + std::to_string(seconds) + " s"
                          : ", for " + std::to_string(seconds / 60) + " min";
  }
  return text + ")";
}

std::string current_command() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> words;
  for (std::string word; std::getline(in, word, '\0');) words.push_back(word);
  if (words.empty()) return "likeness";
  std::string command = std::filesystem::path(words.front()).filename().string();
  int command_words = 0;
  for (std::size_t i = 1; i < words.size() && command_words < 2; ++i) {
    const std::string& word = words[i];
    if (!word.empty() && word.front() == '-') {
      // An option, and its value when it is a separate word.
      if (word.find('=') == std::string::npos && i + 1 < words.size() && !words[i + 1].empty() &&
          words[i + 1].front() != '-') {
        ++i;
      }
      continue;
    }
    if (looks_personal(word)) break;
    command += " " + word;
    ++command_words;
  }
  return command;
}

std::unique_ptr<FileWriterLock> FileWriterLock::acquire(const std::filesystem::path& file,
                                                        const WriterLockOptions& options,
                                                        const std::string& what) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw StoreError("cannot open the writer lock " + file.string() + " of " + what + ": " +
                     std::strerror(errno) + "; check the folder's permissions");
  }
  const auto start = Clock::now();
  bool told = false;
  // At least two tries, even without waiting: another process's holder()
  // takes a shared lock for an instant.
  for (int tries = 1; ::flock(fd, LOCK_EX | LOCK_NB) != 0; ++tries) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw StoreError("cannot lock " + file.string() + " (" + why + "): " + what +
                       " must be on a local disk, or on a network file system with locking");
    }
    const WriterInfo holder = read_info(fd);
    const auto waited = Clock::now() - start;
    if (options.wait.count() >= 0 && waited >= options.wait && tries >= 2) {
      ::close(fd);
      throw LibraryBusyError(
          holder.describe() + " is writing " + what + "; try again when it has finished", holder);
    }
    if (!told && options.on_wait) {
      told = true;
      options.on_wait(holder);
    }
    // flock() cannot wait with a deadline; polling every 50 ms costs nothing
    // and notices the release within a blink.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  WriterInfo mine;
  mine.pid = static_cast<std::int64_t>(::getpid());
  mine.host = host_name();
  mine.command = options.command.empty() ? current_command() : options.command;
  mine.since = now_seconds();
  write_info(fd, mine);
  return std::unique_ptr<FileWriterLock>(new FileWriterLock(fd));
}

std::optional<WriterInfo> FileWriterLock::holder(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::optional<WriterInfo> info;
  // A shared lock succeeds only when nobody holds the exclusive one.
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
  } else {
    info = read_info(fd);
  }
  ::close(fd);
  return info;
}

FileWriterLock::~FileWriterLock() {
  if (::ftruncate(fd_, 0) != 0) {
    // Stale text is harmless: it is only read while the lock is held.
  }
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

class ReentrantWriterLock::Handle final : public WriterLock {
 public:
  explicit Handle(ReentrantWriterLock& owner) : owner_(owner) { ++owner_.depth_; }
  ~Handle() override {
    if (--owner_.depth_ == 0) owner_.backend_lock_.reset();
  }

 private:
  ReentrantWriterLock& owner_;
};

std::unique_ptr<WriterLock> ReentrantWriterLock::lock(const WriterLockOptions& options) {
  if (depth_ == 0) backend_lock_ = acquire_(options);
  return std::make_unique<Handle>(*this);
}

}  // namespace likeness::store
