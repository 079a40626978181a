// Detection speed benchmark: time of Detector::detect() per photo, one thread,
// median over repeats, split into the whole-photo pass, the tiles and the
// landmarks by running the same photo three ways.
//
//   build/bench/detect_bench ~/.local/share/likeness/demo/sample*.jpg --repeats 7
//
// Prints JSON. Decoding is not timed (done once before). The machine is
// shared: compare the parts of one run with each other rather than across runs.
//
// --small-faces LFW_DIR measures what the tiling costs in recall instead: LFW
// photos shrunk so that their face is 30, 40 or 60 px wide are laid out on a
// 1920x1280 grey canvas (a 16x10 grid), and the share of them found is
// reported, with the time per canvas.
//
//   build/bench/detect_bench --small-faces ../shared/datasets/lfw --canvases 4
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Median milliseconds of detect() over `repeats` runs (after one warm-up run)
// and the number of faces (plus too-small ones) of the last run.
std::pair<double, std::size_t> time_detect(const detect::Detector& detector, const Image& image,
                                           int repeats) {
  std::size_t faces = 0;
  std::vector<double> ms;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const auto result = detector.detect(image);
    const auto stop = std::chrono::steady_clock::now();
    faces = result.faces.size() + result.too_small.size();
    if (r > 0) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  return {median(ms), faces};
}

// LFW's 250-px photos show a face whose common (dlib HOG) box is about this
// wide (median of the default detector's boxes on LFW).
constexpr float kLfwFaceWidth = 105.0f;

// Recall of faces `face_px` wide laid out on canvases (see the file comment).
nlohmann::json small_face_recall(const detect::Detector& detector,
                                 const std::vector<fs::path>& lfw_photos, float face_px,
                                 int canvases) {
  const cv::Size canvas_size(1920, 1280);
  const int cols = 16, rows = 10;
  const int cell_w = canvas_size.width / cols, cell_h = canvas_size.height / rows;
  const float scale = face_px / kLfwFaceWidth;
  const int side = static_cast<int>(std::lround(250.0f * scale));
  std::size_t next = 0, placed = 0, found = 0;
  std::vector<double> ms;
  for (int c = 0; c < canvases; ++c) {
    Image canvas;
    canvas.rgb = cv::Mat(canvas_size, CV_8UC3, cv::Scalar(128, 128, 128));
    std::vector<cv::Point2f> centres;
    for (int r = 0; r < rows; ++r) {
      for (int k = 0; k < cols && next < lfw_photos.size(); ++k) {
        const auto decoded = io::decode_image_file(lfw_photos[next++]);
        if (!decoded.ok()) continue;
        cv::Mat small;
        cv::resize(decoded.value->image.rgb, small, cv::Size(side, side), 0, 0, cv::INTER_AREA);
        // Centred in its cell, clipped to the cell (large faces overlap cells).
        const int x = k * cell_w + (cell_w - side) / 2;
        const int y = r * cell_h + (cell_h - side) / 2;
        const cv::Rect want(x, y, side, side);
        const cv::Rect inside = want & cv::Rect(0, 0, canvas_size.width, canvas_size.height);
        small(inside - want.tl()).copyTo(canvas.rgb(inside));
        centres.emplace_back(static_cast<float>(x) + static_cast<float>(side) / 2.0f,
                             static_cast<float>(y) + static_cast<float>(side) / 2.0f);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const auto result = detector.detect(canvas);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    for (const auto& centre : centres) {
      ++placed;
      auto covers = [&](const detect::Detection& d) { return d.box.contains(centre); };
      if (std::any_of(result.faces.begin(), result.faces.end(), covers) ||
          std::any_of(result.too_small.begin(), result.too_small.end(), covers)) {
        ++found;
      }
    }
  }
  return {{"face_px", face_px},
          {"faces", placed},
          {"found", found},
          {"recall", placed ? static_cast<double>(found) / static_cast<double>(placed) : 0.0},
          {"median_ms_per_canvas", median(ms)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Detection time per photo (single thread) for Likeness' detectors"};
  std::vector<fs::path> photos;
  std::string detector_name = "default";
  std::string landmark_model = detect::DetectorOptions{}.landmark_model;
  float min_face = detect::DetectorOptions{}.min_face_size;
  int repeats = 5;
  fs::path models_dir;
  fs::path small_faces;
  int canvases = 4;
  app.add_option("photos", photos, "Photos to time");
  app.add_option("--small-faces", small_faces,
                 "LFW folder: measure the recall of small faces instead (see --canvases)");
  app.add_option("--canvases", canvases, "Canvases of 160 faces per size for --small-faces")
      ->capture_default_str();
  app.add_option("--detector,-d", detector_name, "Detector backend")->capture_default_str();
  app.add_option("--landmarks", landmark_model, "Landmark model")->capture_default_str();
  app.add_option("--min-face", min_face, "Smallest face searched for (px)")->capture_default_str();
  app.add_option("--repeats", repeats, "Timed runs per photo (median)")->capture_default_str();
  app.add_option("--models-dir", models_dir, "Models directory (default: the store's)");
  CLI11_PARSE(app, argc, argv);

  try {
    const auto store = infer::ModelStore::open({.models_dir = models_dir});
    detect::DetectorOptions full;
    full.threads = 1;
    full.min_face_size = min_face;
    full.landmark_model = landmark_model;
    detect::DetectorOptions no_landmarks = full;
    no_landmarks.landmarks = false;
    // A minimum face larger than any photo leaves only the whole-photo pass.
    detect::DetectorOptions whole_only = no_landmarks;
    whole_only.min_face_size = 1e6f;
    if (!small_faces.empty()) {
      // Every 7th LFW photo in name order: many different people, reproducible.
      std::vector<fs::path> lfw_photos;
      for (const auto& entry : fs::recursive_directory_iterator(small_faces / "images")) {
        if (entry.path().extension() == ".jpg") lfw_photos.push_back(entry.path());
      }
      std::sort(lfw_photos.begin(), lfw_photos.end());
      std::vector<fs::path> sample;
      for (std::size_t i = 0; i < lfw_photos.size(); i += 7) sample.push_back(lfw_photos[i]);
      const auto detector = detect::Detector::create(detector_name, store, no_landmarks);
      nlohmann::json sizes = nlohmann::json::array();
      for (const float px : {30.0f, 40.0f, 60.0f}) {
        sizes.push_back(small_face_recall(*detector, sample, px, canvases));
      }
      std::cout << nlohmann::json{{"detector", detector_name},
                                  {"min_face", min_face},
                                  {"canvas", "1920x1280, 16x10 LFW photos"},
                                  {"sizes", sizes}}
                       .dump(2)
                << '\n';
      return 0;
    }
    if (photos.empty()) throw UsageError("no photos given (or use --small-faces LFW_DIR)");
    const auto with_all = detect::Detector::create(detector_name, store, full);
    const auto without_landmarks = detect::Detector::create(detector_name, store, no_landmarks);
    const auto whole = detect::Detector::create(detector_name, store, whole_only);

    nlohmann::json rows = nlohmann::json::array();
    std::vector<double> totals, wholes, tiles, landmarks;
    for (const auto& photo : photos) {
      const auto decoded = io::decode_image_file(photo);
      if (!decoded.ok()) {
        std::cerr << decoded.message << '\n';
        continue;
      }
      const Image& image = decoded.value->image;
      const auto [total_ms, faces] = time_detect(*with_all, image, repeats);
      const auto [boxes_ms, faces_no_lm] = time_detect(*without_landmarks, image, repeats);
      const auto [whole_ms, whole_faces] = time_detect(*whole, image, repeats);
      totals.push_back(total_ms);
      wholes.push_back(whole_ms);
      tiles.push_back(boxes_ms - whole_ms);
      landmarks.push_back(total_ms - boxes_ms);
      rows.push_back({{"photo", photo.filename().string()},
                      {"width", image.rgb.cols},
                      {"height", image.rgb.rows},
                      {"faces", faces},
                      {"ms_total", total_ms},
                      {"ms_without_landmarks", boxes_ms},
                      {"ms_whole_photo_pass", whole_ms}});
    }
    const nlohmann::json report = {{"detector", detector_name},
                                   {"landmark_model", landmark_model},
                                   {"min_face", min_face},
                                   {"repeats", repeats},
                                   {"threads", 1},
                                   {"photos", rows},
                                   {"median_ms",
                                    {{"total", median(totals)},
                                     {"whole_photo_pass", median(wholes)},
                                     {"tiles", median(tiles)},
                                     {"landmarks", median(landmarks)}}}};
    std::cout << report.dump(2) << '\n';
  } catch (const Error& e) {
    std::cerr << "detect_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
