#include "likeness/io/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "likeness/core/error.h"

namespace likeness::io {

namespace {

void check(int openssl_ok, const char* what) {
  if (openssl_ok != 1) {
    throw Error(std::string("OpenSSL libcrypto failed in ") + what +
                "; the libcrypto installation is broken (reinstall libssl3)");
  }
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw Error("OpenSSL libcrypto: EVP_MD_CTX_new failed (out of memory?)");
  check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr), "EVP_DigestInit_ex(sha256)");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

void Sha256::update(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return;
  check(EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()), "EVP_DigestUpdate");
}

void Sha256::update(std::string_view bytes) {
  if (bytes.empty()) return;
  check(EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()), "EVP_DigestUpdate");
}

std::string Sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  check(EVP_DigestFinal_ex(ctx_, digest, &length), "EVP_DigestFinal_ex");
  check(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr), "EVP_DigestInit_ex(sha256)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0x0f]);
  }
  return hex;
}

std::string sha256_hex(std::span<const std::uint8_t> bytes) {
  Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish_hex();
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 hasher;
  hasher.update(bytes);
  return hasher.finish_hex();
}

FileHash sha256_file(const std::filesystem::path& path) {
  FileHash out;
  auto fail = [&](FileError error, const std::string& reason) {
    out.hex.clear();
    out.error = error;
    out.message = path.string() + ": " + reason;
    return out;
  };

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return fail(FileError::not_found, "no such file");
    return fail(FileError::unreadable, std::string("cannot open: ") + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return fail(FileError::unreadable, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) return fail(FileError::not_a_file, "is a directory");
  if (!S_ISREG(info.st_mode)) {
    return fail(FileError::not_a_file, "is not a regular file (device, FIFO or socket)");
  }

  Sha256 hasher;
  std::vector<std::uint8_t> buffer(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(FileError::unreadable, std::string("read error: ") + std::strerror(errno));
    }
    if (n == 0) break;
    hasher.update(std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n)));
  }
  out.hex = hasher.finish_hex();
  return out;
}

}  // namespace likeness::io
