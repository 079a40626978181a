// `likeness compare A B` and `likeness compare --pairs FILE`: are two photos of
// the same person? The calibrated ensemble of the member models gives a
// probability and the decision at its threshold (chosen at FAR 1e-3 on LFW,
// models/calibration.json), with each member's own view.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"
#include "likeness/match/embedded_calibration.h"
#include "likeness/match/recognizer.h"

namespace likeness::cli {
namespace {

struct CompareCommandOptions {
  std::filesystem::path a, b, pairs;
  std::string model = "ensemble";
  std::string detector{detect::Detector::default_name()};
  int face_a = -1;
  int face_b = -1;
  int threads = 1;
  float min_quality = match::RecognizerOptions{}.min_quality;
  bool json = false;
};

// One photo's chosen face, described by the recognizer; or why there is none.
struct PhotoFace {
  std::string error;  // empty when ok
  std::string message;
  cv::Rect2f box;
  match::FaceDescription description;
};

class Pipeline {
 public:
  Pipeline(const GlobalOptions& global, const CompareCommandOptions& options)
      : store_(infer::ModelStore::open({.models_dir = global.models_dir})) {
    detect::DetectorOptions det;
    det.threads = options.threads;
    detector_ = detect::Detector::create(options.detector, store_, det);
    // "all" is the ensemble: every model, each one's view shown.
    recognizer_ = match::Recognizer::create(
        store_,
        {.model = options.model == "all" ? "ensemble" : options.model, .threads = options.threads});
    for (const auto& why : recognizer_->skipped()) {
      std::cerr << "likeness: warning: recognition model skipped: " << why << '\n';
    }
  }

  const match::Recognizer& recognizer() const { return *recognizer_; }

  // face_index < 0: the largest face; otherwise the index into the detector's
  // list (best score first, as `likeness detect` prints it).
  PhotoFace load(const std::filesystem::path& file, int face_index) const {
    PhotoFace out;
    const io::DecodeResult decoded = io::decode_image_file(file);
    if (!decoded.ok()) {
      out.error = io::to_string(decoded.error);
      out.message = decoded.message;
      return out;
    }
    const Image& image = decoded.value->image;
    const detect::DetectionResult found = detector_->detect(image);
    if (found.faces.empty()) {
      out.error = "no_face";
      out.message = file.string() + ": no face found" +
                    (found.too_small.empty() ? "" : " (only faces below the minimum size)");
      return out;
    }
    std::size_t pick = 0;
    if (face_index >= 0) {
      if (static_cast<std::size_t>(face_index) >= found.faces.size()) {
        out.error = "no_such_face";
        out.message = file.string() + ": face " + std::to_string(face_index) + " requested, " +
                      std::to_string(found.faces.size()) + " found";
        return out;
      }
      pick = static_cast<std::size_t>(face_index);
    } else {
      for (std::size_t i = 1; i < found.faces.size(); ++i) {
        if (found.faces[i].box.area() > found.faces[pick].box.area()) pick = i;
      }
    }
    out.box = found.faces[pick].box;
    out.description = recognizer_->describe(image, found.faces[pick]);
    for (const auto& why : out.description.warnings) {
      std::cerr << "likeness: warning: " << file.string()
                << ": model skipped for this face: " << why << '\n';
    }
    return out;
  }

 private:
  infer::ModelStore store_;
  std::unique_ptr<detect::Detector> detector_;
  std::unique_ptr<match::Recognizer> recognizer_;
};

// The comparison of two loaded photos as JSON (see the --json help) or
// {a, b, error, message}.
nlohmann::json compare_json(const Pipeline& pipeline, const std::string& a_name, const PhotoFace& a,
                            const std::string& b_name, const PhotoFace& b) {
  nlohmann::json out{{"a", a_name}, {"b", b_name}};
  for (const auto* p : {&a, &b}) {
    if (!p->error.empty()) {
      out["error"] = p->error;
      out["message"] = p->message;
      return out;
    }
  }
  out["box_a"] = {a.box.x, a.box.y, a.box.width, a.box.height};
  out["box_b"] = {b.box.x, b.box.y, b.box.width, b.box.height};
  const match::Comparison c = pipeline.recognizer().compare(a.description, b.description);
  nlohmann::json scores = nlohmann::json::object();
  for (const auto& m : c.members) {
    if (!m.compared) {
      scores[m.model] = {{"error", "not_compared"}};
      continue;
    }
    scores[m.model] = {{"similarity", m.cosine},
                       {"probability", m.probability},
                       {"threshold", m.cosine_threshold},
                       {"same_person", m.same_person}};
  }
  out["model"] = c.members.size() == 1 ? c.members.front().model : "ensemble";
  out["scores"] = scores;
  out["quality_a"] = quality_json(a.description.quality);
  out["quality_a"]["searchable"] = a.description.searchable;
  out["quality_b"] = quality_json(b.description.quality);
  out["quality_b"]["searchable"] = b.description.searchable;
  out["fused_similarity"] = {{"fused", c.fused_similarity.fused},
                             {"confidence", c.fused_similarity.confidence},
                             {"cosine", c.fused_similarity.metrics.cosine},
                             {"euclidean", c.fused_similarity.metrics.euclidean},
                             {"manhattan", c.fused_similarity.metrics.manhattan},
                             {"correlation", c.fused_similarity.metrics.correlation}};
  if (!c.decided) {
    out["same_person"] = nullptr;
    out["probability"] = nullptr;
    out["error"] = "not_aligned";
    out["message"] = "no recognition model could describe both faces";
    return out;
  }
  out["probability"] = c.probability;
  out["threshold"] = c.threshold;
  out["same_person"] = c.same_person;
  return out;
}

void print_text(const nlohmann::json& r) {
  if (r.contains("error") && !r.contains("scores")) {
    std::cerr << "likeness: " << r["message"].get<std::string>() << '\n';
    return;
  }
  for (const auto& [name, s] : r["scores"].items()) {
    if (s.contains("error")) {
      std::printf("  %-20s face could not be described\n", name.c_str());
    } else {
      std::printf("  %-20s similarity %.3f (threshold %.3f), probability %.3f: %s\n", name.c_str(),
                  s["similarity"].get<double>(), s["threshold"].get<double>(),
                  s["probability"].get<double>(),
                  s["same_person"].get<bool>() ? "same" : "different");
    }
  }
  for (const char* face : {"quality_a", "quality_b"}) {
    if (!r[face]["searchable"].get<bool>()) {
      std::printf(
          "  note: face %s has quality %.2f, below --min-quality: a library would not "
          "search or cluster it\n",
          face[8] == 'a' ? "A" : "B", r[face]["overall"].get<double>());
    }
  }
  if (r["same_person"].is_boolean()) {
    std::printf("%s: probability %.3f (%s, threshold %.3f)\n",
                r["same_person"].get<bool>() ? "Same person" : "Different people",
                r["probability"].get<double>(), r["model"].get<std::string>().c_str(),
                r["threshold"].get<double>());
  }
}

int run_pairs(const Pipeline& pipeline, const CompareCommandOptions& options) {
  std::ifstream in(options.pairs);
  if (!in) {
    std::cerr << "likeness: cannot read " << options.pairs.string() << '\n';
    return 1;
  }
  // Photos often recur across lines; keep their faces (bounded, simply reset when full).
  std::map<std::string, PhotoFace> cache;
  auto load = [&](const std::string& path) -> const PhotoFace& {
    if (cache.size() > 2000) cache.clear();
    auto it = cache.find(path);
    if (it == cache.end()) it = cache.emplace(path, pipeline.load(path, -1)).first;
    return it->second;
  };
  int failures = 0;
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    nlohmann::json r;
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      r = {{"line", line_number},
           {"error", "bad_line"},
           {"message", "line " + std::to_string(line_number) + ": expected pathA<TAB>pathB"}};
    } else {
      const std::string a = line.substr(0, tab), b = line.substr(tab + 1);
      r = compare_json(pipeline, a, load(a), b, load(b));
    }
    if (r.contains("error")) ++failures;
    if (options.json) {
      std::cout << json_text(r) << '\n';
    } else {
      std::printf("%s\t%s\t", r.value("a", std::string()).c_str(),
                  r.value("b", std::string()).c_str());
      if (r["same_person"].is_boolean()) {
        std::printf("%s\n", r["same_person"].get<bool>() ? "same" : "different");
      } else {
        std::printf("error: %s\n", r.value("message", std::string()).c_str());
      }
    }
    std::cout.flush();
  }
  return failures > 0 ? 1 : 0;
}

int run_compare(const GlobalOptions& global, const CompareCommandOptions& options) {
  const bool have_pair = !options.a.empty() && !options.b.empty();
  if (options.pairs.empty() == !have_pair) {
    std::cerr << "likeness compare: give either two photos or --pairs FILE\n";
    return 2;
  }
  const Pipeline pipeline(global, options);
  if (!options.pairs.empty()) return run_pairs(pipeline, options);
  const nlohmann::json r =
      compare_json(pipeline, options.a.string(), pipeline.load(options.a, options.face_a),
                   options.b.string(), pipeline.load(options.b, options.face_b));
  if (options.json) {
    std::cout << json_text(r, 1) << '\n';
  } else {
    print_text(r);
  }
  if (r.contains("error")) {
    if (options.json || r.contains("scores"))
      std::cerr << "likeness: " << r["message"].get<std::string>() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace

void register_compare_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<CompareCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare",
      "Are two photos of the same person? Compares the largest face of each (or the faces "
      "chosen with --face-a/--face-b): the calibrated ensemble of the member models "
      "(models/calibration.json) gives the probability that they are the same person and the "
      "decision at its "
      "threshold (chosen at a false-accept rate of 1e-3 on LFW, docs/benchmarks.md), with "
      "each model's similarity, probability and decision. Exit code 1 when a photo cannot be "
      "read or has no face.");
  cmd->add_option("a", options->a, "First photo");
  cmd->add_option("b", options->b, "Second photo");
  cmd->add_option("--pairs", options->pairs,
                  "File of pathA<TAB>pathB lines: compares each pair (models loaded once) and "
                  "prints one result per line in input order; a bad line or photo gives an "
                  "error result and the run continues (exit code 1 if any failed)");
  // Only the calibration's members have a decision threshold to decide alone with.
  std::vector<std::string> members;
  for (const auto& m : match::embedded_calibration().members()) members.push_back(m.model);
  cmd->add_option("--model,-m", options->model,
                  "ensemble (the calibrated members, fused; 'all' is the same), or one of them "
                  "alone: " +
                      join(members))
      ->capture_default_str();
  cmd->add_option("--detector,-d", options->detector, "Detector backend")->capture_default_str();
  cmd->add_option("--face-a", options->face_a,
                  "Face of the first photo, as numbered by `likeness detect` (0 = first; "
                  "default: the largest face)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--face-b", options->face_b, "Face of the second photo (as --face-a)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", options->threads, "Inference threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-quality", options->min_quality,
                  "Faces below this overall quality (0-1) are marked not searchable (still "
                  "compared); docs/quality.md")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_flag("--json", options->json,
                "JSON output: {a, b, same_person, probability, threshold, model, box_a, box_b, "
                "quality_a, quality_b, scores: {MODEL: {similarity, probability, threshold, "
                "same_person}}, fused_similarity} or {a, b, error, message}; with --pairs one "
                "such object per line");
  cmd->callback([options, &global, &exit_code] { exit_code = run_compare(global, *options); });
}

}  // namespace likeness::cli
