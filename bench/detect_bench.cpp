// Detection speed benchmark: time of Detector::detect() per photo, one thread,
// median over repeats, split into the whole-photo pass, the tiles and the
// landmarks by running the same photo three ways.
//
//   build/bench/detect_bench ~/.local/share/likeness/demo/sample*.jpg --repeats 7
//
// Prints JSON. Decoding is not timed (done once before). The machine is
// shared: compare the parts of one run with each other rather than across runs;
// the thread CPU time (median_cpu_ms) is less disturbed by other processes than
// the wall time.
//
// --dump prints, instead of times, every box, score and landmark of one
// detect() per photo as exact (hexadecimal) floats, one line per face, with a
// hash of the decoded pixels: two builds' outputs can be compared with diff.
// --list FILE adds the photos named in FILE (one path a line).
//
// --workers N times N threads sharing one detector instead (as `likeness
// index` runs its workers): each detects every photo `repeats` times; prints
// the wall time per photo of the whole (photos * repeats * N detections).
//
//   build/bench/detect_bench --dump --list lfw200.txt > new.txt
//
// --small-faces LFW_DIR measures what the tiling costs in recall instead: LFW
// photos shrunk so that their face is 30, 40 or 60 px wide are laid out on a
// 1920x1280 grey canvas (a 16x10 grid), and the share of them found is
// reported, with the time per canvas. --landmark-error adds how far their
// landmarks lie from those found on the full-size photos.
//
//   build/bench/detect_bench --small-faces ../shared/datasets/lfw --canvases 4
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <thread>

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

// CPU time of the calling thread, milliseconds.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

struct Timing {
  double ms = 0.0;      // median wall time
  double cpu_ms = 0.0;  // median thread CPU time
  std::size_t faces = 0;
};

// Median milliseconds of detect() over `repeats` runs (after one warm-up run)
// and the number of faces (plus too-small ones) of the last run.
Timing time_detect(const detect::Detector& detector, const Image& image, int repeats) {
  Timing timing;
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r <= repeats; ++r) {
    const double cpu_start = thread_cpu_ms();
    const auto start = std::chrono::steady_clock::now();
    const auto result = detector.detect(image);
    const auto stop = std::chrono::steady_clock::now();
    const double cpu_stop = thread_cpu_ms();
    timing.faces = result.faces.size() + result.too_small.size();
    if (r > 0) {
      ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
      cpu_ms.push_back(cpu_stop - cpu_start);
    }
  }
  timing.ms = median(ms);
  timing.cpu_ms = median(cpu_ms);
  return timing;
}

// A float exactly, as a C99 hexadecimal literal.
std::string exact(float value) {
  char text[48];
  std::snprintf(text, sizeof text, "%a", static_cast<double>(value));
  return text;
}

// One line per face of one detect() on `image` (see --dump), with a hash
// (FNV-1a) of the decoded pixels so that differences in decoding show.
void dump_detections(const detect::Detector& detector, const Image& image, const fs::path& photo,
                     std::ostream& out) {
  std::uint64_t hash = 14695981039346656037ull;
  for (int y = 0; y < image.rgb.rows; ++y) {
    const auto* row = image.rgb.ptr<std::uint8_t>(y);
    for (std::size_t i = 0; i < static_cast<std::size_t>(image.rgb.cols) * 3; ++i) {
      hash = (hash ^ row[i]) * 1099511628211ull;
    }
  }
  const auto result = detector.detect(image);
  out << photo.string() << ' ' << image.rgb.cols << 'x' << image.rgb.rows << " pixels " << std::hex
      << hash << std::dec << " faces " << result.faces.size() << " too_small "
      << result.too_small.size() << '\n';
  auto print = [&](const char* kind, const std::vector<detect::Detection>& list) {
    for (const auto& d : list) {
      out << "  " << kind << " box " << exact(d.box.x) << ' ' << exact(d.box.y) << ' '
          << exact(d.box.width) << ' ' << exact(d.box.height) << " score " << exact(d.score);
      if (d.has_landmarks) {
        out << " landmarks";
        for (const auto& p : d.landmarks) out << ' ' << exact(p.x) << ' ' << exact(p.y);
      }
      out << '\n';
    }
  };
  print("face", result.faces);
  print("too_small", result.too_small);
}

// LFW's 250-px photos show a face whose common (dlib HOG) box is about this
// wide (median of the default detector's boxes on LFW).
constexpr float kLfwFaceWidth = 105.0f;

// The mean distance of a face's five landmarks from the reference ones, over
// the reference's distance between the eyes.
double landmark_error(const detect::Detection& face, const std::array<cv::Point2f, 5>& reference) {
  double sum = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    sum += cv::norm(face.landmarks[i] - reference[i]);
  }
  const double eyes = cv::norm(reference[detect::kLeftEye] - reference[detect::kRightEye]);
  return sum / static_cast<double>(reference.size()) / std::max(1.0, eyes);
}

// Recall of faces `face_px` wide laid out on canvases (see the file comment).
// With `reference` (a detector with landmarks, as `detector` must then be),
// also how far the landmarks of the faces found lie from those the reference
// finds on the full-size LFW photo (its face over the photo's centre),
// scaled onto the canvas; the time per canvas then includes the landmarks.
nlohmann::json small_face_recall(const detect::Detector& detector,
                                 const std::vector<fs::path>& lfw_photos, float face_px,
                                 int canvases, const detect::Detector* reference) {
  const cv::Size canvas_size(1920, 1280);
  const int cols = 16, rows = 10;
  const int cell_w = canvas_size.width / cols, cell_h = canvas_size.height / rows;
  const float scale = face_px / kLfwFaceWidth;
  const int side = static_cast<int>(std::lround(250.0f * scale));
  std::size_t next = 0, placed = 0, found = 0;
  std::vector<double> ms, errors;
  for (int c = 0; c < canvases; ++c) {
    Image canvas;
    canvas.rgb = cv::Mat(canvas_size, CV_8UC3, cv::Scalar(128, 128, 128));
    std::vector<cv::Point2f> centres;
    std::vector<std::optional<std::array<cv::Point2f, 5>>> references;
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
        references.emplace_back();
        if (reference == nullptr) continue;
        const cv::Mat& full = decoded.value->image.rgb;
        const cv::Point2f middle(static_cast<float>(full.cols) / 2,
                                 static_cast<float>(full.rows) / 2);
        for (const auto& d : reference->detect(decoded.value->image).faces) {
          if (!d.box.contains(middle) || !d.has_landmarks) continue;
          std::array<cv::Point2f, 5> mapped{};
          const float to_canvas = static_cast<float>(side) / static_cast<float>(full.cols);
          for (std::size_t i = 0; i < mapped.size(); ++i) {
            mapped[i] = cv::Point2f(static_cast<float>(x), static_cast<float>(y)) +
                        d.landmarks[i] * to_canvas;
          }
          references.back() = mapped;
          break;
        }
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const auto result = detector.detect(canvas);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    for (std::size_t k = 0; k < centres.size(); ++k) {
      ++placed;
      auto covers = [&](const detect::Detection& d) { return d.box.contains(centres[k]); };
      auto face = std::find_if(result.faces.begin(), result.faces.end(), covers);
      if (face == result.faces.end()) {
        face = std::find_if(result.too_small.begin(), result.too_small.end(), covers);
        if (face == result.too_small.end()) continue;
      }
      ++found;
      if (references[k] && face->has_landmarks) {
        errors.push_back(landmark_error(*face, *references[k]));
      }
    }
  }
  std::sort(errors.begin(), errors.end());
  const auto share_above = [&](double limit) {
    const auto above =
        std::count_if(errors.begin(), errors.end(), [&](double e) { return e > limit; });
    return errors.empty() ? 0.0 : static_cast<double>(above) / static_cast<double>(errors.size());
  };
  return {{"face_px", face_px},
          {"faces", placed},
          {"found", found},
          {"recall", placed ? static_cast<double>(found) / static_cast<double>(placed) : 0.0},
          {"median_ms_per_canvas", median(ms)},
          {"landmark_error",
           reference == nullptr
               ? nlohmann::json(nullptr)
               : nlohmann::json{{"faces", errors.size()},
                                {"median", median(errors)},
                                {"p90", errors.empty() ? 0.0 : errors[errors.size() * 9 / 10]},
                                {"share_above_0.10", share_above(0.10)}}}};
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
  fs::path list;
  bool dump = false;
  int workers = 0;
  int canvases = 4;
  app.add_option("photos", photos, "Photos to time");
  app.add_option("--workers", workers,
                 "Time this many threads detecting at once (throughput) instead");
  app.add_option("--list", list, "File naming more photos, one path a line");
  app.add_flag(
      "--dump", dump,
      "Print every detection exactly (hex floats) instead of timing (see the file comment)");
  app.add_option("--small-faces", small_faces,
                 "LFW folder: measure the recall of small faces instead (see --canvases)");
  app.add_option("--canvases", canvases, "Canvases of 160 faces per size for --small-faces")
      ->capture_default_str();
  bool landmark_errors = false;
  app.add_flag("--landmark-error", landmark_errors,
               "With --small-faces: also how far the small faces' landmarks lie from those "
               "found on the full-size LFW photo (mean distance over the eye distance)");
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
      const auto detector =
          detect::Detector::create(detector_name, store, landmark_errors ? full : no_landmarks);
      const auto reference =
          landmark_errors ? detect::Detector::create(detector_name, store, full) : nullptr;
      nlohmann::json sizes = nlohmann::json::array();
      for (const float px : {30.0f, 40.0f, 60.0f}) {
        sizes.push_back(small_face_recall(*detector, sample, px, canvases, reference.get()));
      }
      std::cout << nlohmann::json{{"detector", detector_name},
                                  {"min_face", min_face},
                                  {"canvas", "1920x1280, 16x10 LFW photos"},
                                  {"sizes", sizes}}
                       .dump(2)
                << '\n';
      return 0;
    }
    if (!list.empty()) {
      std::ifstream in(list);
      if (!in) throw UsageError("cannot read the photo list " + list.string());
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) photos.emplace_back(line);
      }
    }
    if (photos.empty()) throw UsageError("no photos given (or use --small-faces LFW_DIR)");
    if (dump) {
      const auto detector = detect::Detector::create(detector_name, store, full);
      for (const auto& photo : photos) {
        const auto decoded = io::decode_image_file(photo);
        if (!decoded.ok()) {
          std::cout << photo.string() << " not decoded: " << decoded.message << '\n';
          continue;
        }
        dump_detections(*detector, decoded.value->image, photo, std::cout);
      }
      return 0;
    }
    if (workers > 0) {
      const auto detector = detect::Detector::create(detector_name, store, full);
      std::vector<Image> images;
      for (const auto& photo : photos) {
        auto decoded = io::decode_image_file(photo);
        if (decoded.ok()) images.push_back(decoded.value->image);
      }
      for (const auto& image : images) detector->detect(image);  // warm-up
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::thread> threads;
      for (int w = 0; w < workers; ++w) {
        threads.emplace_back([&, w] {
          for (int r = 0; r < repeats; ++r) {
            // Each worker starts at another photo, as workers on different files.
            for (std::size_t k = 0; k < images.size(); ++k) {
              detector->detect(images[(k + static_cast<std::size_t>(w)) % images.size()]);
            }
          }
        });
      }
      for (auto& thread : threads) thread.join();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      const double detections = static_cast<double>(images.size()) * repeats * workers;
      std::cout << nlohmann::json{{"detector", detector_name},
                                  {"workers", workers},
                                  {"photos", images.size()},
                                  {"repeats", repeats},
                                  {"wall_ms_per_photo", ms / detections}}
                       .dump(2)
                << '\n';
      return 0;
    }
    const auto with_all = detect::Detector::create(detector_name, store, full);
    const auto without_landmarks = detect::Detector::create(detector_name, store, no_landmarks);
    const auto whole = detect::Detector::create(detector_name, store, whole_only);

    nlohmann::json rows = nlohmann::json::array();
    std::vector<double> totals, wholes, tiles, landmarks, cpu_totals, cpu_wholes, cpu_tiles,
        cpu_landmarks;
    for (const auto& photo : photos) {
      const auto decoded = io::decode_image_file(photo);
      if (!decoded.ok()) {
        std::cerr << decoded.message << '\n';
        continue;
      }
      const Image& image = decoded.value->image;
      const Timing total = time_detect(*with_all, image, repeats);
      const Timing boxes = time_detect(*without_landmarks, image, repeats);
      const Timing whole_pass = time_detect(*whole, image, repeats);
      totals.push_back(total.ms);
      wholes.push_back(whole_pass.ms);
      tiles.push_back(boxes.ms - whole_pass.ms);
      landmarks.push_back(total.ms - boxes.ms);
      cpu_totals.push_back(total.cpu_ms);
      cpu_wholes.push_back(whole_pass.cpu_ms);
      cpu_tiles.push_back(boxes.cpu_ms - whole_pass.cpu_ms);
      cpu_landmarks.push_back(total.cpu_ms - boxes.cpu_ms);
      rows.push_back({{"photo", photo.filename().string()},
                      {"width", image.rgb.cols},
                      {"height", image.rgb.rows},
                      {"faces", total.faces},
                      {"ms_total", total.ms},
                      {"ms_without_landmarks", boxes.ms},
                      {"ms_whole_photo_pass", whole_pass.ms},
                      {"cpu_ms_total", total.cpu_ms}});
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
                                     {"landmarks", median(landmarks)}}},
                                   {"median_cpu_ms",
                                    {{"total", median(cpu_totals)},
                                     {"whole_photo_pass", median(cpu_wholes)},
                                     {"tiles", median(cpu_tiles)},
                                     {"landmarks", median(cpu_landmarks)}}}};
    std::cout << report.dump(2) << '\n';
  } catch (const Error& e) {
    std::cerr << "detect_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
