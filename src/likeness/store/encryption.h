// Encryption at rest for the embedded catalog (a passphrase-protected library).
//
//   auto key = likeness::store::CatalogKey::create(dir / "catalog.key", passphrase);  // new
//   library auto key = likeness::store::CatalogKey::unlock(dir / "catalog.key", passphrase);  //
//   existing one likeness::store::EncryptingVfs vfs(key);       // register an SQLite VFS for one
//   connection sqlite3_open_v2(path, &db, flags, vfs.name());
//
// How: the passphrase is stretched with scrypt (N=2^15, r=8, p=1, a random
// 16-byte salt) into a 512-bit AES-256-XTS key. The key file (catalog.key,
// JSON) holds the salt, the scrypt parameters and an HMAC-SHA256 check value
// that tells a wrong passphrase from a damaged catalog; it holds nothing that
// would let anyone decrypt without the passphrase. The VFS encrypts every
// 4096-byte page of the catalog file and every page image in its write-ahead
// log with AES-256-XTS, the page's number (or log frame's number) as the tweak
// — the disk-encryption mode (LUKS, BitLocker): the same size in and out, so
// SQLite's file format, its log checksums and its crash recovery are unchanged.
// The log's 32-byte header and 24-byte frame headers (page numbers, salts,
// checksums: no content) stay as they are, so does the shared-memory index
// (-shm: page numbers only). Rollback journals and temporary files would hold
// page images in the clear, so the VFS refuses to open them: the catalog runs
// in WAL mode with temp_store=MEMORY, where SQLite never needs them.
//
// Threat model (docs/privacy.md): this protects a library whose files are
// copied or stolen while Likeness is not running (a lost laptop, a backup, a
// synced folder). It does not protect against someone who can run code as the
// user while the library is open, nor does it authenticate: XTS hides content
// but does not detect a page changed on disk, and an observer of several
// copies of the file can tell which pages changed between them.
//
// Errors: StoreError with a message that says what to do (wrong passphrase,
// unreadable or damaged key file, OpenSSL failure).
// Thread-safety: a CatalogKey is immutable; an EncryptingVfs serves the one
// connection it was made for (SQLite calls it from that connection's thread).
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace likeness::store {

// The key file's name inside a library folder; its presence marks the library
// as encrypted.
inline constexpr std::string_view kCatalogKeyFile = "catalog.key";

class CatalogKey {
 public:
  static constexpr std::size_t kBytes = 64;  // two AES-256 keys (XTS)

  // Makes a new key from `passphrase` and writes the key file (fails if it
  // exists). An empty passphrase is a UsageError.
  static CatalogKey create(const std::filesystem::path& key_file, std::string_view passphrase);
  // Derives the key from `passphrase` and the key file's salt; StoreError
  // "wrong passphrase" when the check value does not match.
  static CatalogKey unlock(const std::filesystem::path& key_file, std::string_view passphrase);

  CatalogKey(const CatalogKey& other) = default;
  CatalogKey& operator=(const CatalogKey& other) = default;
  ~CatalogKey();

  const std::array<unsigned char, kBytes>& bytes() const { return bytes_; }

 private:
  CatalogKey() = default;
  std::array<unsigned char, kBytes> bytes_{};
};

// Whole-file authenticated encryption for what is derived from an encrypted
// catalog and saved beside it (the vector index): AES-256-GCM under a key
// derived from `key` for `purpose` (HMAC-SHA256), a random 96-bit nonce per
// call. seal() returns magic + nonce + ciphertext + tag; unseal() returns
// nothing when the bytes were not sealed by this key for this purpose or were
// changed (the caller rebuilds what it lost).
std::string seal(std::string_view plain, const CatalogKey& key, std::string_view purpose);
std::optional<std::string> unseal(std::string_view sealed, const CatalogKey& key,
                                  std::string_view purpose);

// One SQLite VFS, registered under a unique name for as long as the object
// lives, that encrypts the catalog and its log with `key` (see the top of
// this file). Unregistered by the destructor: close the connection first.
class EncryptingVfs {
 public:
  explicit EncryptingVfs(const CatalogKey& key);
  ~EncryptingVfs();
  EncryptingVfs(const EncryptingVfs&) = delete;
  EncryptingVfs& operator=(const EncryptingVfs&) = delete;

  // For sqlite3_open_v2's zVfs.
  const char* name() const { return name_.c_str(); }
  const CatalogKey& key() const;

  // The page size every encrypted catalog uses (set before its first page is
  // written; the VFS works in units of it).
  static constexpr int kPageSize = 4096;

  struct State;  // the VFS's C-side state (encryption_vfs.cpp)

 private:
  std::string name_;
  State* state_ = nullptr;
};

}  // namespace likeness::store
