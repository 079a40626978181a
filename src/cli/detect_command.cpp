// `likeness detect IMG...`: faces with box, score and five landmarks.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "cli/commands.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"
#include "likeness/quality/quality.h"

namespace likeness::cli {
namespace {

struct DetectCommandOptions {
  std::vector<std::filesystem::path> inputs;
  std::string detector{detect::Detector::default_name()};
  float min_face = 30.0f;
  float score = -1.0f;
  int max_faces = 0;
  int threads = 1;
  bool json = false;
  bool no_landmarks = false;
  std::string landmark_model = detect::DetectorOptions{}.landmark_model;
  std::string quality_formula = "full";
  bool raw_boxes = false;
  std::filesystem::path draw;
};

nlohmann::json face_json(const Image& image, const detect::Detection& d, quality::Formula formula) {
  nlohmann::json face{{"box", {d.box.x, d.box.y, d.box.width, d.box.height}},
                      {"score", d.score},
                      {"backends", d.backends},
                      {"quality", quality_json(quality::assess(image, d, {.formula = formula}))}};
  if (d.has_landmarks) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : d.landmarks) points.push_back({p.x, p.y});
    face["landmarks"] = points;
  }
  return face;
}

// Where --draw writes the picture for input number `index` (0-based) of `count`.
std::filesystem::path draw_path(const std::filesystem::path& draw, const std::filesystem::path& in,
                                std::size_t index, std::size_t count) {
  if (std::filesystem::is_directory(draw) || draw.string().ends_with('/')) {
    return draw / (in.stem().string() + ".detect.png");
  }
  if (count == 1) return draw;
  auto out = draw;
  out.replace_filename(draw.stem().string() + "-" + std::to_string(index + 1) +
                       (draw.has_extension() ? draw.extension().string() : ".png"));
  return out;
}

bool draw_faces(const Image& image, const detect::DetectionResult& result,
                const std::filesystem::path& out) {
  cv::Mat bgr;
  cv::cvtColor(image.rgb, bgr, cv::COLOR_RGB2BGR);
  const int thick = std::max(1, std::max(bgr.cols, bgr.rows) / 500);
  auto draw_one = [&](const detect::Detection& d, const cv::Scalar& colour) {
    cv::rectangle(bgr, cv::Rect(d.box), colour, thick);
    if (!d.has_landmarks) return;
    // Left eye/mouth blue-ish, right red-ish, nose green: shows the "left" convention.
    const cv::Scalar colours[5] = {
        {255, 128, 0}, {0, 0, 255}, {0, 255, 0}, {255, 128, 0}, {0, 0, 255}};
    for (std::size_t i = 0; i < 5; ++i) {
      cv::circle(bgr, d.landmarks[i], std::max(1, thick + 1), colours[i], cv::FILLED);
    }
  };
  for (const auto& d : result.faces) draw_one(d, {0, 255, 0});
  for (const auto& d : result.too_small) draw_one(d, {0, 200, 255});
  if (!out.parent_path().empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(out.parent_path(), ignored);
  }
  try {
    return cv::imwrite(out.string(), bgr);
  } catch (const cv::Exception&) {
    return false;
  }
}

int run_detect(const GlobalOptions& global, const DetectCommandOptions& options) {
  const auto store = infer::ModelStore::open({.models_dir = global.models_dir});
  detect::DetectorOptions detector_options;
  detector_options.min_face_size = options.min_face;
  detector_options.score_threshold = options.score;
  detector_options.max_faces = options.max_faces;
  detector_options.threads = options.threads;
  detector_options.landmarks = !options.no_landmarks;
  detector_options.landmark_model = options.landmark_model;
  detector_options.raw_boxes = options.raw_boxes;
  const auto detector = detect::Detector::create(options.detector, store, detector_options);

  const quality::Formula formula = quality::parse_formula(options.quality_formula);
  int failures = 0;
  nlohmann::json photos = nlohmann::json::array();
  for (std::size_t i = 0; i < options.inputs.size(); ++i) {
    const auto& file = options.inputs[i];
    const io::DecodeResult decoded = io::decode_image_file(file);
    if (!decoded.ok()) {
      ++failures;
      std::cerr << "likeness: " << decoded.message << '\n';
      if (options.json) {
        photos.push_back({{"file", file.string()},
                          {"ok", false},
                          {"error", io::to_string(decoded.error)},
                          {"message", decoded.message}});
      }
      continue;
    }
    const Image& image = decoded.value->image;
    const auto start = std::chrono::steady_clock::now();
    const detect::DetectionResult result = detector->detect(image);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::string drawn;
    if (!options.draw.empty()) {
      const auto out = draw_path(options.draw, file, i, options.inputs.size());
      if (draw_faces(image, result, out)) {
        drawn = out.string();
      } else {
        ++failures;
        std::cerr << "likeness: " << out.string() << ": cannot write the drawing\n";
      }
    }
    if (options.json) {
      nlohmann::json faces = nlohmann::json::array();
      nlohmann::json small = nlohmann::json::array();
      for (const auto& d : result.faces) faces.push_back(face_json(image, d, formula));
      for (const auto& d : result.too_small) small.push_back(face_json(image, d, formula));
      nlohmann::json photo{{"file", file.string()},    {"ok", true}, {"width", image.width()},
                           {"height", image.height()}, {"ms", ms},   {"faces", faces},
                           {"too_small", small}};
      if (!drawn.empty()) photo["drawn"] = drawn;
      photos.push_back(photo);
      continue;
    }
    std::printf("%s: %zu face(s), %zu too small (< %g px), %.1f ms\n", file.string().c_str(),
                result.faces.size(), result.too_small.size(), static_cast<double>(options.min_face),
                ms);
    auto print = [&](const char* kind, const detect::Detection& d) {
      const auto q = quality::assess(image, d, {.formula = formula});
      std::printf("  %s box %.0f,%.0f %.0fx%.0f score %.2f quality %.2f%s", kind,
                  static_cast<double>(d.box.x), static_cast<double>(d.box.y),
                  static_cast<double>(d.box.width), static_cast<double>(d.box.height),
                  static_cast<double>(d.score), static_cast<double>(q.overall),
                  q.high ? "" : " (low)");
      if (d.has_landmarks) {
        std::printf(" eyes (%.0f,%.0f) (%.0f,%.0f)",
                    static_cast<double>(d.landmarks[detect::kLeftEye].x),
                    static_cast<double>(d.landmarks[detect::kLeftEye].y),
                    static_cast<double>(d.landmarks[detect::kRightEye].x),
                    static_cast<double>(d.landmarks[detect::kRightEye].y));
      }
      std::string by;
      for (const auto& b : d.backends) by += (by.empty() ? "" : "+") + b;
      std::printf(" [%s]\n", by.c_str());
    };
    for (const auto& d : result.faces) print("face", d);
    for (const auto& d : result.too_small) print("small", d);
    if (!drawn.empty()) std::printf("  drawn to %s\n", drawn.c_str());
  }
  if (options.json) {
    std::cout << json_text(nlohmann::json{{"detector", detector->name()},
                                          {"min_face", options.min_face},
                                          {"photos", photos},
                                          {"failed", failures}},
                           1)
              << '\n';
  }
  return failures > 0 ? 1 : 0;
}

}  // namespace

void register_detect_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<DetectCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "detect",
      "Find faces in photos: box, score and five landmarks (left eye, right eye, nose tip, left "
      "and right mouth corner; left = image left). A photo that cannot be read is reported and "
      "skipped; the exit code is 1 if any failed.");
  cmd->add_option("images", options->inputs, "Photo files (JPEG, PNG, BMP, WEBP)")->required();
  const std::string names = join(detect::Detector::names());
  cmd->add_option("--detector,-d", options->detector,
                  "Detector backend: " + names +
                      " (default: " + std::string(detect::Detector::default_name()) + ")")
      ->capture_default_str();
  cmd->add_option("--min-face", options->min_face,
                  "Faces narrower than this many pixels are listed as too small; smaller values "
                  "search big photos more finely (slower)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--score", options->score,
                  "Minimum detector score in [0, 1] (default: the backend's own threshold)")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--max-faces", options->max_faces, "Keep at most N faces per photo (0 = all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", options->threads, "Inference threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-landmarks", options->no_landmarks,
                "Skip the 68-point landmark model (faster; no landmarks in the output)");
  cmd->add_option("--landmarks", options->landmark_model,
                  "Landmark model: dlib68 (dlib's 68-point cascade) or faceplugin68 (FacePlugin's "
                  "64-px CNN)")
      ->capture_default_str();
  cmd->add_option("--quality-formula", options->quality_formula,
                  "Overall quality: full (the classic mean times the pose and exposure scores; "
                  "measured better on LFW, the one the ensemble adapts to) or classic (mean of "
                  "sharpness, contrast, size); docs/quality.md")
      ->capture_default_str()
      ->check(CLI::IsMember({"classic", "full"}));
  cmd->add_flag("--raw-boxes", options->raw_boxes,
                "Report each backend's own box instead of the common calibrated convention (for "
                "calibration; landmarks are then unreliable)");
  cmd->add_flag("--json", options->json,
                "Print one JSON document: {detector, min_face, failed, photos: [{file, ok, width, "
                "height, ms, faces: [{box: [x, y, w, h], score, landmarks: [[x, y] x5], "
                "backends}], too_small: [...]} or {file, ok: false, error, message}]}");
  cmd->add_option("--draw", options->draw,
                  "Write the photo with boxes and landmarks drawn (PNG or JPEG by extension). "
                  "With several photos: if OUT is a directory (or ends with /), writes "
                  "OUT/<name>.detect.png; otherwise OUT-1.png, OUT-2.png, ... in input order");
  cmd->callback([options, &global, &exit_code] { exit_code = run_detect(global, *options); });
}

}  // namespace likeness::cli
