// Encryption at rest: the key file, key derivation and sealed files (see
// encryption.h for the design and its threat model; the VFS is in
// encryption_vfs.cpp).
#include "likeness/store/encryption.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
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
// The key file's "format" names the page format too, so that a Likeness that
// predates format 2 refuses such a library ("unknown format") instead of
// reading its pages as XTS.
constexpr std::string_view kXtsKeyFileFormat = "likeness-catalog-key-1";
constexpr std::string_view kAuthenticatedKeyFileFormat = "likeness-catalog-key-2";
constexpr std::string_view kXtsCipher = "aes-256-xts, 4096-byte pages";
constexpr std::string_view kAuthenticatedCipher =
    "aes-256-gcm, 4096-byte pages and log frames, each with a 12-byte nonce and a 16-byte tag";
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

void derive_master(std::string_view passphrase, const std::vector<unsigned char>& salt,
                   std::uint64_t n, std::uint64_t r, std::uint64_t p, unsigned char* out,
                   std::size_t out_size) {
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

// What a key file records, checked for range but not yet against a passphrase.
struct KeyFileContent {
  PageFormat format = PageFormat::kAuthenticated;
  std::uint64_t n = 0, r = 0, p = 0;
  std::vector<unsigned char> salt, check;
};

KeyFileContent read_key_file(const std::filesystem::path& key_file) {
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
  KeyFileContent content;
  const std::string format = document.is_object() ? document.value("format", "") : "";
  if (format == kXtsKeyFileFormat) {
    content.format = PageFormat::kXts;
  } else if (format == kAuthenticatedKeyFileFormat) {
    content.format = PageFormat::kAuthenticated;
  } else {
    throw StoreError(damaged(key_file, "unknown format; was it made by a newer Likeness?"));
  }
  if (document.value("kdf", "") != "scrypt") {
    throw StoreError(damaged(key_file, "unknown key derivation"));
  }
  content.n = document.value("n", std::uint64_t{0});
  content.r = document.value("r", std::uint64_t{0});
  content.p = document.value("p", std::uint64_t{0});
  content.salt = from_hex(document.value("salt", ""));
  content.check = from_hex(document.value("check", ""));
  // Bounds keep a doctored file from making the derivation take hours or
  // gigabytes.
  const std::uint64_t n = content.n;
  if (n < 2 || n > (1u << 22) || (n & (n - 1)) != 0 || content.r < 1 || content.r > 32 ||
      content.p < 1 || content.p > 16 || content.salt.size() < 8 || content.check.size() != 32) {
    throw StoreError(damaged(key_file, "parameters out of range"));
  }
  return content;
}

}  // namespace

CatalogKey::~CatalogKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

CatalogKey CatalogKey::create(const std::filesystem::path& key_file, std::string_view passphrase,
                              PageFormat format) {
  if (passphrase.empty()) throw UsageError("an encrypted library needs a non-empty passphrase");
  std::vector<unsigned char> salt(kSaltBytes);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    throw StoreError("cannot make a random salt for the library key (OpenSSL RAND_bytes failed)");
  }
  CatalogKey key;
  key.format_ = format;
  derive_master(passphrase, salt, kScryptN, kScryptR, kScryptP, key.bytes_.data(),
                key.bytes_.size());
  const auto check = check_value(key.bytes_);
  const bool xts = format == PageFormat::kXts;
  const nlohmann::json document{{"format", xts ? kXtsKeyFileFormat : kAuthenticatedKeyFileFormat},
                                {"cipher", xts ? kXtsCipher : kAuthenticatedCipher},
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
  const KeyFileContent content = read_key_file(key_file);
  if (passphrase.empty()) {
    throw UsageError("the library is encrypted: give its passphrase");
  }
  CatalogKey key;
  key.format_ = content.format;
  derive_master(passphrase, content.salt, content.n, content.r, content.p, key.bytes_.data(),
                key.bytes_.size());
  const auto check = check_value(key.bytes_);
  if (CRYPTO_memcmp(check.data(), content.check.data(), check.size()) != 0) {
    throw StoreError("wrong passphrase for the encrypted library at " +
                     key_file.parent_path().string());
  }
  return key;
}

PageFormat CatalogKey::format_of(const std::filesystem::path& key_file) {
  return read_key_file(key_file).format;
}

std::array<unsigned char, 32> CatalogKey::derive(std::string_view purpose) const {
  std::array<unsigned char, 32> out{};
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr), EVP_PKEY_CTX_free);
  std::size_t length = out.size();
  // No salt: the master key is already uniformly random (scrypt's output),
  // so HKDF's extract step needs none (RFC 5869, section 3.1).
  const bool ok =
      ctx != nullptr && EVP_PKEY_derive_init(ctx.get()) == 1 &&
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) == 1 &&
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), bytes_.data(), static_cast<int>(bytes_.size())) == 1 &&
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(purpose.data()),
                                  static_cast<int>(purpose.size())) == 1 &&
      EVP_PKEY_derive(ctx.get(), out.data(), &length) == 1 && length == out.size();
  if (!ok) throw StoreError("cannot derive a key for " + std::string(purpose) + " (OpenSSL HKDF)");
  return out;
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

}  // namespace likeness::store
