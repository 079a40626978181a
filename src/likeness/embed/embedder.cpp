#include "likeness/embed/embedder.h"

#include <cmath>
#include <opencv2/core.hpp>

#include "likeness/core/error.h"
#include "likeness/embed/backends.h"

namespace likeness::embed {

namespace internal {

ModelDefaults defaults_for(std::string_view name) {
  // flip_tta is on only where summing with the mirror image raised LFW accuracy
  // (docs/recognition.md): it doubles the cost. zoom < 1 where the model was
  // trained on looser crops.
  if (name == "dlib_resnet") return {.flip_tta = true, .zoom = 1.0f};
  if (name == "faceplugin_feature") return {.flip_tta = false, .zoom = 1.0f};
  if (name == "mobilefacenet") return {.flip_tta = false, .zoom = 1.0f};
  if (name == "faceres") return {.flip_tta = true, .zoom = 0.8f};
  if (name == "mobileface") return {.flip_tta = false, .zoom = 1.0f};
  return {};
}

}  // namespace internal

std::vector<std::string> Embedder::names() {
  return {"faceplugin_feature", "dlib_resnet", "mobilefacenet", "faceres", "mobileface"};
}

std::string_view Embedder::default_name() { return "faceplugin_feature"; }

std::unique_ptr<Embedder> Embedder::create(std::string_view name, const infer::ModelStore& store,
                                           const EmbedderOptions& options) {
  if (name == "default") name = default_name();
  if (options.threads < 0 || options.zoom < 0.0f) {
    throw UsageError("bad embedder options: need threads >= 0 and zoom >= 0");
  }
  if (name == "dlib_resnet") return internal::make_dlib_embedder(store, options);
  if (name == "faceplugin_feature" || name == "mobilefacenet" || name == "faceres" ||
      name == "mobileface") {
    return internal::make_onnx_embedder(name, store, options);
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown recognition model '" + std::string(name) + "' (known: " + known +
                   ", default)");
}

std::optional<Embedding> Embedder::embed(const Image& image, const detect::Detection& face) const {
  auto out = embed_batch(image, std::span<const detect::Detection>(&face, 1));
  return std::move(out.front());
}

std::vector<std::optional<Embedding>> Embedder::embed_batch(
    const Image& image, std::span<const detect::Detection> faces) const {
  std::vector<std::optional<Embedding>> out(faces.size());
  std::vector<Image> crops;
  std::vector<std::size_t> owner;  // index into faces of each crop
  for (std::size_t i = 0; i < faces.size(); ++i) {
    std::optional<Image> c = crop(image, faces[i]);
    if (!c) continue;
    if (flip_tta()) {
      Image mirrored;
      cv::flip(c->rgb, mirrored.rgb, 1);
      crops.push_back(std::move(mirrored));
      owner.push_back(i);
    }
    crops.push_back(std::move(*c));
    owner.push_back(i);
  }
  if (crops.empty()) return out;
  std::vector<std::vector<float>> raw = infer(crops);
  for (std::size_t k = 0; k < raw.size(); ++k) {
    // Each view is normalised before summing so that neither dominates.
    l2_normalize(raw[k]);
    auto& slot = out[owner[k]];
    if (!slot) {
      slot = Embedding{std::move(raw[k]), std::string(name())};
    } else {
      for (std::size_t j = 0; j < slot->values.size(); ++j) slot->values[j] += raw[k][j];
    }
  }
  for (auto& slot : out) {
    if (slot) l2_normalize(slot->values);
  }
  return out;
}

std::optional<FaceViews> Embedder::embed_views(const Image& image,
                                               const detect::Detection& face) const {
  std::optional<Image> c = crop(image, face);
  if (!c) return std::nullopt;
  Image mirrored;
  cv::flip(c->rgb, mirrored.rgb, 1);
  std::vector<std::vector<float>> raw = infer({*c, mirrored});
  l2_normalize(raw[0]);
  l2_normalize(raw[1]);
  return FaceViews{std::move(raw[0]), std::move(raw[1])};
}

void l2_normalize(std::vector<float>& values) {
  double sum = 0.0;
  for (float v : values) sum += static_cast<double>(v) * v;
  if (!(sum > 0.0)) return;
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& v : values) v *= inv;
}

float cosine_similarity(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return 0.0f;
  double dot = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) dot += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(dot);
}

float cosine_similarity(const Embedding& a, const Embedding& b) {
  if (a.model != b.model) return 0.0f;
  return cosine_similarity(std::span<const float>(a.values), std::span<const float>(b.values));
}

}  // namespace likeness::embed
