// likeness_test_corpus FOLDER: writes the bad-inputs corpus of
// support/bad_inputs.h into FOLDER for tests/cli/index_bad_inputs.sh, and
// prints what the index must record for each file, one line each:
//   file<TAB>REASON<TAB>WHAT<TAB>PATH   (REASON "ok": indexed with one face)
//   other_files<TAB>N
//   unreadable<TAB>PATH                 (the chmod 000 file)
// PATH is the file's bytes as created (not always UTF-8). LFW is read from
// LIKENESS_DATASETS_DIR (or ../shared/datasets); exit 77 when it is absent.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>

#include "support/bad_inputs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: likeness_test_corpus FOLDER\n";
    return 2;
  }
  const char* env = std::getenv("LIKENESS_DATASETS_DIR");
  const std::filesystem::path datasets =
      env != nullptr && *env != '\0' ? env : LIKENESS_DATASETS_DIR;
  const auto photos = likeness::testing::corpus_face_photos(datasets);
  if (photos.empty()) {
    std::cerr << "the corpus's LFW photos are absent under " << datasets << '\n';
    return 77;
  }
  try {
    const likeness::testing::Corpus corpus =
        likeness::testing::write_bad_inputs_corpus(argv[1], photos);
    for (const auto& file : corpus.files) {
      std::cout << "file\t" << (file.reason.empty() ? "ok" : file.reason) << '\t' << file.what
                << '\t' << file.path.string() << '\n';
    }
    std::cout << "other_files\t" << corpus.other_files << '\n';
    std::cout << "unreadable\t" << corpus.unreadable.string() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "likeness_test_corpus: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
