// The encrypting SQLite VFS of an encrypted catalog: page format 2
// (AES-256-GCM per page and log frame, the VFS's own layout) and page format 1
// (AES-256-XTS in place, kept to be upgraded). See encryption.h for the
// design, the layout and the policy on damaged files.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "likeness/store/catalog.h"
#include "likeness/store/encryption.h"

namespace likeness::store {

struct EncryptingVfs::State {
  sqlite3_vfs vfs{};
  sqlite3_vfs* base = nullptr;
  CatalogKey key;
  std::array<unsigned char, 32> page_key{};  // format 2: the AES-256-GCM key
  std::optional<std::string> failure;        // see take_failure()
  // Random bytes for nonces, drawn from OpenSSL 4 KiB at a time (one call per
  // page costs more than encrypting it); refilled in a forked child, which
  // must not reuse its parent's.
  std::array<unsigned char, 4092> random{};
  std::size_t random_left = 0;
  unsigned random_fork_generation = 0;
  explicit State(const CatalogKey& k) : key(k) {}
  ~State() { OPENSSL_cleanse(page_key.data(), page_key.size()); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

namespace {

constexpr std::int64_t kPage = EncryptingVfs::kPageSize;
constexpr std::int64_t kWalHeader = 32;
constexpr std::int64_t kFrameHeader = 24;
constexpr std::int64_t kFrame = kFrameHeader + kPage;  // as SQLite sees it
// HKDF purpose of format 2's page key.
constexpr std::string_view kPageKeyPurpose = "likeness catalog pages and log frames, AES-256-GCM";

enum class FileKind : unsigned char { kDatabase = 1, kWal = 2 };

// An open file: our header, then the base VFS's file right behind it. Lives
// in memory SQLite allocates (szOsFile), so it stays trivial.
struct alignas(8) EncryptedFile {
  sqlite3_file base;  // pMethods: must be first
  EncryptingVfs::State* state;
  const char* path;  // SQLite's name of the file: valid while it is open
  EVP_CIPHER_CTX* encrypt;
  EVP_CIPHER_CTX* decrypt;
  FileKind kind;
  // Format 2's log: the salts of its header as last written or verified (a
  // frame with other salts is of an older log), and the frame header the last
  // write wrote (for the page write that follows it).
  bool salts_known;
  bool header_left_no_tag;  // that frame has no valid tag: its page needs none cleared first
  unsigned char salts[8];
  unsigned char written_header[kFrameHeader];
  std::int64_t written_header_frame;  // 0-based; -1: none
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(EncryptedFile) % 8 == 0);
static_assert(std::is_trivially_destructible_v<EncryptedFile>);

EncryptedFile* as_encrypted(sqlite3_file* file) { return reinterpret_cast<EncryptedFile*>(file); }

int real_read(EncryptedFile* f, void* buffer, std::int64_t amount, std::int64_t offset) {
  sqlite3_file* real = f->real();
  return real->pMethods->xRead(real, buffer, static_cast<int>(amount), offset);
}

int real_write(EncryptedFile* f, const void* buffer, std::int64_t amount, std::int64_t offset) {
  sqlite3_file* real = f->real();
  return real->pMethods->xWrite(real, buffer, static_cast<int>(amount), offset);
}

int real_size(EncryptedFile* f, std::int64_t& size) {
  sqlite3_file* real = f->real();
  sqlite3_int64 value = 0;
  const int rc = real->pMethods->xFileSize(real, &value);
  size = value;
  return rc;
}

int real_truncate(EncryptedFile* f, std::int64_t size) {
  sqlite3_file* real = f->real();
  return real->pMethods->xTruncate(real, size);
}

bool all_zero(const unsigned char* data, std::int64_t size) {
  return std::all_of(data, data + size, [](unsigned char b) { return b == 0; });
}

void free_ciphers(EncryptedFile* f) {
  EVP_CIPHER_CTX_free(f->encrypt);
  EVP_CIPHER_CTX_free(f->decrypt);
  f->encrypt = f->decrypt = nullptr;
}

int x_close(sqlite3_file* file) {
  EncryptedFile* f = as_encrypted(file);
  free_ciphers(f);
  return f->real()->pMethods->xClose(f->real());
}

#define LIKENESS_FORWARD(name, signature, call)      \
  int name signature {                               \
    sqlite3_file* real = as_encrypted(file)->real(); \
    return real->pMethods->call;                     \
  }
LIKENESS_FORWARD(x_sync, (sqlite3_file * file, int flags), xSync(real, flags))
LIKENESS_FORWARD(x_lock, (sqlite3_file * file, int level), xLock(real, level))
LIKENESS_FORWARD(x_unlock, (sqlite3_file * file, int level), xUnlock(real, level))
LIKENESS_FORWARD(x_check_reserved_lock, (sqlite3_file * file, int* out),
                 xCheckReservedLock(real, out))
LIKENESS_FORWARD(x_sector_size, (sqlite3_file * file), xSectorSize(real))
LIKENESS_FORWARD(x_device_characteristics, (sqlite3_file * file), xDeviceCharacteristics(real))
LIKENESS_FORWARD(x_shm_map,
                 (sqlite3_file * file, int page, int size, int extend, void volatile** out),
                 xShmMap(real, page, size, extend, out))
LIKENESS_FORWARD(x_shm_lock, (sqlite3_file * file, int offset, int n, int flags),
                 xShmLock(real, offset, n, flags))
LIKENESS_FORWARD(x_shm_unmap, (sqlite3_file * file, int delete_flag), xShmUnmap(real, delete_flag))
// Format 1 keeps SQLite's layout: sizes and file controls pass through.
LIKENESS_FORWARD(xts_truncate, (sqlite3_file * file, sqlite3_int64 size), xTruncate(real, size))
LIKENESS_FORWARD(xts_file_size, (sqlite3_file * file, sqlite3_int64* size), xFileSize(real, size))
LIKENESS_FORWARD(xts_file_control, (sqlite3_file * file, int op, void* arg),
                 xFileControl(real, op, arg))
#undef LIKENESS_FORWARD

void x_shm_barrier(sqlite3_file* file) {
  sqlite3_file* real = as_encrypted(file)->real();
  real->pMethods->xShmBarrier(real);
}

// ---- Format 1: AES-256-XTS in place ------------------------------------------

// Where the page images lie in a file: [start, start + kPage) is encrypted
// as unit `unit`; bytes outside every such range are stored as they are.
struct Region {
  std::int64_t start = 0;
  std::int64_t size = 0;
  bool encrypted = false;
  std::uint64_t unit = 0;
};

Region xts_region_at(FileKind kind, std::int64_t offset) {
  if (kind == FileKind::kDatabase) {
    const std::int64_t unit = offset / kPage;
    return {unit * kPage, kPage, true, static_cast<std::uint64_t>(unit)};
  }
  if (offset < kWalHeader) return {0, kWalHeader, false, 0};
  const std::int64_t frame = (offset - kWalHeader) / kFrame;
  const std::int64_t frame_start = kWalHeader + frame * kFrame;
  if (offset < frame_start + kFrameHeader) return {frame_start, kFrameHeader, false, 0};
  return {frame_start + kFrameHeader, kPage, true, static_cast<std::uint64_t>(frame)};
}

// The XTS tweak: the unit number and which file it is in.
std::array<unsigned char, 16> xts_tweak(FileKind kind, std::uint64_t unit) {
  std::array<unsigned char, 16> iv{};
  for (int i = 0; i < 8; ++i)
    iv[static_cast<std::size_t>(i)] = static_cast<unsigned char>(unit >> (8 * i));
  iv[8] = static_cast<unsigned char>(kind);
  return iv;
}

bool xts_crypt_page(EVP_CIPHER_CTX* ctx, bool encrypting, FileKind kind, std::uint64_t unit,
                    const unsigned char* in, unsigned char* out) {
  const auto iv = xts_tweak(kind, unit);
  int length = 0, tail = 0;
  if (encrypting) {
    return EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv.data()) == 1 &&
           EVP_EncryptUpdate(ctx, out, &length, in, static_cast<int>(kPage)) == 1 &&
           EVP_EncryptFinal_ex(ctx, out + length, &tail) == 1;
  }
  return EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv.data()) == 1 &&
         EVP_DecryptUpdate(ctx, out, &length, in, static_cast<int>(kPage)) == 1 &&
         EVP_DecryptFinal_ex(ctx, out + length, &tail) == 1;
}

// Reads the whole page image of `region` and decrypts it into `plain`.
// Returns SQLITE_OK, SQLITE_IOERR_SHORT_READ (past the end: zeros, as
// SQLite expects) or another error.
int xts_read_page(EncryptedFile* file, const Region& region, unsigned char* plain) {
  std::array<unsigned char, kPage> raw{};
  int rc = real_read(file, raw.data(), kPage, region.start);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  // Never written (past the end of the file, or a hole): zeros, unencrypted.
  if (all_zero(raw.data(), kPage)) {
    std::memset(plain, 0, kPage);
    return rc;
  }
  if (!xts_crypt_page(file->decrypt, false, file->kind, region.unit, raw.data(), plain)) {
    return SQLITE_IOERR_READ;
  }
  return rc;
}

int xts_write_page(EncryptedFile* file, const Region& region, const unsigned char* plain) {
  std::array<unsigned char, kPage> raw{};
  if (!xts_crypt_page(file->encrypt, true, file->kind, region.unit, plain, raw.data())) {
    return SQLITE_IOERR_WRITE;
  }
  return real_write(file, raw.data(), kPage, region.start);
}

// Splits [offset, offset + amount) at region boundaries and calls
// piece(region, position, take) for each part; stops at the first error.
// SQLITE_IOERR_SHORT_READ (a read past the end: zeros) is not an error but is
// what the whole call returns.
template <typename Piece>
int xts_for_each_piece(FileKind kind, std::int64_t offset, int amount, Piece piece) {
  int result = SQLITE_OK;
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    const Region region = xts_region_at(kind, position);
    const std::int64_t take = std::min(end, region.start + region.size) - position;
    const int rc = piece(region, position, take);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      result = rc;
    } else if (rc != SQLITE_OK) {
      return rc;
    }
    position += take;
  }
  return result;
}

int xts_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  auto* out = static_cast<unsigned char*>(buffer);
  std::array<unsigned char, kPage> plain{};
  return xts_for_each_piece(
      f->kind, offset, amount, [&](const Region& region, std::int64_t position, std::int64_t take) {
        unsigned char* to = out + (position - offset);
        if (!region.encrypted) return real_read(f, to, take, position);
        const int rc = xts_read_page(f, region, plain.data());
        if (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ) {
          std::memcpy(to, plain.data() + (position - region.start), static_cast<std::size_t>(take));
        }
        return rc;
      });
}

int xts_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  const auto* in = static_cast<const unsigned char*>(buffer);
  std::array<unsigned char, kPage> plain{};
  const int rc = xts_for_each_piece(
      f->kind, offset, amount, [&](const Region& region, std::int64_t position, std::int64_t take) {
        const unsigned char* from = in + (position - offset);
        if (!region.encrypted) return real_write(f, from, take, position);
        if (take == kPage) return xts_write_page(f, region, from);
        // Part of a page (SQLite writes whole pages; this keeps the VFS
        // correct if it ever does not): read, patch, write back.
        const int read = xts_read_page(f, region, plain.data());
        if (read != SQLITE_OK && read != SQLITE_IOERR_SHORT_READ) return read;
        std::memcpy(plain.data() + (position - region.start), from, static_cast<std::size_t>(take));
        return xts_write_page(f, region, plain.data());
      });
  return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
}

// ---- Format 2: AES-256-GCM, the VFS's own layout -----------------------------

constexpr std::int64_t kNonce = 12;
constexpr std::int64_t kTag = 16;
constexpr std::int64_t kSeal = kNonce + kTag;
constexpr std::int64_t kStoredPage = kPage + kSeal;                     // 4124
constexpr std::int64_t kStoredWalHeader = kWalHeader + kSeal;           // 60
constexpr std::int64_t kStoredFrame = kFrame + kSeal;                   // 4148
constexpr std::int64_t kStoredFramePage = kStoredFrame - kFrameHeader;  // ciphertext, nonce, tag

enum class Unit : unsigned char { kCatalogPage = 1, kLogHeader = 2, kLogFrame = 3 };

// The associated data of a tag: what the unit is and where it belongs.
struct Binding {
  std::array<unsigned char, 4 + 1 + 8 + kWalHeader> bytes{};
  int size = 0;
};

Binding binding(Unit unit, std::uint64_t number, const unsigned char* header,
                std::int64_t header_size) {
  Binding b;
  std::memcpy(b.bytes.data(), "LKA2", 4);
  b.bytes[4] = static_cast<unsigned char>(unit);
  for (std::size_t i = 0; i < 8; ++i)
    b.bytes[5 + i] = static_cast<unsigned char>(number >> (8 * i));
  if (header_size > 0)
    std::memcpy(b.bytes.data() + 13, header, static_cast<std::size_t>(header_size));
  b.size = 13 + static_cast<int>(header_size);
  return b;
}

// Counts fork()s: a child must draw its own random bytes.
std::atomic<unsigned> fork_generation{0};

// A fresh random 96-bit nonce.
bool next_nonce(EncryptingVfs::State& state, unsigned char* nonce) {
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (state.random_left < static_cast<std::size_t>(kNonce) ||
      state.random_fork_generation != generation) {
    if (RAND_bytes(state.random.data(), static_cast<int>(state.random.size())) != 1) return false;
    state.random_left = state.random.size();
    state.random_fork_generation = generation;
  }
  state.random_left -= static_cast<std::size_t>(kNonce);
  unsigned char* drawn = state.random.data() + state.random_left;
  std::memcpy(nonce, drawn, kNonce);
  std::memset(drawn, 0, kNonce);  // each is used once
  return true;
}

// `plain` (size bytes; none for a header's tag) -> out: ciphertext, nonce, tag.
bool seal_unit(EncryptedFile* f, const Binding& aad, const unsigned char* plain, std::int64_t size,
               unsigned char* out) {
  EVP_CIPHER_CTX* ctx = f->encrypt;
  unsigned char* nonce = out + size;
  unsigned char* tag = nonce + kNonce;
  unsigned char final_block[16];
  int length = 0;
  return next_nonce(*f->state, nonce) &&
         EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
         EVP_EncryptUpdate(ctx, nullptr, &length, aad.bytes.data(), aad.size) == 1 &&
         (size == 0 || EVP_EncryptUpdate(ctx, out, &length, plain, static_cast<int>(size)) == 1) &&
         EVP_EncryptFinal_ex(ctx, final_block, &length) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTag), tag) == 1;
}

// stored: ciphertext (size bytes), nonce, tag -> plain. false when the tag
// does not match (plain is then zeros).
bool open_unit(EVP_CIPHER_CTX* ctx, const Binding& aad, const unsigned char* stored,
               std::int64_t size, unsigned char* plain) {
  const unsigned char* nonce = stored + size;
  std::array<unsigned char, kTag> tag{};
  std::memcpy(tag.data(), nonce + kNonce, kTag);
  unsigned char final_block[16];
  int length = 0;
  const bool ok =
      EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &length, aad.bytes.data(), aad.size) == 1 &&
      (size == 0 || EVP_DecryptUpdate(ctx, plain, &length, stored, static_cast<int>(size)) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTag), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, final_block, &length) > 0;
  if (!ok && size > 0) std::memset(plain, 0, static_cast<std::size_t>(size));
  return ok;
}

std::int64_t stored_frame_start(std::int64_t frame) {
  return kStoredWalHeader + frame * kStoredFrame;
}

// Records why authentication failed (for take_failure()) and returns the
// error SQLite gets: "<file> failed authentication <where> <number><detail>:
// ...". For a log frame (frame >= 0) the message also says how to drop an
// unfinished frame. Never throws: it runs inside SQLite's C code.
int authentication_failure(EncryptedFile* f, const char* where, std::int64_t number,
                           const char* detail = "", std::int64_t frame = -1) {
  try {
    const bool log = f->kind == FileKind::kWal;
    std::string message = log ? "the encrypted catalog's log " : "the encrypted catalog ";
    message += f->path;
    message += " failed authentication ";
    message += where;
    if (number > 0) message += " " + std::to_string(number);
    message += detail;
    message += ": it was changed or damaged outside Likeness; restore ";
    message += log ? "the library folder" : "it";
    message += " from a backup";
    if (frame >= 0) {
      message +=
          ". If the computer lost power while Likeness was writing, the frame "
          "may only be unfinished: `truncate -s " +
          std::to_string(stored_frame_start(frame)) + " " + f->path +
          "` drops it and the frames after it, as SQLite does with an unfinished write (the "
          "changes they hold are lost), then run `likeness library check`";
    }
    f->state->failure = std::move(message);
  } catch (...) {
    return SQLITE_NOMEM;
  }
  return SQLITE_IOERR_DATA;
}

// -- the catalog file

// Reads page `unit` (0-based) into `plain`. SQLITE_IOERR_SHORT_READ (zeros)
// only for an empty file: a page missing from a file that has pages is a
// file cut short, never one SQLite has not written yet (SQLite reads only
// pages it wrote, from the log when the file does not have them yet).
int read_db_page(EncryptedFile* f, std::int64_t unit, unsigned char* plain) {
  std::array<unsigned char, kStoredPage> stored{};
  const std::int64_t at = unit * kStoredPage;
  const int rc = real_read(f, stored.data(), kStoredPage, at);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    std::memset(plain, 0, kPage);
    std::int64_t size = 0;
    const int size_rc = real_size(f, size);
    if (size_rc != SQLITE_OK) return size_rc;
    if (size == 0) return SQLITE_IOERR_SHORT_READ;
    return authentication_failure(
        f, "at page", unit + 1,
        size <= at ? " (the file ends before it: it was cut short)" : " (the page is cut short)");
  }
  if (rc != SQLITE_OK) return rc;
  const Binding aad = binding(Unit::kCatalogPage, static_cast<std::uint64_t>(unit + 1), nullptr, 0);
  if (!open_unit(f->decrypt, aad, stored.data(), kPage, plain)) {
    return authentication_failure(f, "at page", unit + 1);
  }
  return SQLITE_OK;
}

int write_db_page(EncryptedFile* f, std::int64_t unit, const unsigned char* plain) {
  std::array<unsigned char, kStoredPage> stored{};
  const Binding aad = binding(Unit::kCatalogPage, static_cast<std::uint64_t>(unit + 1), nullptr, 0);
  if (!seal_unit(f, aad, plain, kPage, stored.data())) return SQLITE_IOERR_WRITE;
  return real_write(f, stored.data(), kStoredPage, unit * kStoredPage);
}

int db_read(EncryptedFile* f, unsigned char* out, int amount, std::int64_t offset) {
  std::array<unsigned char, kPage> plain{};
  int result = SQLITE_OK;
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    const std::int64_t unit = position / kPage;
    const std::int64_t start = unit * kPage;
    const std::int64_t take = std::min(end, start + kPage) - position;
    unsigned char* to = out + (position - offset);
    const int rc = read_db_page(f, unit, plain.data());
    if (rc == SQLITE_IOERR_DATA && unit == 0 && take < kPage) {
      // SQLite's look at the header when it opens the file, only to guess
      // the page size before it reads page 1 whole (from the log, when the
      // log has a newer copy of a page 1 torn by a crash): no content.
      f->state->failure.reset();
      std::memset(to, 0, static_cast<std::size_t>(take));
    } else if (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ) {
      std::memcpy(to, plain.data() + (position - start), static_cast<std::size_t>(take));
      if (rc != SQLITE_OK) result = rc;
    } else {
      std::memset(out, 0, static_cast<std::size_t>(amount));
      return rc;
    }
    position += take;
  }
  return result;
}

int db_write(EncryptedFile* f, const unsigned char* in, int amount, std::int64_t offset) {
  std::array<unsigned char, kPage> plain{};
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    const std::int64_t unit = position / kPage;
    const std::int64_t start = unit * kPage;
    const std::int64_t take = std::min(end, start + kPage) - position;
    const unsigned char* from = in + (position - offset);
    int rc = SQLITE_OK;
    if (take == kPage) {
      rc = write_db_page(f, unit, from);
    } else {
      // Part of a page (SQLite writes whole pages; this keeps the VFS
      // correct if it ever does not): read, patch, write back. A page past
      // the end of the file starts as zeros.
      std::int64_t size = 0;
      rc = real_size(f, size);
      if (rc == SQLITE_OK && size >= (unit + 1) * kStoredPage) {
        rc = read_db_page(f, unit, plain.data());
      } else if (rc == SQLITE_OK) {
        plain.fill(0);
      }
      if (rc == SQLITE_OK) {
        std::memcpy(plain.data() + (position - start), from, static_cast<std::size_t>(take));
        rc = write_db_page(f, unit, plain.data());
      }
    }
    if (rc != SQLITE_OK) return rc;
    position += take;
  }
  return SQLITE_OK;
}

// -- the log

// The log's header (32 bytes) into `header`, verified. SHORT_READ (zeros):
// the file has no whole header, so for SQLite the log is empty.
int read_log_header(EncryptedFile* f, unsigned char* header) {
  std::array<unsigned char, kStoredWalHeader> stored{};
  const int rc = real_read(f, stored.data(), kStoredWalHeader, 0);
  if (rc == SQLITE_IOERR_SHORT_READ) {
    std::memset(header, 0, kWalHeader);
    return rc;
  }
  if (rc != SQLITE_OK) return rc;
  const Binding aad = binding(Unit::kLogHeader, 0, stored.data(), kWalHeader);
  if (!open_unit(f->decrypt, aad, stored.data() + kWalHeader, 0, nullptr)) {
    std::memset(header, 0, kWalHeader);
    return authentication_failure(f, "at its header", 0);
  }
  std::memcpy(header, stored.data(), kWalHeader);
  std::memcpy(f->salts, stored.data() + 16, sizeof f->salts);
  f->salts_known = true;
  return SQLITE_OK;
}

int write_log_header(EncryptedFile* f, const unsigned char* header) {
  // SQLite writes the header only before the first frame of a log (a new log,
  // or the old one started over): the frames after it in the file are of the
  // old log (other salts) until they are overwritten. One write of 60 bytes
  // at the start of the file, which a crash cannot tear.
  std::array<unsigned char, kStoredWalHeader> stored{};
  std::memcpy(stored.data(), header, kWalHeader);
  const Binding aad = binding(Unit::kLogHeader, 0, header, kWalHeader);
  if (!seal_unit(f, aad, nullptr, 0, stored.data() + kWalHeader)) return SQLITE_IOERR_WRITE;
  const int rc = real_write(f, stored.data(), kStoredWalHeader, 0);
  if (rc != SQLITE_OK) return rc;
  std::memcpy(f->salts, header + 16, sizeof f->salts);
  f->salts_known = true;
  return SQLITE_OK;
}

// Frame `frame` (0-based) whole, as SQLite sees it (header, page), verified.
// SHORT_READ (zeros): not in the file. A frame whose tag is all zeros was
// never finished: zeros too (SQLite takes it as the end of the log).
int read_log_frame(EncryptedFile* f, std::int64_t frame, unsigned char* plain) {
  std::array<unsigned char, kStoredFrame> stored{};
  const int rc = real_read(f, stored.data(), kStoredFrame, stored_frame_start(frame));
  if (rc == SQLITE_IOERR_SHORT_READ) {
    std::memset(plain, 0, kFrame);
    return rc;
  }
  if (rc != SQLITE_OK) return rc;
  const std::uint64_t number = static_cast<std::uint64_t>(frame + 1);
  const Binding aad = binding(Unit::kLogFrame, number, stored.data(), kFrameHeader);
  if (!open_unit(f->decrypt, aad, stored.data() + kFrameHeader, kPage, plain + kFrameHeader)) {
    std::memset(plain, 0, kFrame);
    if (all_zero(stored.data() + kStoredFrame - kTag, kTag)) return SQLITE_OK;
    return authentication_failure(f, "at frame", frame + 1, "", frame);
  }
  std::memcpy(plain, stored.data(), kFrameHeader);
  // A frame of an older log (other salts than the header's: SQLite starts
  // the log over from its first frame and overwrites the old frames one by
  // one) is where this log ends: zeros, as SQLite would stop there anyway.
  // Zero salts are SQLite's own, in a frame of a transaction that has not
  // committed yet (see write_frame_header); its recovery stops there too.
  const unsigned char* frame_salts = stored.data() + 8;
  if (!all_zero(frame_salts, sizeof f->salts) &&
      (!f->salts_known || std::memcmp(f->salts, frame_salts, sizeof f->salts) != 0)) {
    std::array<unsigned char, kWalHeader> header{};
    const int header_rc = read_log_header(f, header.data());
    if (header_rc != SQLITE_OK && header_rc != SQLITE_IOERR_SHORT_READ) {
      std::memset(plain, 0, kFrame);
      return header_rc;
    }
    if (header_rc != SQLITE_OK || std::memcmp(f->salts, frame_salts, sizeof f->salts) != 0) {
      std::memset(plain, 0, kFrame);
    }
  }
  return SQLITE_OK;
}

// Makes a frame that is about to be rewritten in place read as unfinished
// until the rewrite (one write, ending with the new tag) is complete.
int clear_frame_tag(EncryptedFile* f, std::int64_t frame) {
  static constexpr std::array<unsigned char, kTag> kZeros{};
  return real_write(f, kZeros.data(), kTag, stored_frame_start(frame) + kStoredFrame - kTag);
}

int write_frame_header(EncryptedFile* f, std::int64_t frame, const unsigned char* header) {
  const std::int64_t at = stored_frame_start(frame);
  std::int64_t size = 0;
  int rc = real_size(f, size);
  if (rc != SQLITE_OK) return rc;
  f->written_header_frame = -1;
  bool no_tag = true;
  if (size >= at + kStoredFrame) {
    // The old frame's header first: only a frame of the same page may need
    // its page read.
    std::array<unsigned char, kStoredFrame> stored{};
    rc = real_read(f, stored.data(), kFrameHeader, at);
    const bool same_page =
        rc == SQLITE_OK && std::memcmp(stored.data(), header, 8) == 0 &&
        (std::memcmp(stored.data() + 8, header + 8, 8) == 0 || all_zero(stored.data() + 8, 8));
    if (same_page) {
      rc = real_read(f, stored.data() + kFrameHeader, kStoredFramePage, at + kFrameHeader);
    }
    if (rc != SQLITE_OK) return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_READ : rc;
    // Same page and commit size, the same salts or none yet: SQLite fills in
    // the salts and checksums of a frame of the transaction it is committing
    // (it writes them as zeros after it has rewritten a frame in place, and
    // rewrites them all at commit). The tag must follow: the whole frame is
    // rewritten, its tag cleared first.
    std::array<unsigned char, kPage> page{};
    const std::uint64_t number = static_cast<std::uint64_t>(frame + 1);
    if (same_page &&
        open_unit(f->decrypt, binding(Unit::kLogFrame, number, stored.data(), kFrameHeader),
                  stored.data() + kFrameHeader, kPage, page.data())) {
      std::memcpy(stored.data(), header, kFrameHeader);
      if (!seal_unit(f, binding(Unit::kLogFrame, number, header, kFrameHeader), page.data(), kPage,
                     stored.data() + kFrameHeader)) {
        return SQLITE_IOERR_WRITE;
      }
      rc = clear_frame_tag(f, frame);
      if (rc == SQLITE_OK) rc = real_write(f, stored.data(), kStoredFrame, at);
      if (rc != SQLITE_OK) return rc;
      no_tag = false;
    } else {
      // A new frame where an old one lies (of an older log, or of a
      // rolled-back transaction): the old frame is unfinished from now on.
      rc = clear_frame_tag(f, frame);
      if (rc == SQLITE_OK) rc = real_write(f, header, kFrameHeader, at);
      if (rc != SQLITE_OK) return rc;
    }
  } else {
    // Past the end of the file, or over a frame cut short at its end.
    rc = real_write(f, header, kFrameHeader, at);
    if (rc != SQLITE_OK) return rc;
  }
  std::memcpy(f->written_header, header, kFrameHeader);
  f->written_header_frame = frame;
  f->header_left_no_tag = no_tag;
  return SQLITE_OK;
}

int write_frame_page(EncryptedFile* f, std::int64_t frame, const unsigned char* page) {
  const std::int64_t at = stored_frame_start(frame);
  std::array<unsigned char, kFrameHeader> header{};
  bool clear_first = true;
  int rc = SQLITE_OK;
  if (f->written_header_frame == frame) {
    std::memcpy(header.data(), f->written_header, kFrameHeader);
    clear_first = !f->header_left_no_tag;
  } else {
    // The page alone: SQLite changing a page of its transaction again.
    rc = real_read(f, header.data(), kFrameHeader, at);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  }
  f->written_header_frame = -1;
  std::array<unsigned char, kStoredFramePage> stored{};
  const Binding aad =
      binding(Unit::kLogFrame, static_cast<std::uint64_t>(frame + 1), header.data(), kFrameHeader);
  if (!seal_unit(f, aad, page, kPage, stored.data())) return SQLITE_IOERR_WRITE;
  if (clear_first) {
    // A whole frame is there: unfinished until the write below ends with the
    // new tag.
    std::int64_t size = 0;
    rc = real_size(f, size);
    if (rc == SQLITE_OK && size >= at + kStoredFrame) rc = clear_frame_tag(f, frame);
    if (rc != SQLITE_OK) return rc;
  }
  return real_write(f, stored.data(), kStoredFramePage, at + kFrameHeader);
}

int log_read(EncryptedFile* f, unsigned char* out, int amount, std::int64_t offset) {
  f->written_header_frame = -1;
  std::array<unsigned char, kFrame> plain{};
  int result = SQLITE_OK;
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    std::int64_t start = 0, size = kWalHeader;
    int rc = SQLITE_OK;
    if (position < kWalHeader) {
      rc = read_log_header(f, plain.data());
    } else {
      const std::int64_t frame = (position - kWalHeader) / kFrame;
      start = kWalHeader + frame * kFrame;
      size = kFrame;
      rc = read_log_frame(f, frame, plain.data());
    }
    const std::int64_t take = std::min(end, start + size) - position;
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
      std::memset(out, 0, static_cast<std::size_t>(amount));
      return rc;
    }
    if (rc != SQLITE_OK) result = rc;
    std::memcpy(out + (position - offset), plain.data() + (position - start),
                static_cast<std::size_t>(take));
    position += take;
  }
  return result;
}

int log_write(EncryptedFile* f, const unsigned char* in, int amount, std::int64_t offset) {
  std::array<unsigned char, kFrame> plain{};
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    const unsigned char* from = in + (position - offset);
    int rc = SQLITE_OK;
    std::int64_t take = 0;
    if (position < kWalHeader) {
      take = std::min(end, kWalHeader) - position;
      if (take < kWalHeader) {
        // Part of the header (SQLite writes it whole): patch the one there.
        rc = read_log_header(f, plain.data());
        if (rc == SQLITE_IOERR_SHORT_READ) rc = SQLITE_OK;
        std::memcpy(plain.data() + position, from, static_cast<std::size_t>(take));
        from = plain.data();
      }
      if (rc == SQLITE_OK) rc = write_log_header(f, from);
      f->written_header_frame = -1;
    } else {
      const std::int64_t frame = (position - kWalHeader) / kFrame;
      const std::int64_t start = kWalHeader + frame * kFrame;
      const std::int64_t within = position - start;
      if (within < kFrameHeader) {
        take = std::min(end, start + kFrameHeader) - position;
        if (take < kFrameHeader) {
          // Part of a frame header: patch the one in the file.
          rc = real_read(f, plain.data(), kFrameHeader, stored_frame_start(frame));
          if (rc == SQLITE_IOERR_SHORT_READ) rc = SQLITE_OK;
          std::memcpy(plain.data() + within, from, static_cast<std::size_t>(take));
          from = plain.data();
        }
        if (rc == SQLITE_OK) rc = write_frame_header(f, frame, from);
      } else {
        take = std::min(end, start + kFrame) - position;
        if (take < kPage) {
          // Part of a page (SQLite writes whole pages): patch the verified
          // page in the file, or zeros when it has none.
          const std::int64_t header_frame = f->written_header_frame;
          rc = read_log_frame(f, frame, plain.data());
          if (rc == SQLITE_IOERR_SHORT_READ) rc = SQLITE_OK;
          f->written_header_frame = header_frame;
          std::memcpy(plain.data() + within, from, static_cast<std::size_t>(take));
          from = plain.data() + kFrameHeader;
        }
        if (rc == SQLITE_OK) rc = write_frame_page(f, frame, from);
      }
    }
    if (rc != SQLITE_OK) return rc;
    position += take;
  }
  return SQLITE_OK;
}

// Sizes as SQLite sees them, and back. A unit cut short at the end of the
// file is not part of it.
std::int64_t logical_size(FileKind kind, std::int64_t stored) {
  if (kind == FileKind::kDatabase) return stored / kStoredPage * kPage;
  if (stored < kStoredWalHeader) return 0;
  return kWalHeader + (stored - kStoredWalHeader) / kStoredFrame * kFrame;
}

std::int64_t stored_size(FileKind kind, std::int64_t logical) {
  if (kind == FileKind::kDatabase) return (logical + kPage - 1) / kPage * kStoredPage;
  if (logical <= 0) return 0;
  if (logical <= kWalHeader) return kStoredWalHeader;
  return kStoredWalHeader + (logical - kWalHeader + kFrame - 1) / kFrame * kStoredFrame;
}

int gcm_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  auto* out = static_cast<unsigned char*>(buffer);
  return f->kind == FileKind::kDatabase ? db_read(f, out, amount, offset)
                                        : log_read(f, out, amount, offset);
}

int gcm_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  const auto* in = static_cast<const unsigned char*>(buffer);
  return f->kind == FileKind::kDatabase ? db_write(f, in, amount, offset)
                                        : log_write(f, in, amount, offset);
}

int gcm_truncate(sqlite3_file* file, sqlite3_int64 size) {
  EncryptedFile* f = as_encrypted(file);
  f->written_header_frame = -1;
  if (f->kind == FileKind::kWal && size == 0) f->salts_known = false;
  return real_truncate(f, stored_size(f->kind, size));
}

int gcm_file_size(sqlite3_file* file, sqlite3_int64* size) {
  EncryptedFile* f = as_encrypted(file);
  std::int64_t stored = 0;
  const int rc = real_size(f, stored);
  *size = logical_size(f->kind, stored);
  return rc;
}

int gcm_file_control(sqlite3_file* file, int op, void* arg) {
  EncryptedFile* f = as_encrypted(file);
  sqlite3_file* real = f->real();
  if (op == SQLITE_FCNTL_SIZE_HINT && arg != nullptr) {
    // The hint is in SQLite's bytes; the file grows in ours.
    sqlite3_int64 hint = stored_size(f->kind, *static_cast<sqlite3_int64*>(arg));
    return real->pMethods->xFileControl(real, op, &hint);
  }
  return real->pMethods->xFileControl(real, op, arg);
}

// Version 2: no xFetch/xUnfetch, so SQLite never memory-maps the file and
// every page goes through xRead.
const sqlite3_io_methods kXtsMethods = {
    2,
    x_close,
    xts_read,
    xts_write,
    xts_truncate,
    x_sync,
    xts_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    xts_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

const sqlite3_io_methods kGcmMethods = {
    2,
    x_close,
    gcm_read,
    gcm_write,
    gcm_truncate,
    x_sync,
    gcm_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    gcm_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  auto* state = static_cast<EncryptingVfs::State*>(vfs->pAppData);
  file->pMethods = nullptr;
  FileKind kind;
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0) {
    kind = FileKind::kDatabase;
  } else if ((flags & SQLITE_OPEN_WAL) != 0) {
    kind = FileKind::kWal;
  } else {
    // A rollback journal or a temporary file would hold page images in the
    // clear; the catalog is configured so that SQLite never asks for one.
    return SQLITE_CANTOPEN;
  }
  auto* f = new (file) EncryptedFile{};
  f->state = state;
  f->path = name != nullptr ? name : "(unnamed)";
  f->kind = kind;
  f->written_header_frame = -1;
  f->encrypt = EVP_CIPHER_CTX_new();
  f->decrypt = EVP_CIPHER_CTX_new();
  const bool xts = state->key.format() == PageFormat::kXts;
  const EVP_CIPHER* cipher = xts ? EVP_aes_256_xts() : EVP_aes_256_gcm();
  const unsigned char* key = xts ? state->key.bytes().data() : state->page_key.data();
  if (f->encrypt == nullptr || f->decrypt == nullptr ||
      EVP_EncryptInit_ex(f->encrypt, cipher, nullptr, key, nullptr) != 1 ||
      EVP_DecryptInit_ex(f->decrypt, cipher, nullptr, key, nullptr) != 1) {
    free_ciphers(f);
    return SQLITE_CANTOPEN;
  }
  const int rc = state->base->xOpen(state->base, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    free_ciphers(f);
    return rc;
  }
  f->base.pMethods = xts ? &kXtsMethods : &kGcmMethods;
  return SQLITE_OK;
}

std::atomic<unsigned> next_vfs_number{0};

}  // namespace

EncryptingVfs::EncryptingVfs(const CatalogKey& key) {
  static const int registered = pthread_atfork(nullptr, nullptr, [] { ++fork_generation; });
  if (registered != 0) throw StoreError("cannot register a fork handler for the encrypting VFS");
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) throw StoreError("SQLite has no default VFS");
  const bool xts = key.format() == PageFormat::kXts;
  name_ = (xts ? "likeness-xts-" : "likeness-gcm-") + std::to_string(next_vfs_number++);
  auto state = std::make_unique<State>(key);
  if (!xts) state->page_key = key.derive(kPageKeyPurpose);
  state->base = base;
  // Every method but xOpen is the default VFS's own (they do not depend on
  // which sqlite3_vfs they are called through).
  state->vfs = *base;
  state->vfs.iVersion = std::min(base->iVersion, 3);
  state->vfs.szOsFile = static_cast<int>(sizeof(EncryptedFile)) + base->szOsFile;
  state->vfs.pNext = nullptr;
  state->vfs.zName = name_.c_str();
  state->vfs.pAppData = state.get();
  state->vfs.xOpen = x_open;
  if (sqlite3_vfs_register(&state->vfs, 0) != SQLITE_OK) {
    throw StoreError("cannot register the encrypting SQLite VFS");
  }
  state_ = state.release();
}

const CatalogKey& EncryptingVfs::key() const { return state_->key; }

std::optional<std::string> EncryptingVfs::take_failure() {
  std::optional<std::string> failure = std::move(state_->failure);
  state_->failure.reset();
  return failure;
}

EncryptingVfs::~EncryptingVfs() {
  sqlite3_vfs_unregister(&state_->vfs);
  delete state_;
}

}  // namespace likeness::store
