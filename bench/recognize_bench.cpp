// Cost of describing one face as the product does (match::Recognizer::describe:
// quality + every ensemble member's embedding + the fused vector), one thread,
// and of each member alone.
//
//   OPENBLAS_NUM_THREADS=1 build/bench/recognize_bench --faces 50
//
// Faces: the centre face of the first N LFW photos in name order (detection
// not timed). Prints JSON; medians in milliseconds.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "likeness/match/recognizer.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

struct Face {
  Image image;
  detect::Detection detection;
};

double median_ms(const match::Recognizer& recognizer, const std::vector<Face>& faces) {
  std::vector<double> ms;
  (void)recognizer.describe(faces.front().image, faces.front().detection);  // warm-up
  for (const auto& f : faces) {
    const auto start = std::chrono::steady_clock::now();
    (void)recognizer.describe(f.image, f.detection);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time per face of Likeness' recognizer (ensemble and each member)"};
  fs::path lfw = LIKENESS_BENCH_LFW_DIR;
  int count = 50;
  app.add_option("lfw", lfw, "LFW folder (images/)")->capture_default_str();
  app.add_option("--faces", count, "Faces to time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto store = infer::ModelStore::open();
    const auto detector = detect::Detector::create("default", store, {.threads = 1});
    std::vector<fs::path> photos;
    for (const auto& e : fs::recursive_directory_iterator(lfw / "images")) {
      if (e.path().extension() == ".jpg") photos.push_back(e.path());
    }
    std::sort(photos.begin(), photos.end());
    std::vector<Face> faces;
    for (const auto& p : photos) {
      if (static_cast<int>(faces.size()) >= count) break;
      auto decoded = io::decode_image_file(p);
      if (!decoded.ok()) continue;
      const auto found = detector->detect(decoded.value->image);
      if (found.faces.empty()) continue;
      faces.push_back({decoded.value->image, found.faces.front()});
    }
    if (faces.empty()) throw UsageError("no LFW faces under " + lfw.string());

    const auto ensemble = match::Recognizer::create(store, {.threads = 1});
    nlohmann::json members = nlohmann::json::object();
    for (const auto& name : ensemble->members()) {
      const auto one = match::Recognizer::create(store, {.model = name, .threads = 1});
      members[name] = median_ms(*one, faces);
    }
    const double total = median_ms(*ensemble, faces);
    std::cout << nlohmann::json{{"faces", faces.size()},
                                {"threads", 1},
                                {"ensemble_ms_per_face", total},
                                {"member_ms_per_face", members},
                                {"skipped", ensemble->skipped()}}
                     .dump(2)
              << '\n';
  } catch (const Error& e) {
    std::cerr << "recognize_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
