// What encryption at rest costs the catalog: its share of indexing and of
// search, for an unencrypted catalog, the old AES-256-XTS format and the
// current authenticated one (AES-256-GCM per page and log frame), in
// interleaved rounds (the order rotates each round) so that a noisy machine
// affects every format alike.
//
//   build/bench/catalog_bench --photos 4000 --rounds 7
//
// Per format and round, in a fresh library folder:
//  - index: the catalog writes of `likeness index` for --photos photos of one
//    face each (upsert_photo, add_face with every calibration member's vector
//    of its recorded dimension and the fused vector), committed in batches
//    of --batch photos as the indexer does, then closing the catalog (the
//    checkpoint); the folder's creation and the key derivation are not timed;
//  - open: opening it again (for the encrypted formats mostly scrypt, the
//    same for both);
//  - load_fused: every fused vector (what rebuilding the search index reads);
//  - rerank: what search reads per query after the vector index answered:
//    for --candidates random faces their face, photo and every vector;
//  - check: Catalog::check() (SQLite's integrity check reads every page).
// Times are milliseconds (steady clock), warm page cache. Prints JSON: every
// run, and per format the median of each measure and its ratio to the
// unencrypted one.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/match/embedded_calibration.h"
#include "likeness/store/catalog.h"
#include "likeness/store/encryption.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

constexpr const char* kPassphrase = "catalog bench passphrase";

struct Options {
  int photos = 4000;
  int batch = 25;
  int rounds = 7;
  int queries = 50;
  int candidates = 50;
  fs::path dir;
  std::vector<std::string> formats = {"plain", "xts", "gcm"};
};

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

std::vector<float> random_unit(std::size_t dimension, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dimension);
  double norm = 0.0;
  for (float& x : v) {
    x = normal(rng);
    norm += double{x} * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// A new, empty library folder in `format`, and a way to open it again.
std::unique_ptr<store::Catalog> create(const fs::path& dir, const std::string& format) {
  if (format == "plain") return store::Catalog::open(dir);
  if (format == "gcm") {
    store::CatalogOptions options;
    options.passphrase = kPassphrase;
    options.encrypt_new_catalog = true;
    return store::Catalog::open(dir, options);
  }
  store::Catalog::open(dir).reset();
  store::encrypt_catalog_as(dir, kPassphrase, store::PageFormat::kXts);
  return store::open_old_format_catalog(dir, kPassphrase);
}

std::unique_ptr<store::Catalog> reopen(const fs::path& dir, const std::string& format) {
  store::CatalogOptions options;
  options.create_if_missing = false;
  if (format == "plain") return store::Catalog::open(dir, options);
  if (format == "xts") return store::open_old_format_catalog(dir, kPassphrase);
  options.passphrase = kPassphrase;
  return store::Catalog::open(dir, options);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

int run(const Options& options) {
  const match::Calibration& calibration = match::embedded_calibration();
  std::vector<std::string> models;
  std::vector<std::size_t> dimensions;
  for (const match::MemberCalibration& member : calibration.members()) {
    if (member.dimension == 0) throw Error("the calibration does not record " + member.model);
    models.push_back(member.model);
    dimensions.push_back(member.dimension);
  }
  // The same vectors for every format: drawn once.
  std::mt19937 rng(2026);
  std::vector<std::vector<store::FaceVector>> face_vectors;
  std::size_t vector_bytes = 0;
  for (int i = 0; i < options.photos; ++i) {
    std::vector<store::FaceVector> vectors;
    std::vector<std::vector<float>> members;
    for (std::size_t m = 0; m < models.size(); ++m) {
      members.push_back(random_unit(dimensions[m], rng));
      vectors.push_back({models[m], members.back()});
    }
    const std::vector<std::span<const float>> spans(members.begin(), members.end());
    vectors.push_back({std::string(store::kFusedModel), calibration.fuse_vectors(spans)});
    for (const auto& v : vectors) vector_bytes += v.values.size() * sizeof(float);
    face_vectors.push_back(std::move(vectors));
  }

  const fs::path root = options.dir.empty() ? fs::temp_directory_path() /
                                                  ("catalog_bench_" + std::to_string(getpid()))
                                            : options.dir;
  std::map<std::string, std::map<std::string, std::vector<double>>> runs;
  std::map<std::string, std::uintmax_t> catalog_bytes;
  for (int round = 0; round < options.rounds; ++round) {
    for (std::size_t k = 0; k < options.formats.size(); ++k) {
      const std::string& format =
          options.formats[(k + static_cast<std::size_t>(round)) % options.formats.size()];
      const fs::path dir = root / (format + "_" + std::to_string(round));
      fs::remove_all(dir);
      fs::create_directories(dir);
      auto& measures = runs[format];
      {
        auto catalog = create(dir, format);
        const auto start = std::chrono::steady_clock::now();
        for (int first = 0; first < options.photos; first += options.batch) {
          store::Transaction batch(*catalog);
          for (int i = first; i < std::min(options.photos, first + options.batch); ++i) {
            store::Photo photo;
            photo.path = "/photos/bench/" + std::to_string(i) + ".jpg";
            photo.content_hash = std::string(64, 'f');
            photo.size_bytes = 3'000'000 + i;
            photo.mtime = 1'700'000'000 + i;
            photo.status = store::PhotoStatus::kIndexed;
            store::Face face;
            face.photo_id = catalog->upsert_photo(photo);
            face.box = {100, 120, 80, 90};
            face.attributes = R"({"age":{"years":35.5,"low":30,"high":41}})";
            catalog->add_face(face, face_vectors[static_cast<std::size_t>(i)]);
          }
          batch.commit();
        }
        catalog.reset();  // the checkpoint into the catalog file
        measures["index_ms"].push_back(ms_since(start));
      }
      catalog_bytes[format] = fs::file_size(dir / "catalog.sqlite");
      auto start = std::chrono::steady_clock::now();
      auto catalog = reopen(dir, format);
      measures["open_ms"].push_back(ms_since(start));

      start = std::chrono::steady_clock::now();
      const auto fused = catalog->all_vectors(store::kFusedModel);
      measures["load_fused_ms"].push_back(ms_since(start));
      if (static_cast<int>(fused.size()) != options.photos) throw Error("vectors missing");

      std::mt19937 pick(static_cast<unsigned>(round));
      std::uniform_int_distribution<std::size_t> any(0, fused.size() - 1);
      std::size_t read = 0;
      start = std::chrono::steady_clock::now();
      for (int q = 0; q < options.queries; ++q) {
        for (int c = 0; c < options.candidates; ++c) {
          const std::int64_t face_id = fused[any(pick)].face_id;
          const auto face = catalog->find_face(face_id);
          const auto photo = catalog->find_photo(face->photo_id);
          read += catalog->vectors_of_face(face_id).size() + (photo ? 1 : 0);
        }
      }
      measures["rerank_ms_per_query"].push_back(ms_since(start) / options.queries);
      if (read == 0) throw Error("nothing read");

      start = std::chrono::steady_clock::now();
      if (!catalog->check().ok()) throw Error("check failed for " + format);
      measures["check_ms"].push_back(ms_since(start));
      catalog.reset();
      fs::remove_all(dir);
    }
  }
  fs::remove_all(root);

  nlohmann::ordered_json out;
  out["photos"] = options.photos;
  out["batch"] = options.batch;
  out["rounds"] = options.rounds;
  out["queries"] = options.queries;
  out["candidates_per_query"] = options.candidates;
  out["models"] = models;
  out["vector_bytes_per_face"] = vector_bytes / static_cast<std::size_t>(options.photos);
  out["catalog_bytes"] = catalog_bytes;
  out["runs"] = runs;
  nlohmann::ordered_json medians;
  for (const auto& [format, measures] : runs) {
    for (const auto& [name, values] : measures) {
      medians[format][name] = median(values);
      if (runs.count("plain") != 0) {
        medians[format][name + "_vs_plain"] = median(values) / median(runs.at("plain").at(name));
      }
    }
  }
  out["median"] = medians;
  std::cout << out.dump(2) << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Catalog cost of encryption at rest: unencrypted, AES-256-XTS, AES-256-GCM"};
  Options options;
  app.add_option("--photos", options.photos, "Photos (one face each) per library")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", options.batch, "Photos per commit (the indexer's default)")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", options.rounds, "Rounds; each runs every format once")
      ->check(CLI::PositiveNumber);
  app.add_option("--queries", options.queries, "Searches whose re-ranking reads are timed")
      ->check(CLI::PositiveNumber);
  app.add_option("--candidates", options.candidates, "Faces re-ranked per search")
      ->check(CLI::PositiveNumber);
  app.add_option("--formats", options.formats,
                 "Formats to compare: plain, xts, gcm (comma-separated)")
      ->delimiter(',')
      ->check(CLI::IsMember({"plain", "xts", "gcm"}));
  app.add_option("--dir", options.dir, "Scratch folder (default: a new one in the temp folder)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::cerr << "catalog_bench: " << error.what() << '\n';
    return 1;
  }
}
