// Encryption at rest: the key file and the encrypting SQLite VFS (see
// encryption.h for the design and its threat model).
#include "likeness/store/encryption.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/io/file.h"
#include "likeness/store/catalog.h"

namespace likeness::store {
namespace {

// scrypt parameters of new key files: 32 MiB and ~0.1 s per derivation on
// this project's reference machine, which is what an attacker pays per guess.
constexpr std::uint64_t kScryptN = 1u << 15;
constexpr std::uint64_t kScryptR = 8;
constexpr std::uint64_t kScryptP = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::string_view kKeyFileFormat = "likeness-catalog-key-1";
constexpr std::string_view kCheckLabel = "likeness catalog key check";

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

std::vector<unsigned char> from_hex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::vector<unsigned char> out;
  if (hex.size() % 2 != 0) return {};
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return {};
    out.push_back(static_cast<unsigned char>(high * 16 + low));
  }
  return out;
}

void derive(std::string_view passphrase, const std::vector<unsigned char>& salt, std::uint64_t n,
            std::uint64_t r, std::uint64_t p, unsigned char* out, std::size_t out_size) {
  // scrypt needs 128 * N * r * p bytes; allow twice that.
  const std::uint64_t max_memory = 256 * n * r * p;
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), n, r, p,
                     max_memory, out, out_size) != 1) {
    throw StoreError(
        "cannot derive the library key (OpenSSL scrypt failed; N=" + std::to_string(n) +
        ", r=" + std::to_string(r) + ", p=" + std::to_string(p) + ")");
  }
}

std::array<unsigned char, 32> check_value(
    const std::array<unsigned char, CatalogKey::kBytes>& key) {
  std::array<unsigned char, 32> mac{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(kCheckLabel.data()), kCheckLabel.size(),
           mac.data(), &length) == nullptr ||
      length != mac.size()) {
    throw StoreError("cannot compute the library key's check value (OpenSSL HMAC failed)");
  }
  return mac;
}

std::string damaged(const std::filesystem::path& file, std::string_view what) {
  return "the library's key file " + file.string() + " is damaged (" + std::string(what) +
         "); restore it from a backup — without it the encrypted catalog cannot be read";
}

}  // namespace

CatalogKey::~CatalogKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

CatalogKey CatalogKey::create(const std::filesystem::path& key_file, std::string_view passphrase) {
  if (passphrase.empty()) throw UsageError("an encrypted library needs a non-empty passphrase");
  std::vector<unsigned char> salt(kSaltBytes);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    throw StoreError("cannot make a random salt for the library key (OpenSSL RAND_bytes failed)");
  }
  CatalogKey key;
  derive(passphrase, salt, kScryptN, kScryptR, kScryptP, key.bytes_.data(), key.bytes_.size());
  const auto check = check_value(key.bytes_);
  const nlohmann::json document{{"format", kKeyFileFormat},
                                {"cipher", "aes-256-xts, 4096-byte pages"},
                                {"kdf", "scrypt"},
                                {"n", kScryptN},
                                {"r", kScryptR},
                                {"p", kScryptP},
                                {"salt", to_hex(salt.data(), salt.size())},
                                {"check", to_hex(check.data(), check.size())}};
  if (std::filesystem::exists(key_file)) {
    throw StoreError("the library already has a key file " + key_file.string() +
                     "; it is encrypted already");
  }
  // Atomically: a crash leaves either no key file or a whole one, never a
  // torn one that would lock the library for good.
  if (const auto failure = io::write_file_atomically(key_file, document.dump(2) + '\n')) {
    throw StoreError("cannot write the library's key file " + *failure);
  }
  return key;
}

CatalogKey CatalogKey::unlock(const std::filesystem::path& key_file, std::string_view passphrase) {
  // A key file is a few hundred bytes; anything large is not one.
  const io::FileBytes text = io::read_file_bytes(key_file, 1 << 16);
  if (!text.ok()) {
    throw StoreError("cannot read the library's key file (" + text.message +
                     "); check its permissions");
  }
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text.bytes.begin(), text.bytes.end());
  } catch (const nlohmann::json::exception&) {
    throw StoreError(damaged(key_file, "not JSON"));
  }
  if (!document.is_object() || document.value("format", "") != kKeyFileFormat ||
      document.value("kdf", "") != "scrypt") {
    throw StoreError(damaged(key_file, "unknown format; was it made by a newer Likeness?"));
  }
  const auto n = document.value("n", std::uint64_t{0});
  const auto r = document.value("r", std::uint64_t{0});
  const auto p = document.value("p", std::uint64_t{0});
  const std::vector<unsigned char> salt = from_hex(document.value("salt", ""));
  const std::vector<unsigned char> stored_check = from_hex(document.value("check", ""));
  // Bounds keep a doctored file from making the derivation take hours or
  // gigabytes.
  if (n < 2 || n > (1u << 22) || (n & (n - 1)) != 0 || r < 1 || r > 32 || p < 1 || p > 16 ||
      salt.size() < 8 || stored_check.size() != 32) {
    throw StoreError(damaged(key_file, "parameters out of range"));
  }
  if (passphrase.empty()) {
    throw UsageError("the library is encrypted: give its passphrase");
  }
  CatalogKey key;
  derive(passphrase, salt, n, r, p, key.bytes_.data(), key.bytes_.size());
  const auto check = check_value(key.bytes_);
  if (CRYPTO_memcmp(check.data(), stored_check.data(), check.size()) != 0) {
    throw StoreError("wrong passphrase for the encrypted library at " +
                     key_file.parent_path().string());
  }
  return key;
}

// --- Sealed files ------------------------------------------------------------

namespace {

constexpr std::string_view kSealMagic = "LKSEAL1";  // + '\0'
constexpr std::size_t kSealHeader = 8;
constexpr std::size_t kGcmNonce = 12;
constexpr std::size_t kGcmTag = 16;

std::array<unsigned char, 32> purpose_key(const CatalogKey& key, std::string_view purpose) {
  std::array<unsigned char, 32> derived{};
  unsigned int length = 0;
  const std::string label = "likeness sealed file: " + std::string(purpose);
  if (HMAC(EVP_sha256(), key.bytes().data(), static_cast<int>(key.bytes().size()),
           reinterpret_cast<const unsigned char*>(label.data()), label.size(), derived.data(),
           &length) == nullptr) {
    throw StoreError("cannot derive a file key (OpenSSL HMAC failed)");
  }
  return derived;
}

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

std::string seal(std::string_view plain, const CatalogKey& key, std::string_view purpose) {
  auto file_key = purpose_key(key, purpose);
  std::string out(kSealHeader + kGcmNonce + plain.size() + kGcmTag, '\0');
  std::memcpy(out.data(), kSealMagic.data(), kSealMagic.size());
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + kSealHeader);
  auto* body = nonce + kGcmNonce;
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  bool ok = ctx != nullptr && RAND_bytes(nonce, static_cast<int>(kGcmNonce)) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, file_key.data(), nonce) == 1;
  // EVP lengths are ints: feed large files in pieces.
  for (std::size_t done = 0; ok && done < plain.size();) {
    const int piece = static_cast<int>(std::min<std::size_t>(plain.size() - done, 1u << 30));
    ok = EVP_EncryptUpdate(ctx.get(), body + done, &length,
                           reinterpret_cast<const unsigned char*>(plain.data()) + done, piece) == 1;
    done += static_cast<std::size_t>(piece);
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), body + plain.size(), &length) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTag),
                           body + plain.size()) == 1;
  OPENSSL_cleanse(file_key.data(), file_key.size());
  if (!ok) throw StoreError("cannot encrypt " + std::string(purpose) + " (OpenSSL failed)");
  return out;
}

std::optional<std::string> unseal(std::string_view sealed, const CatalogKey& key,
                                  std::string_view purpose) {
  if (sealed.size() < kSealHeader + kGcmNonce + kGcmTag ||
      sealed.substr(0, kSealMagic.size()) != kSealMagic) {
    return std::nullopt;
  }
  auto file_key = purpose_key(key, purpose);
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + kSealHeader);
  const auto* body = nonce + kGcmNonce;
  const std::size_t size = sealed.size() - kSealHeader - kGcmNonce - kGcmTag;
  std::string plain(size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(plain.data());
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  std::array<unsigned char, kGcmTag> tag{};
  std::memcpy(tag.data(), body + size, kGcmTag);
  bool ok = ctx != nullptr &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, file_key.data(), nonce) == 1;
  for (std::size_t done = 0; ok && done < size;) {
    const int piece = static_cast<int>(std::min<std::size_t>(size - done, 1u << 30));
    ok = EVP_DecryptUpdate(ctx.get(), out + done, &length, body + done, piece) == 1;
    done += static_cast<std::size_t>(piece);
  }
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTag),
                           tag.data()) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), out + size, &length) == 1;
  OPENSSL_cleanse(file_key.data(), file_key.size());
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return std::nullopt;
  }
  return plain;
}

// --- The VFS -----------------------------------------------------------------

struct EncryptingVfs::State {
  sqlite3_vfs vfs{};  // first member: SQLite hands back this pointer
  sqlite3_vfs* base = nullptr;
  CatalogKey key;
  explicit State(const CatalogKey& k) : key(k) {}
};

namespace {

constexpr std::int64_t kPage = EncryptingVfs::kPageSize;
constexpr std::int64_t kWalHeader = 32;
constexpr std::int64_t kWalFrameHeader = 24;

enum class FileKind : unsigned char { kDatabase = 1, kWal = 2 };

// An open file: our header, then the base VFS's file right behind it.
struct EncryptedFile {
  sqlite3_file base;  // pMethods: must be first
  FileKind kind;
  EVP_CIPHER_CTX* encrypt;
  EVP_CIPHER_CTX* decrypt;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(EncryptedFile) % 8 == 0);

// Where the page images lie in a file: [start, start + kPage) is encrypted
// as unit `unit`; bytes outside every such range are stored as they are.
struct Region {
  std::int64_t start = 0;
  std::int64_t size = 0;
  bool encrypted = false;
  std::uint64_t unit = 0;
};

Region region_at(FileKind kind, std::int64_t offset) {
  if (kind == FileKind::kDatabase) {
    const std::int64_t unit = offset / kPage;
    return {unit * kPage, kPage, true, static_cast<std::uint64_t>(unit)};
  }
  if (offset < kWalHeader) return {0, kWalHeader, false, 0};
  const std::int64_t frame = (offset - kWalHeader) / (kWalFrameHeader + kPage);
  const std::int64_t frame_start = kWalHeader + frame * (kWalFrameHeader + kPage);
  if (offset < frame_start + kWalFrameHeader) return {frame_start, kWalFrameHeader, false, 0};
  return {frame_start + kWalFrameHeader, kPage, true, static_cast<std::uint64_t>(frame)};
}

// The XTS tweak: the unit number and which file it is in.
std::array<unsigned char, 16> tweak(FileKind kind, std::uint64_t unit) {
  std::array<unsigned char, 16> iv{};
  for (int i = 0; i < 8; ++i)
    iv[static_cast<std::size_t>(i)] = static_cast<unsigned char>(unit >> (8 * i));
  iv[8] = static_cast<unsigned char>(kind);
  return iv;
}

bool crypt_page(EVP_CIPHER_CTX* ctx, bool encrypting, FileKind kind, std::uint64_t unit,
                const unsigned char* in, unsigned char* out) {
  const auto iv = tweak(kind, unit);
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

bool all_zero(const unsigned char* data, std::int64_t size) {
  return std::all_of(data, data + size, [](unsigned char b) { return b == 0; });
}

// Reads the whole page image of `region` and decrypts it into `plain`.
// Returns SQLITE_OK, SQLITE_IOERR_SHORT_READ (past the end: zeros, as
// SQLite expects) or another error.
int read_page(EncryptedFile* file, const Region& region, unsigned char* plain) {
  std::array<unsigned char, kPage> raw{};
  sqlite3_file* real = file->real();
  int rc = real->pMethods->xRead(real, raw.data(), static_cast<int>(kPage), region.start);
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  // Never written (past the end of the file, or a hole): zeros, unencrypted.
  if (all_zero(raw.data(), kPage)) {
    std::memset(plain, 0, kPage);
    return rc;
  }
  if (!crypt_page(file->decrypt, false, file->kind, region.unit, raw.data(), plain)) {
    return SQLITE_IOERR_READ;
  }
  return rc;
}

int write_page(EncryptedFile* file, const Region& region, const unsigned char* plain) {
  std::array<unsigned char, kPage> raw{};
  if (!crypt_page(file->encrypt, true, file->kind, region.unit, plain, raw.data())) {
    return SQLITE_IOERR_WRITE;
  }
  sqlite3_file* real = file->real();
  return real->pMethods->xWrite(real, raw.data(), static_cast<int>(kPage), region.start);
}

EncryptedFile* as_encrypted(sqlite3_file* file) { return reinterpret_cast<EncryptedFile*>(file); }

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

// Splits [offset, offset + amount) at region boundaries and calls
// piece(region, position, take) for each part; stops at the first error.
// SQLITE_IOERR_SHORT_READ (a read past the end: zeros) is not an error but is
// what the whole call returns.
template <typename Piece>
int for_each_piece(FileKind kind, std::int64_t offset, int amount, Piece piece) {
  int result = SQLITE_OK;
  const std::int64_t end = offset + amount;
  for (std::int64_t position = offset; position < end;) {
    const Region region = region_at(kind, position);
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

int x_read(sqlite3_file* file, void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  auto* out = static_cast<unsigned char*>(buffer);
  std::array<unsigned char, kPage> plain{};
  return for_each_piece(
      f->kind, offset, amount, [&](const Region& region, std::int64_t position, std::int64_t take) {
        unsigned char* to = out + (position - offset);
        if (!region.encrypted) {
          return f->real()->pMethods->xRead(f->real(), to, static_cast<int>(take), position);
        }
        const int rc = read_page(f, region, plain.data());
        if (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ) {
          std::memcpy(to, plain.data() + (position - region.start), static_cast<std::size_t>(take));
        }
        return rc;
      });
}

int x_write(sqlite3_file* file, const void* buffer, int amount, sqlite3_int64 offset) {
  EncryptedFile* f = as_encrypted(file);
  const auto* in = static_cast<const unsigned char*>(buffer);
  std::array<unsigned char, kPage> plain{};
  const int rc = for_each_piece(
      f->kind, offset, amount, [&](const Region& region, std::int64_t position, std::int64_t take) {
        const unsigned char* from = in + (position - offset);
        if (!region.encrypted) {
          return f->real()->pMethods->xWrite(f->real(), from, static_cast<int>(take), position);
        }
        if (take == kPage) return write_page(f, region, from);
        // Part of a page (SQLite writes whole pages; this keeps the VFS
        // correct if it ever does not): read, patch, write back.
        const int read = read_page(f, region, plain.data());
        if (read != SQLITE_OK && read != SQLITE_IOERR_SHORT_READ) return read;
        std::memcpy(plain.data() + (position - region.start), from, static_cast<std::size_t>(take));
        return write_page(f, region, plain.data());
      });
  return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
}

#define LIKENESS_FORWARD(name, signature, call)      \
  int name signature {                               \
    sqlite3_file* real = as_encrypted(file)->real(); \
    return real->pMethods->call;                     \
  }
LIKENESS_FORWARD(x_truncate, (sqlite3_file * file, sqlite3_int64 size), xTruncate(real, size))
LIKENESS_FORWARD(x_sync, (sqlite3_file * file, int flags), xSync(real, flags))
LIKENESS_FORWARD(x_file_size, (sqlite3_file * file, sqlite3_int64* size), xFileSize(real, size))
LIKENESS_FORWARD(x_lock, (sqlite3_file * file, int level), xLock(real, level))
LIKENESS_FORWARD(x_unlock, (sqlite3_file * file, int level), xUnlock(real, level))
LIKENESS_FORWARD(x_check_reserved_lock, (sqlite3_file * file, int* out),
                 xCheckReservedLock(real, out))
LIKENESS_FORWARD(x_file_control, (sqlite3_file * file, int op, void* arg),
                 xFileControl(real, op, arg))
LIKENESS_FORWARD(x_sector_size, (sqlite3_file * file), xSectorSize(real))
LIKENESS_FORWARD(x_device_characteristics, (sqlite3_file * file), xDeviceCharacteristics(real))
LIKENESS_FORWARD(x_shm_map,
                 (sqlite3_file * file, int page, int size, int extend, void volatile** out),
                 xShmMap(real, page, size, extend, out))
LIKENESS_FORWARD(x_shm_lock, (sqlite3_file * file, int offset, int n, int flags),
                 xShmLock(real, offset, n, flags))
LIKENESS_FORWARD(x_shm_unmap, (sqlite3_file * file, int delete_flag), xShmUnmap(real, delete_flag))
#undef LIKENESS_FORWARD

void x_shm_barrier(sqlite3_file* file) {
  sqlite3_file* real = as_encrypted(file)->real();
  real->pMethods->xShmBarrier(real);
}

// Version 2: no xFetch/xUnfetch, so SQLite never memory-maps the file and
// every page goes through x_read.
const sqlite3_io_methods kMethods = {
    2,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
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
  auto* state = reinterpret_cast<EncryptingVfs::State*>(vfs->pAppData);
  auto* f = reinterpret_cast<EncryptedFile*>(file);
  f->base.pMethods = nullptr;
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
  f->kind = kind;
  f->encrypt = EVP_CIPHER_CTX_new();
  f->decrypt = EVP_CIPHER_CTX_new();
  const unsigned char* key = state->key.bytes().data();
  if (f->encrypt == nullptr || f->decrypt == nullptr ||
      EVP_EncryptInit_ex(f->encrypt, EVP_aes_256_xts(), nullptr, key, nullptr) != 1 ||
      EVP_DecryptInit_ex(f->decrypt, EVP_aes_256_xts(), nullptr, key, nullptr) != 1) {
    free_ciphers(f);
    return SQLITE_CANTOPEN;
  }
  const int rc = state->base->xOpen(state->base, name, f->real(), flags, out_flags);
  if (rc != SQLITE_OK) {
    free_ciphers(f);
    return rc;
  }
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

std::atomic<unsigned> next_vfs_number{0};

}  // namespace

EncryptingVfs::EncryptingVfs(const CatalogKey& key) {
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) throw StoreError("SQLite has no default VFS");
  name_ = "likeness-xts-" + std::to_string(next_vfs_number++);
  auto state = std::make_unique<State>(key);
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

EncryptingVfs::~EncryptingVfs() {
  sqlite3_vfs_unregister(&state_->vfs);
  delete state_;
}

}  // namespace likeness::store
