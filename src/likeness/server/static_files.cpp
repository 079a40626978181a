#include "likeness/server/static_files.h"

namespace likeness::server {

const EmbeddedFile* find_web_file(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  for (const EmbeddedFile& file : embedded_web_files()) {
    if (file.path == url_path) return &file;
  }
  return nullptr;
}

}  // namespace likeness::server
