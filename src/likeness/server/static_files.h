// The web page's static files (web/ in the source tree), compiled into the
// binary at build time by embed_web_files.cmake, so that `likeness serve`
// needs no files beside it and never serves anything from disk by path.
//
// Thread-safety: read-only data.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace likeness::server {

struct EmbeddedFile {
  std::string_view path;          // URL path, "/index.html", "/js/app.js"
  std::string_view content_type;  // from the extension, "text/html; charset=utf-8"
  const unsigned char* data;
  std::size_t size;  // bytes
};

// Every embedded file, by path; empty when web/ was absent at build time.
std::span<const EmbeddedFile> embedded_web_files();

// The file served for a URL path ("/" is "/index.html"); nullptr when there
// is none. Paths are matched exactly: nothing is resolved against a folder.
const EmbeddedFile* find_web_file(std::string_view url_path);

}  // namespace likeness::server
