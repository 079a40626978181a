// A small library of synthetic people for the privacy tests: each person
// has `faces_each` faces, each in its own photo record, with random unit
// vectors for two made-up models and the fused vector; the index built and
// saved. No model or photo file is needed.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "likeness/library/library.h"
#include "support/file_scan.h"

namespace likeness::testing {

inline constexpr std::size_t kSyntheticFusedDimension = 64;
inline constexpr std::size_t kSyntheticModelDimension = 32;

inline std::vector<float> random_unit_vector(std::mt19937& rng, std::size_t n) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  float norm = 0.0f;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x /= std::sqrt(norm);
  return v;
}

// The files that hold a 32-byte piece of the vector (its start or its
// middle: either is far too specific to appear by chance).
inline std::vector<std::filesystem::path> files_holding(const FileContents& files,
                                                        const std::vector<float>& vector) {
  const std::string all = float_bytes(vector);
  const std::string head = all.substr(0, 32);
  const std::string middle = all.substr(all.size() / 2, 32);
  std::vector<std::filesystem::path> found;
  for (const auto& [path, content] : files) {
    if (content.find(head) != std::string::npos || content.find(middle) != std::string::npos) {
      found.push_back(path);
    }
  }
  return found;
}

struct StoredFace {
  std::int64_t id = 0;
  std::vector<float> fused, model_a, model_b;
};

struct SyntheticLibrary {
  std::unique_ptr<library::Library> library;
  std::vector<std::int64_t> people;
  std::vector<std::vector<StoredFace>> faces;  // per person

  SyntheticLibrary(const std::filesystem::path& dir, int people_count, int faces_each,
                   const library::LibraryOptions& options = {}) {
    library = library::Library::open(dir, options);
    store::Catalog& catalog = library->catalog();
    std::mt19937 rng(7);
    catalog.write_batch([&] {
      for (int p = 0; p < people_count; ++p) {
        people.push_back(catalog.create_person("Person " + std::to_string(p)));
        faces.emplace_back();
        for (int f = 0; f < faces_each; ++f) {
          store::Photo photo;
          photo.path = "/photos/p" + std::to_string(p) + "_" + std::to_string(f) + ".jpg";
          photo.content_hash = std::string(64, 'a');
          photo.size_bytes = 1000;
          photo.mtime = 1;
          store::Face face;
          face.photo_id = catalog.upsert_photo(photo);
          face.box = {10, 20, 100, 100};
          face.attributes = R"({"age":{"years":40}})";
          StoredFace stored{0, random_unit_vector(rng, kSyntheticFusedDimension),
                            random_unit_vector(rng, kSyntheticModelDimension),
                            random_unit_vector(rng, kSyntheticModelDimension)};
          const std::vector<store::FaceVector> vectors = {
              {"model_a", stored.model_a},
              {"model_b", stored.model_b},
              {std::string(store::kFusedModel), stored.fused}};
          stored.id = catalog.add_face(face, vectors);
          catalog.link_face(stored.id, people.back(), store::LinkOrigin::kConfirmed);
          faces.back().push_back(std::move(stored));
        }
      }
    });
    for (const auto& person : faces) {
      for (const StoredFace& f : person) library->add_to_index(f.id, f.fused);
    }
    library->save_index();
  }
};

}  // namespace likeness::testing
