// The writer lock's parts that do not depend on a backend's SQL (catalog.h
// describes the lock): the lock file of a library folder, and the re-entrant
// holder every backend keeps, so that a Catalog that holds the lock can write
// at once and one that does not takes it for each write.
//
// Thread-safety: a FileWriterLock is owned by one thread at a time; a
// ReentrantWriterLock is used by its Catalog's thread only (as the Catalog).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "likeness/store/catalog.h"

namespace likeness::store {

// An exclusive flock() on `file` (created when missing, mode 0600), with the
// holder's WriterInfo written into the file while it is held and cleared on
// release. flock() locks belong to an open file, not to a process: two
// Catalogs of one process exclude each other like two processes do.
class FileWriterLock final : public WriterLock {
 public:
  // Waits as options say; LibraryBusyError (naming the holder and `what`, the
  // library) when the wait runs out; StoreError when the file cannot be made.
  static std::unique_ptr<FileWriterLock> acquire(const std::filesystem::path& file,
                                                 const WriterLockOptions& options,
                                                 const std::string& what);
  // Who holds the lock on `file` now; nullopt when it is free or absent.
  static std::optional<WriterInfo> holder(const std::filesystem::path& file);
  ~FileWriterLock() override;
  FileWriterLock(const FileWriterLock&) = delete;
  FileWriterLock& operator=(const FileWriterLock&) = delete;

 private:
  explicit FileWriterLock(int fd) : fd_(fd) {}
  int fd_;
};

// This process's command for WriterInfo: the program's name and its words up
// to the first that is an option, a path, a number or longer than 20
// characters ("likeness index", "likeness people name").
std::string current_command();

// Counts the holders of one backend lock.
class ReentrantWriterLock {
 public:
  using Acquire = std::function<std::unique_ptr<WriterLock>(const WriterLockOptions&)>;
  explicit ReentrantWriterLock(Acquire acquire) : acquire_(std::move(acquire)) {}

  // A handle; the backend lock is taken by the first and released with the
  // last. Must not outlive this object.
  std::unique_ptr<WriterLock> lock(const WriterLockOptions& options);
  bool held() const { return depth_ > 0; }

 private:
  class Handle;
  Acquire acquire_;
  std::unique_ptr<WriterLock> backend_lock_;
  int depth_ = 0;
};

}  // namespace likeness::store
