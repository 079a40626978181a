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
  // trained on looser crops. alignment_tta (dlib_resnet only) doubles it again.
  if (name == "dlib_resnet") return {.flip_tta = true, .zoom = 1.0f, .alignment_tta = true};
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

namespace {

// Adds the normalised `view` to `sum` (empty: becomes a copy of it).
void add_view(std::vector<float>& sum, std::vector<float> view) {
  l2_normalize(view);
  if (sum.empty()) {
    sum = std::move(view);
    return;
  }
  for (std::size_t j = 0; j < sum.size(); ++j) sum[j] += view[j];
}

// A face's views by kind: the sum over its alignments of the plain views and
// of the mirrored views, each view normalised first so that none dominates.
struct ViewSums {
  std::vector<float> plain, mirrored;
  int alignments = 0;
  // Each kind's sum normalised (a single alignment's view already is).
  void finish() {
    if (alignments > 1) {
      l2_normalize(plain);
      l2_normalize(mirrored);
    }
  }
};

}  // namespace

std::vector<std::optional<Embedding>> Embedder::embed_batch(
    const Image& image, std::span<const detect::Detection> faces) const {
  std::vector<std::optional<Embedding>> out(faces.size());
  std::vector<Image> batch;
  struct Slot {
    std::size_t face;
    bool mirrored;
  };
  std::vector<Slot> slots;  // what each image of the batch is
  std::vector<ViewSums> sums(faces.size());
  for (std::size_t i = 0; i < faces.size(); ++i) {
    std::vector<Image> aligned = crops(image, faces[i]);
    sums[i].alignments = static_cast<int>(aligned.size());
    for (Image& c : aligned) {
      if (flip_tta()) {
        Image mirrored;
        cv::flip(c.rgb, mirrored.rgb, 1);
        batch.push_back(std::move(mirrored));
        slots.push_back({i, true});
      }
      batch.push_back(std::move(c));
      slots.push_back({i, false});
    }
  }
  if (batch.empty()) return out;
  std::vector<std::vector<float>> raw = infer(batch);
  for (std::size_t k = 0; k < raw.size(); ++k) {
    ViewSums& sum = sums[slots[k].face];
    add_view(slots[k].mirrored ? sum.mirrored : sum.plain, std::move(raw[k]));
  }
  for (std::size_t i = 0; i < faces.size(); ++i) {
    if (sums[i].alignments == 0) continue;
    sums[i].finish();
    std::vector<float> values = std::move(sums[i].plain);
    if (!sums[i].mirrored.empty()) {
      for (std::size_t j = 0; j < values.size(); ++j) values[j] += sums[i].mirrored[j];
    }
    l2_normalize(values);
    out[i] = Embedding{std::move(values), std::string(name())};
  }
  return out;
}

std::optional<FaceViews> Embedder::embed_views(const Image& image,
                                               const detect::Detection& face) const {
  std::vector<Image> batch = crops(image, face);
  if (batch.empty()) return std::nullopt;
  const std::size_t alignments = batch.size();
  for (std::size_t k = 0; k < alignments; ++k) {
    Image mirrored;
    cv::flip(batch[k].rgb, mirrored.rgb, 1);
    batch.push_back(std::move(mirrored));
  }
  std::vector<std::vector<float>> raw = infer(batch);
  ViewSums sum;
  sum.alignments = static_cast<int>(alignments);
  for (std::size_t k = 0; k < raw.size(); ++k) {
    add_view(k < alignments ? sum.plain : sum.mirrored, std::move(raw[k]));
  }
  sum.finish();
  return FaceViews{std::move(sum.plain), std::move(sum.mirrored)};
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
