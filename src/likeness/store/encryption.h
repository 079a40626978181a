// Encryption at rest for the embedded catalog (a passphrase-protected library).
//
//   auto key = likeness::store::CatalogKey::create(dir / "catalog.key", passphrase);  // new
//   auto key = likeness::store::CatalogKey::unlock(dir / "catalog.key", passphrase);  // existing
//   likeness::store::EncryptingVfs vfs(key);  // an SQLite VFS for one connection
//   sqlite3_open_v2(path, &db, flags, vfs.name());
//
// Keys. The passphrase is stretched with scrypt (N=2^15, r=8, p=1, a random
// 16-byte salt) into a 64-byte master key. The key file (catalog.key, JSON)
// holds the salt, the scrypt parameters, the page format and an HMAC-SHA256
// check value that tells a wrong passphrase from a damaged catalog; nothing in
// it decrypts without the passphrase. Every cipher gets its own key derived
// from the master key for its purpose (HKDF-SHA256 for the catalog's pages,
// HMAC-SHA256 for the check value and for sealed files); the master key
// itself never keys a cipher in the current format.
//
// Page format 2 (key file "likeness-catalog-key-2", what every new or
// upgraded library uses): every page of the catalog and every frame of its
// write-ahead log is encrypted and authenticated with AES-256-GCM, a random
// 96-bit nonce per write. The VFS owns the physical layout; SQLite still sees
// ordinary 4096-byte pages and an ordinary log:
//   catalog.sqlite      page n (1-based) at (n-1) * 4124: 4096 bytes of
//                       ciphertext, the 12-byte nonce, the 16-byte tag
//   catalog.sqlite-wal  the 32-byte log header (in the clear: magic, page
//                       size, checkpoint count, salts, checksum) + nonce + tag
//                       (60 bytes); then frame k (1-based) at 60 + (k-1) * 4148:
//                       the 24-byte frame header in the clear (page number,
//                       commit size, salts, checksums), the page's ciphertext,
//                       nonce, tag
// xRead, xWrite, xFileSize and xTruncate translate offsets and sizes. The tag
// of each unit covers, as associated data, what it is and where it belongs: a
// format marker, the kind (catalog page, log header, log frame), its number
// (page number, frame number) and, for a frame, its header. So no page can be
// moved to another place or file, no frame to another position, and neither a
// frame header nor the log header can change without failing: SQLite would
// otherwise take a damaged header as the end of the log (or the whole log as
// empty) and silently drop the committed transactions after it.
// Why not SQLite's reserved bytes per page (SQLCipher's layout)? SQLite
// checksums a log frame over the page as it hands it to xWrite, reserved
// bytes included, and recomputes that checksum in recovery over what xRead
// returns, so a nonce and tag kept there would have to be hidden from SQLite
// on every read anyway; the log's header and frame headers, which must be
// authenticated too, have no reserved bytes; and an existing catalog would
// need a VACUUM to gain them.
//
// Writing the log. SQLite writes a frame's header and its page in two calls:
// the header goes to disk as is, the page then with a tag over (header, page).
// SQLite also overwrites frames: a new log starts over from the first frame
// (SQLite rewrites the log header with new salts and leaves the old frames
// until it reaches them), a rolled-back transaction's frames are overwritten,
// and a transaction larger than the page cache changes a page it already wrote
// and, at commit, rewrites the headers (salts, checksums) of its frames. Before
// any frame is overwritten its tag is cleared, and the write that completes it
// ends with the new tag, so that a process killed at any moment leaves every
// frame either whole or with a zero tag (below).
//
// Damage. A unit that fails authentication is never given to SQLite: the read
// fails with SQLITE_IOERR_DATA, and take_failure() holds the message (which
// file, which page or frame, what to do) that the catalog reports. Only these
// are not failures; each only marks where the log ends, as SQLite itself
// treats a torn write, and none gives SQLite content:
//  - a frame cut short by the end of the file (a write interrupted by a
//    crash): not part of the log (xFileSize rounds down to whole frames);
//  - a frame whose tag is all zeros (an overwrite that did not finish, or a
//    file extended by a crash without its data): read as zeros, which SQLite
//    takes as the end of the log;
//  - an authentic frame with other salts than the (authenticated) log header:
//    a frame of an older log, which SQLite leaves after a log it started over
//    and would take as the end of the log: read as zeros too;
//  - a read of the first bytes of page 1 (SQLite guesses the page size from
//    them when it opens the file, then reads page 1 whole, from the log when
//    the log has a newer copy): zeros when page 1 fails, so that a page 1 torn
//    by a crash during a checkpoint does not stop the log's replay.
// None gives someone who can write the files more than cutting the log short
// would, which no design without a second copy can tell from a crash. A
// complete frame that fails (a change, or a power cut that tore a frame the
// disk had not finished) is refused; the message says how to drop the log
// from that frame on when the computer lost power while Likeness was writing.
//
// Not detected (docs/privacy.md): a file, a page or a frame replaced by an
// older copy made under the same key (a rollback; a frame of an older log
// ends the log there), the log cut short at a frame boundary or deleted. The
// -shm file (SQLite's index of the log: page numbers, frame numbers, no
// content) is not encrypted or authenticated: the first connection to open
// the library rebuilds it from the authenticated log (a changed -shm on disk
// is discarded); changing it while Likeness runs can make that process read
// the wrong (authentic) frame or miss frames. GCM with random nonces is safe
// for up to 2^32 page writes per key (NIST SP 800-38D); re-encrypting (library
// upgrade, library encrypt) makes a new key.
//
// Page format 1 ("likeness-catalog-key-1", libraries encrypted before the
// upgrade): AES-256-XTS with the page (or frame) number as the tweak, the same
// layout as an unencrypted file, no authentication: XTS hides content but does
// not detect a changed page. It is kept readable so that upgrade_catalog()
// can rewrite it; Catalog::open refuses it with a message that says so.
// Both formats encrypt page images only in the catalog file and its log:
// rollback journals and temporary files would hold pages in the clear, so the
// VFS refuses to open them (the catalog runs in WAL mode with
// temp_store=MEMORY, where SQLite never needs them).
//
// Threat model (docs/privacy.md): this protects a library whose files are
// copied, stolen or changed while Likeness is not running (a lost laptop, a
// backup, a synced folder). It does not protect against someone who can run
// code as the user while the library is open, and an observer of several
// copies of the files can tell which pages changed between them.
//
// Errors: StoreError with a message that says what to do (wrong passphrase,
// unreadable or damaged key file, OpenSSL failure).
// Thread-safety: a CatalogKey is immutable; an EncryptingVfs serves the one
// connection it was made for (SQLite calls it from that connection's thread).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "likeness/store/catalog.h"

namespace likeness::store {

// The key file's name inside a library folder; its presence marks the library
// as encrypted.
inline constexpr std::string_view kCatalogKeyFile = "catalog.key";

// How the catalog's pages are stored (see the top of this file).
enum class PageFormat {
  kXts = 1,            // "likeness-catalog-key-1": AES-256-XTS, not authenticated
  kAuthenticated = 2,  // "likeness-catalog-key-2": AES-256-GCM per page and log frame
};

class CatalogKey {
 public:
  static constexpr std::size_t kBytes = 64;

  // Makes a new key from `passphrase` and writes the key file (fails if it
  // exists). An empty passphrase is a UsageError. PageFormat::kXts is only
  // for tests of the upgrade: nothing opens such a library but the upgrade.
  static CatalogKey create(const std::filesystem::path& key_file, std::string_view passphrase,
                           PageFormat format = PageFormat::kAuthenticated);
  // Derives the key from `passphrase` and the key file's salt; StoreError
  // "wrong passphrase" when the check value does not match.
  static CatalogKey unlock(const std::filesystem::path& key_file, std::string_view passphrase);
  // The page format a key file records, without the passphrase. StoreError
  // when the file cannot be read or is not a key file.
  static PageFormat format_of(const std::filesystem::path& key_file);

  CatalogKey(const CatalogKey& other) = default;
  CatalogKey& operator=(const CatalogKey& other) = default;
  ~CatalogKey();

  PageFormat format() const { return format_; }
  // The master key. Format 1 uses it as the XTS key (as libraries of that
  // format always did); format 2 only derives keys from it.
  const std::array<unsigned char, kBytes>& bytes() const { return bytes_; }
  // A 256-bit key for one purpose: HKDF-SHA256 of the master key with
  // `purpose` as the info string.
  std::array<unsigned char, 32> derive(std::string_view purpose) const;

 private:
  CatalogKey() = default;
  std::array<unsigned char, kBytes> bytes_{};
  PageFormat format_ = PageFormat::kAuthenticated;
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
// lives, that encrypts the catalog and its log with `key` in the key's page
// format (see the top of this file). Unregistered by the destructor: close
// the connection first.
class EncryptingVfs {
 public:
  explicit EncryptingVfs(const CatalogKey& key);
  ~EncryptingVfs();
  EncryptingVfs(const EncryptingVfs&) = delete;
  EncryptingVfs& operator=(const EncryptingVfs&) = delete;

  // For sqlite3_open_v2's zVfs.
  const char* name() const { return name_.c_str(); }
  const CatalogKey& key() const;

  // What the last failed authentication was (names the file and the page or
  // log frame, says what to do), cleared by the call; nothing when none
  // failed since the last call. A read that fails authentication returns
  // SQLITE_IOERR_DATA to SQLite.
  std::optional<std::string> take_failure();

  // The page size every encrypted catalog uses (set before its first page is
  // written; the VFS works in units of it).
  static constexpr int kPageSize = 4096;

  struct State;  // the VFS's C-side state (encryption_vfs.cpp)

 private:
  std::string name_;
  State* state_ = nullptr;
};

// The library in `dir` encrypted with the old format (format 1, AES-256-XTS)
// is rewritten in the current one with the same passphrase: the copy-and-swap
// of encrypt_catalog() (a copy under a new key file, checked table by table;
// the new key file's rename is the commit point; the old catalog is
// overwritten and replaced; a crash leaves the old library or the new one).
// No other process may have the library open. Throws StoreError (not
// encrypted, wrong passphrase, in use, copy mismatch); UsageError when it is in
// the current format already.
EncryptionReport upgrade_catalog(const std::filesystem::path& dir, std::string_view passphrase);

// encrypt_catalog() in a chosen format; PageFormat::kXts makes a library in
// the old format, for tests and benchmarks of the upgrade only.
EncryptionReport encrypt_catalog_as(const std::filesystem::path& dir, std::string_view passphrase,
                                    PageFormat format);

// Opens a library of the old format (which Catalog::open refuses), for tests
// and benchmarks that compare with it. StoreError as Catalog::open.
std::unique_ptr<Catalog> open_old_format_catalog(const std::filesystem::path& dir,
                                                 std::string_view passphrase);

}  // namespace likeness::store
