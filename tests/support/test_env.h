// Where tests find the evaluation data and the installed models.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace likeness::testing {

// ../shared/datasets, or LIKENESS_DATASETS_DIR from the environment.
inline std::filesystem::path datasets_dir() {
  if (const char* env = std::getenv("LIKENESS_DATASETS_DIR"); env && *env) return env;
  return LIKENESS_DATASETS_DIR;
}

inline std::filesystem::path source_dir() { return LIKENESS_SOURCE_DIR; }

}  // namespace likeness::testing

// Skips the current test with a clear message when a dataset folder is absent
// (a user's fresh clone has no ../shared). In CI the data is present and the
// test runs.
#define LIKENESS_REQUIRE_DATASET(subdir)                                             \
  do {                                                                               \
    if (!std::filesystem::exists(::likeness::testing::datasets_dir() / (subdir))) {  \
      GTEST_SKIP() << "dataset " << (::likeness::testing::datasets_dir() / (subdir)) \
                   << " is absent; this test needs ../shared/datasets (see README)"; \
    }                                                                                \
  } while (0)
