#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "likeness/io/hash.h"
#include "support/test_env.h"

namespace likeness::io {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& tag) {
  fs::path dir =
      fs::temp_directory_path() / ("likeness_" + tag + "_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShotAndResets) {
  Sha256 hasher;
  hasher.update("ab");
  hasher.update(std::string_view("c"));
  EXPECT_EQ(hasher.finish_hex(), sha256_hex("abc"));
  hasher.update("abc");  // finish_hex resets
  EXPECT_EQ(hasher.finish_hex(), sha256_hex("abc"));
}

TEST(Sha256Test, FileIsStreamedAcrossChunkBoundaries) {
  const fs::path dir = temp_dir("hash");
  std::vector<std::uint8_t> bytes((3 << 20) + 12345);
  std::mt19937 rng(7);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  {
    std::ofstream out(dir / "big.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  const FileHash hash = sha256_file(dir / "big.bin");
  ASSERT_TRUE(hash.ok()) << hash.message;
  EXPECT_EQ(hash.hex, sha256_hex(bytes));

  { std::ofstream empty(dir / "empty.bin"); }
  EXPECT_EQ(sha256_file(dir / "empty.bin").hex, sha256_hex(""));
  fs::remove_all(dir);
}

TEST(Sha256Test, FileErrorsAreValues) {
  const fs::path dir = temp_dir("hash");
  const FileHash missing = sha256_file(dir / "nope.jpg");
  EXPECT_EQ(missing.error, FileError::not_found);
  EXPECT_NE(missing.message.find("nope.jpg"), std::string::npos);
  EXPECT_TRUE(missing.hex.empty());
  const FileHash folder = sha256_file(dir);
  EXPECT_EQ(folder.error, FileError::not_a_file);
  EXPECT_NE(folder.message.find("directory"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace likeness::io
