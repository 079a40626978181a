// Reading every file of a library folder and looking for bytes in them: how
// the privacy tests show that erased or encrypted data is not on disk.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace likeness::testing {

using FileContents = std::vector<std::pair<std::filesystem::path, std::string>>;

// Every regular file under dir (recursively), read whole.
inline FileContents read_all_files(const std::filesystem::path& dir) {
  FileContents files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files.emplace_back(entry.path(), std::string(std::istreambuf_iterator<char>(in),
                                                 std::istreambuf_iterator<char>()));
  }
  return files;
}

// The files whose content holds `needle` (non-empty).
inline std::vector<std::filesystem::path> files_containing(const FileContents& files,
                                                           std::string_view needle) {
  std::vector<std::filesystem::path> found;
  for (const auto& [path, content] : files) {
    if (content.find(needle) != std::string::npos) found.push_back(path);
  }
  return found;
}

// The raw bytes of a float vector, as the catalog and the index store them.
inline std::string float_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

}  // namespace likeness::testing
