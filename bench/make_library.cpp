// A synthetic library of N faces for the web page's scale tests (the people
// gallery must render in under a second on 10,000 faces: tests/browser) and
// for trying the page on a big collection without indexing one.
//
//   build/bench/make_library --library /tmp/big/library --faces 10000
//
// What it writes, through store::Catalog and library::Library only (so the
// result is a library like any other, `likeness library check` passes):
// - real photo files: --photos generated 1024x768 JPEGs in --photos-dir
//   (default: the library folder's sibling "<library>-photos"), each a calm
//   gradient with a grid of face-like ovals; every face's box is one of these
//   ovals, so crops and photos served by `likeness serve` show something;
// - faces with boxes, five landmarks, detector score and quality;
// - per-model vectors for every member of the compiled-in calibration (the
//   dimensions it records) and the fused vector the library indexes: each
//   person has a random unit centre per model and each face is that centre
//   plus noise (cosine to the centre about 0.7, like two photos of one
//   person), so search and clustering behave as on real faces;
// - people of --min-faces to --max-faces faces (automatic links, as
//   clustering makes them), about a fifth of them named;
// - capture dates spread over 2004-2025, --undated of the photos without one;
// - the vector index, built and saved (so the server does not build it).
// Everything is drawn from --seed: the same arguments give the same library.
// Prints a JSON summary on stdout; takes seconds (mostly the index build).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/io/hash.h"
#include "likeness/library/library.h"
#include "likeness/match/embedded_calibration.h"
#include "likeness/store/catalog.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

constexpr int kPhotoWidth = 1024;
constexpr int kPhotoHeight = 768;
// Face slots per photo: a 5x4 grid of 204x192 cells.
constexpr int kGridColumns = 5;
constexpr int kGridRows = 4;
constexpr int kSlotsPerPhoto = kGridColumns * kGridRows;

struct Options {
  fs::path library;
  fs::path photos_dir;
  int faces = 10000;
  int photos = 0;  // 0: just enough for every face to have a slot
  int min_faces = 5;
  int max_faces = 50;
  double undated = 0.1;
  double named = 0.2;
  unsigned seed = 1;
};

store::FaceBox slot_box(int slot) {
  const float cell_w = static_cast<float>(kPhotoWidth) / kGridColumns;
  const float cell_h = static_cast<float>(kPhotoHeight) / kGridRows;
  const float col = static_cast<float>(slot % kGridColumns);
  const float row = static_cast<float>(slot / kGridColumns);
  // The oval fills the middle of its cell: 110x140 px, well above the 30 px
  // minimum face size.
  return {col * cell_w + (cell_w - 110.0f) / 2.0f, row * cell_h + (cell_h - 140.0f) / 2.0f, 110.0f,
          140.0f};
}

// A gradient with face-like ovals (skin tone, eyes, mouth) in every slot.
void write_photo(const fs::path& file, int index, std::mt19937& rng) {
  std::uniform_int_distribution<int> hue(0, 179);
  cv::Mat hsv(kPhotoHeight, kPhotoWidth, CV_8UC3);
  const int h = hue(rng);
  for (int y = 0; y < kPhotoHeight; ++y) {
    const auto value = static_cast<unsigned char>(150 + (80 * y) / kPhotoHeight);
    hsv.row(y).setTo(cv::Scalar(h, 60, value));
  }
  cv::Mat bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  std::uniform_int_distribution<int> tone(-25, 25);
  for (int slot = 0; slot < kSlotsPerPhoto; ++slot) {
    const store::FaceBox b = slot_box(slot);
    const cv::Point centre(static_cast<int>(b.x + b.w / 2), static_cast<int>(b.y + b.h / 2));
    const int t = tone(rng);
    cv::ellipse(bgr, centre, cv::Size(static_cast<int>(b.w / 2), static_cast<int>(b.h / 2)), 0, 0,
                360, cv::Scalar(150 + t, 180 + t, 220 + t), cv::FILLED, cv::LINE_AA);
    for (const int dx : {-22, 22}) {
      cv::circle(bgr, centre + cv::Point(dx, -15), 7, cv::Scalar(60, 50, 40), cv::FILLED,
                 cv::LINE_AA);
    }
    cv::ellipse(bgr, centre + cv::Point(0, 32), cv::Size(22, 8), 0, 0, 180, cv::Scalar(70, 70, 150),
                3, cv::LINE_AA);
  }
  cv::putText(bgr, "synthetic " + std::to_string(index), cv::Point(12, kPhotoHeight - 14),
              cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(40, 40, 40), 1, cv::LINE_AA);
  if (!cv::imwrite(file.string(), bgr, {cv::IMWRITE_JPEG_QUALITY, 85})) {
    throw Error("make_library: cannot write " + file.string());
  }
}

std::vector<float> random_unit(std::size_t dimension, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(dimension);
  double norm = 0.0;
  for (float& x : v) {
    x = normal(rng);
    norm += double{x} * x;
  }
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
  return v;
}

// centre + noise, normalised. Noise of total length 1 gives a cosine of
// about 0.7 to the centre.
std::vector<float> near(std::span<const float> centre, std::mt19937& rng) {
  std::vector<float> noise = random_unit(centre.size(), rng);
  std::vector<float> v(centre.size());
  double norm = 0.0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = centre[i] + noise[i];
    norm += double{v[i]} * v[i];
  }
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
  return v;
}

std::string random_capture_time(std::mt19937& rng) {
  std::uniform_int_distribution<int> year(2004, 2025), month(1, 12), day(1, 28), hour(7, 21),
      minute(0, 59);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", year(rng), month(rng), day(rng),
                hour(rng), minute(rng), minute(rng));
  return text;
}

std::array<store::FacePoint, 5> landmarks_of(const store::FaceBox& b) {
  // ArcFace order: left eye, right eye, nose, left and right mouth corner.
  return {{{b.x + 0.35f * b.w, b.y + 0.40f * b.h},
           {b.x + 0.65f * b.w, b.y + 0.40f * b.h},
           {b.x + 0.50f * b.w, b.y + 0.57f * b.h},
           {b.x + 0.38f * b.w, b.y + 0.74f * b.h},
           {b.x + 0.62f * b.w, b.y + 0.74f * b.h}}};
}

int run(const Options& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.faces < 1 || options.min_faces < 1 || options.max_faces < options.min_faces) {
    throw UsageError("make_library: need --faces >= 1 and 1 <= --min-faces <= --max-faces");
  }
  const int photo_count =
      options.photos > 0 ? options.photos : (options.faces + kSlotsPerPhoto - 1) / kSlotsPerPhoto;
  if (static_cast<long>(photo_count) * kSlotsPerPhoto < options.faces) {
    throw UsageError("make_library: " + std::to_string(photo_count) + " photos hold at most " +
                     std::to_string(photo_count * kSlotsPerPhoto) + " faces; raise --photos");
  }
  if (fs::exists(options.library / "catalog.sqlite")) {
    throw UsageError("make_library: " + options.library.string() +
                     " already holds a library; give a new folder");
  }
  std::mt19937 rng(options.seed);
  const fs::path photos_dir =
      options.photos_dir.empty()
          ? options.library.parent_path() / (options.library.filename().string() + "-photos")
          : options.photos_dir;
  fs::create_directories(photos_dir);

  // Photos first: the catalog stores their hash, size and mtime as the
  // indexer would.
  std::vector<store::Photo> photos(static_cast<std::size_t>(photo_count));
  std::bernoulli_distribution undated(options.undated);
  for (int i = 0; i < photo_count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "synthetic_%05d.jpg", i);
    const fs::path file = fs::absolute(photos_dir / name);
    write_photo(file, i, rng);
    const io::FileHash hash = io::sha256_file(file);
    if (!hash.ok()) throw Error("make_library: " + hash.message);
    store::Photo& photo = photos[static_cast<std::size_t>(i)];
    photo.path = file.string();
    photo.content_hash = hash.hex;
    photo.size_bytes = static_cast<std::int64_t>(fs::file_size(file));
    photo.mtime = std::chrono::duration_cast<std::chrono::seconds>(
                      fs::last_write_time(file).time_since_epoch())
                      .count();
    if (!undated(rng)) photo.capture_time = random_capture_time(rng);
  }

  // People sizes, then the faces' places: slots shuffled over all photos so
  // that each person's faces spread over many photos and dates.
  std::uniform_int_distribution<int> person_size(options.min_faces, options.max_faces);
  std::vector<int> sizes;
  for (int left = options.faces; left > 0;) {
    int size = std::min(person_size(rng), left);
    if (left - size > 0 && left - size < options.min_faces) size = left;  // no tiny last person
    sizes.push_back(size);
    left -= size;
  }
  std::vector<int> slots(static_cast<std::size_t>(photo_count) * kSlotsPerPhoto);
  for (std::size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<int>(i);
  std::shuffle(slots.begin(), slots.end(), rng);

  const match::Calibration& calibration = match::embedded_calibration();
  std::vector<std::string> models;
  std::vector<std::size_t> dimensions;
  for (const match::MemberCalibration& member : calibration.members()) {
    if (member.dimension == 0) {
      throw Error("make_library: the calibration does not record " + member.model +
                  "'s dimension; re-learn models/calibration.json");
    }
    models.push_back(member.model);
    dimensions.push_back(member.dimension);
  }

  auto library = library::Library::open(options.library);
  store::Catalog& catalog = library->catalog();
  std::uniform_real_distribution<float> quality(0.35f, 0.98f), score(0.8f, 0.999f),
      angle(-20.0f, 20.0f);
  std::bernoulli_distribution named(options.named);
  std::size_t next_slot = 0, named_people = 0;
  catalog.write_batch([&] {
    std::vector<std::int64_t> photo_ids;
    for (const store::Photo& photo : photos) photo_ids.push_back(catalog.upsert_photo(photo));
    for (std::size_t p = 0; p < sizes.size(); ++p) {
      std::optional<std::string> name;
      if (named(rng)) {
        name = "Synthetic person " + std::to_string(p + 1);
        ++named_people;
      }
      const std::int64_t person = catalog.create_person(name);
      std::vector<std::vector<float>> centres;
      for (const std::size_t d : dimensions) centres.push_back(random_unit(d, rng));
      for (int f = 0; f < sizes[p]; ++f) {
        const int slot = slots[next_slot++];
        store::Face face;
        face.photo_id = photo_ids[static_cast<std::size_t>(slot / kSlotsPerPhoto)];
        face.box = slot_box(slot % kSlotsPerPhoto);
        face.landmarks = landmarks_of(face.box);
        face.detector_score = score(rng);
        face.quality = {quality(rng), quality(rng), quality(rng), quality(rng), quality(rng),
                        quality(rng), angle(rng),   angle(rng),   angle(rng)};
        std::vector<store::FaceVector> vectors;
        std::vector<std::vector<float>> member_vectors;
        for (std::size_t m = 0; m < models.size(); ++m) {
          member_vectors.push_back(near(centres[m], rng));
          vectors.push_back({models[m], member_vectors.back()});
        }
        const std::vector<std::span<const float>> spans(member_vectors.begin(),
                                                        member_vectors.end());
        vectors.push_back({std::string(store::kFusedModel), calibration.fuse_vectors(spans)});
        const std::int64_t face_id = catalog.add_face(face, vectors);
        catalog.link_face(face_id, person, store::LinkOrigin::kAutomatic);
      }
    }
  });
  const double catalog_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Built and saved here so that the first search on the server is fast.
  library->vector_index();
  library->save_index();
  const library::IndexState& index = library->index_state();

  nlohmann::ordered_json summary;
  summary["library"] = options.library.string();
  summary["photos_dir"] = photos_dir.string();
  summary["photos"] = photo_count;
  summary["faces"] = options.faces;
  summary["people"] = sizes.size();
  summary["named_people"] = named_people;
  summary["models"] = models;
  summary["catalog_seconds"] = catalog_seconds;
  summary["index"] = {{"source", std::string(library::to_string(index.source))},
                      {"faces", index.faces},
                      {"seconds", index.seconds}};
  summary["seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << summary.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Writes a synthetic library of N faces (real JPEGs, people, vectors) for scale tests"};
  Options options;
  app.add_option("--library", options.library, "New library folder to write")->required();
  app.add_option("--photos-dir", options.photos_dir,
                 "Where the generated JPEGs go (default: <library>-photos beside it)");
  app.add_option("--faces", options.faces, "Faces in the library")->capture_default_str();
  app.add_option("--photos", options.photos,
                 "Photos (default: faces / 20, the faces each photo holds)");
  app.add_option("--min-faces", options.min_faces, "Fewest faces per person")
      ->capture_default_str();
  app.add_option("--max-faces", options.max_faces, "Most faces per person")->capture_default_str();
  app.add_option("--undated", options.undated, "Share of photos without a capture date")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--named", options.named, "Share of people with a name")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Random seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    options.library = fs::absolute(options.library);
    return run(options);
  } catch (const std::exception& error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
}
