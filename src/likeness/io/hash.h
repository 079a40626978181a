// SHA-256 content hashes (lowercase hex), used to identify photos by content
// and to verify model files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "likeness/io/file.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace likeness::io {

// Incremental SHA-256 over any number of update() calls.
// Throws likeness::Error from the constructor only if libcrypto cannot provide
// SHA-256 at all (a broken installation).
// Thread-safety: one object must not be used from two threads at once;
// separate objects are independent.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;

  void update(std::span<const std::uint8_t> bytes);
  void update(std::string_view bytes);

  // The digest of everything passed so far as 64 lowercase hex characters.
  // Resets the object, so it can hash a new message afterwards.
  std::string finish_hex();

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

// SHA-256 of `bytes` as 64 lowercase hex characters. Cannot fail (see Sha256).
std::string sha256_hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::string_view bytes);

struct FileHash {
  std::string hex;  // 64 lowercase hex characters on success, empty on failure
  FileError error = FileError::none;
  std::string message;  // empty on success; names the file and the reason

  bool ok() const { return error == FileError::none; }
};

// SHA-256 of the contents of the file at `path`, read in 1 MiB chunks so that
// memory use does not depend on the file size.
// Returns an error kind and message (not_found, not_a_file, unreadable) when
// the file cannot be read; never throws for file problems.
// Thread-safe.
FileHash sha256_file(const std::filesystem::path& path);

}  // namespace likeness::io
