// `likeness analyze IMG...`: every face's estimated age, gender and expression
// with its quality measures; with --sensitive-attributes (opt-in, GDPR Art. 9)
// also the ethnicity model's categories, shown apart from the rest.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/attributes/attributes.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"
#include "likeness/quality/quality.h"

namespace likeness::cli {
namespace {

struct AnalyzeCommandOptions {
  std::vector<std::filesystem::path> inputs;
  std::string detector{detect::Detector::default_name()};
  float min_face = 30.0f;
  bool json = false;
  attributes::AttributeOptions attributes{};
};

std::string attributes_line(const attributes::FaceAttributes& a) {
  std::string line;
  char text[128];
  if (a.age) {
    std::snprintf(text, sizeof text, "age %.0f (%.0f-%.0f)", static_cast<double>(a.age->years),
                  static_cast<double>(a.age->low), static_cast<double>(a.age->high));
    line += text;
  }
  if (a.gender) {
    std::snprintf(text, sizeof text, "%s%s %.2f", line.empty() ? "" : ", ", a.gender->label.c_str(),
                  static_cast<double>(a.gender->probability));
    line += text;
  }
  if (a.emotion) {
    const auto& p = a.emotion->probabilities;
    const std::size_t best =
        static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    std::snprintf(text, sizeof text, "%s%s %.2f", line.empty() ? "" : ", ",
                  a.emotion->label.c_str(), static_cast<double>(p[best]));
    line += text;
  }
  if (a.ethnicity) {
    const auto& p = a.ethnicity->probabilities;
    const std::size_t best =
        static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    std::snprintf(text, sizeof text, "%ssensitive: ethnicity model category \"%s\" %.2f",
                  line.empty() ? "" : "; ", a.ethnicity->label.c_str(),
                  static_cast<double>(p[best]));
    line += text;
  }
  return line.empty() ? "no attributes" : line;
}

int run_analyze(const GlobalOptions& global, const AnalyzeCommandOptions& options) {
  const auto store = infer::ModelStore::open({.models_dir = global.models_dir});
  const auto detector =
      detect::Detector::create(options.detector, store, {.min_face_size = options.min_face});
  if (options.attributes.sensitive) std::cerr << attributes::kSensitiveAttributesNotice << '\n';
  const auto estimator = attributes::AttributeEstimator::create(store, options.attributes);

  int failures = 0;
  nlohmann::json photos = nlohmann::json::array();
  for (const auto& file : options.inputs) {
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
    const detect::DetectionResult found = detector->detect(image);
    nlohmann::json faces = nlohmann::json::array();
    if (!options.json) {
      std::printf("%s: %zu face(s)\n", file.string().c_str(), found.faces.size());
    }
    for (const detect::Detection& face : found.faces) {
      // The formula the recognizer and `detect` use by default (docs/quality.md).
      const quality::QualityMeasures q =
          quality::assess(image, face, {.formula = quality::Formula::full});
      const attributes::FaceAttributes a = estimator->estimate(image, face);
      for (const auto& warning : a.warnings) std::cerr << "likeness: warning: " << warning << '\n';
      if (options.json) {
        faces.push_back({{"box", {face.box.x, face.box.y, face.box.width, face.box.height}},
                         {"score", face.score},
                         {"quality", quality_json(q)},
                         {"attributes", attributes::to_json(a)}});
        continue;
      }
      std::printf(
          "  box %.0f,%.0f %.0fx%.0f: %s; quality %.2f%s (sharpness %.2f, contrast %.2f, "
          "size %.2f, pose %.2f, exposure %.2f)\n",
          static_cast<double>(face.box.x), static_cast<double>(face.box.y),
          static_cast<double>(face.box.width), static_cast<double>(face.box.height),
          attributes_line(a).c_str(), static_cast<double>(q.overall), q.high ? "" : " (low)",
          static_cast<double>(q.sharpness), static_cast<double>(q.contrast),
          static_cast<double>(q.size), static_cast<double>(q.pose),
          static_cast<double>(q.exposure));
    }
    if (options.json) {
      photos.push_back({{"file", file.string()},
                        {"ok", true},
                        {"width", image.width()},
                        {"height", image.height()},
                        {"faces", faces}});
    }
  }
  if (options.json) {
    nlohmann::json models = nlohmann::json::array();
    for (const auto& model : estimator->models()) models.push_back(model->name());
    std::cout << json_text(nlohmann::json{{"detector", detector->name()},
                                          {"attribute_models", models},
                                          {"photos", photos},
                                          {"failed", failures}},
                           1)
              << '\n';
  }
  return failures > 0 ? 1 : 0;
}

}  // namespace

void register_analyze_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<AnalyzeCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "analyze",
      "Estimate every face's age (years, with a range), gender (label and probability) and "
      "expression (7 classes) with its quality measures. Estimates from a photo, not facts: "
      "see docs/attributes.md for what the models can and cannot do. A photo that cannot be "
      "read is reported and skipped; the exit code is 1 if any failed.");
  cmd->add_option("images", options->inputs, "Photo files (JPEG, PNG, BMP, WEBP)")->required();
  cmd->add_option("--detector,-d", options->detector,
                  "Detector backend: " + join(detect::Detector::names()))
      ->capture_default_str();
  cmd->add_option("--min-face", options->min_face, "Smallest face width analysed, in pixels")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  const std::string models = join(attributes::AttributeModel::known_models());
  cmd->add_option("--age-model", options->attributes.age_model, "Age model: " + models)
      ->capture_default_str();
  cmd->add_option("--gender-model", options->attributes.gender_model, "Gender model: " + models)
      ->capture_default_str();
  cmd->add_option("--emotion-model", options->attributes.emotion_model,
                  "Expression model: " + models)
      ->capture_default_str();
  cmd->add_flag("--sensitive-attributes", options->attributes.sensitive,
                std::string(attributes::kSensitiveAttributesHelp));
  cmd->add_flag("--json", options->json,
                "Print one JSON document: {detector, attribute_models, failed, photos: [{file, "
                "ok, width, height, faces: [{box: [x, y, w, h], score, quality: {...}, "
                "attributes: {age: {years, low, high}, gender: {label, probability}, emotion: "
                "{label, probabilities: {angry, ...}}, model: {...}, and only with "
                "--sensitive-attributes sensitive: {ethnicity: {label, probabilities: {white, "
                "black, asian, indian, others}}, model}}}]}]}");
  cmd->callback([options, &global, &exit_code] { exit_code = run_analyze(global, *options); });
}

}  // namespace likeness::cli
