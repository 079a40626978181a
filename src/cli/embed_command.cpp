// `likeness embed IMG...`: the identity vector of every face, per model.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/detect/detector.h"
#include "likeness/embed/embedder.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"

namespace likeness::cli {
namespace {

struct EmbedCommandOptions {
  std::vector<std::filesystem::path> inputs;
  std::string model{embed::Embedder::default_name()};
  std::string detector{detect::Detector::default_name()};
  int threads = 1;
  bool json = false;
};

int run_embed(const GlobalOptions& global, const EmbedCommandOptions& options) {
  const auto store = infer::ModelStore::open({.models_dir = global.models_dir});
  detect::DetectorOptions det;
  det.threads = options.threads;
  const auto detector = detect::Detector::create(options.detector, store, det);
  std::vector<std::unique_ptr<embed::Embedder>> embedders;
  if (options.model == "all") {
    for (const auto& name : embed::Embedder::names()) {
      embedders.push_back(embed::Embedder::create(name, store, {.threads = options.threads}));
    }
  } else {
    embedders.push_back(
        embed::Embedder::create(options.model, store, {.threads = options.threads}));
  }

  int failures = 0;
  nlohmann::json photos = nlohmann::json::array();
  for (const auto& file : options.inputs) {
    const io::DecodeResult decoded = io::decode_image_file(file);
    if (!decoded.ok()) {
      ++failures;
      std::cerr << "likeness: " << decoded.message << '\n';
      photos.push_back({{"file", file.string()},
                        {"ok", false},
                        {"error", io::to_string(decoded.error)},
                        {"message", decoded.message}});
      continue;
    }
    const Image& image = decoded.value->image;
    const detect::DetectionResult found = detector->detect(image);
    std::vector<std::vector<std::optional<embed::Embedding>>> per_model;
    for (const auto& e : embedders) per_model.push_back(e->embed_batch(image, found.faces));
    nlohmann::json faces = nlohmann::json::array();
    for (std::size_t i = 0; i < found.faces.size(); ++i) {
      const auto& d = found.faces[i];
      nlohmann::json vectors = nlohmann::json::array();
      for (std::size_t m = 0; m < embedders.size(); ++m) {
        const auto& e = per_model[m][i];
        if (!e) continue;
        vectors.push_back(
            {{"model", e->model}, {"dimension", e->values.size()}, {"vector", e->values}});
      }
      faces.push_back({{"box", {d.box.x, d.box.y, d.box.width, d.box.height}},
                       {"score", d.score},
                       {"embeddings", vectors}});
    }
    if (!options.json) {
      std::printf("%s: %zu face(s)", file.string().c_str(), found.faces.size());
      for (const auto& e : embedders)
        std::printf(", %s %d-d", std::string(e->name()).c_str(), e->dimension());
      std::printf("\n");
    }
    photos.push_back({{"file", file.string()}, {"ok", true}, {"faces", faces}});
  }
  if (options.json) {
    std::cout << json_text(nlohmann::json{
                     {"detector", detector->name()}, {"photos", photos}, {"failed", failures}})
              << '\n';
  }
  return failures > 0 ? 1 : 0;
}

}  // namespace

void register_embed_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<EmbedCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "Identity vectors (L2-normalised embeddings) of every face in photos. Vectors of "
      "different models are not comparable. Exit code 1 if a photo cannot be read.");
  cmd->add_option("images", options->inputs, "Photo files (JPEG, PNG, BMP, WEBP)")->required();
  const std::string names = join(embed::Embedder::names());
  cmd->add_option("--model,-m", options->model, "Recognition model: " + names + ", or all")
      ->capture_default_str();
  cmd->add_option("--detector,-d", options->detector, "Detector backend")->capture_default_str();
  cmd->add_option("--threads", options->threads, "Inference threads (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", options->json,
                "Print one JSON document: {detector, failed, photos: [{file, ok, faces: [{box: "
                "[x, y, w, h], score, embeddings: [{model, dimension, vector}]}]} or {file, ok: "
                "false, error, message}]}");
  cmd->callback([options, &global, &exit_code] { exit_code = run_embed(global, *options); });
}

}  // namespace likeness::cli
