// Face recognition: one identity vector (embedding) per detected face.
//
//   auto store = likeness::infer::ModelStore::open();
//   auto embedder = likeness::embed::Embedder::create("default", store, {});
//   std::optional<Embedding> e = embedder->embed(image, detection);
//   float s = likeness::embed::cosine_similarity(*a, *b);
// Whether s means "same person" is match/'s business (match/recognizer.h:
// calibrated thresholds and the ensemble).
//
// Every embedding is L2-normalised, so cosine similarity is a dot product.
// Vectors of different models are not comparable.
//
// Backends: "dlib_resnet" (dlib ResNet-29, 128-d, dlib's own 150 px chip),
// "faceplugin_feature" (512-d), "mobilefacenet" (192-d), "faceres" (1024-d),
// "mobileface" (256-d). How each is fed (channel order, pixel scaling) comes
// from its manifest entry's "input"; the values there were measured on LFW by
// bench/lfw_bench (see docs/recognition.md).
//
// Errors: an unknown name throws UsageError; a missing or corrupt model file
// throws ModelError from create(); a face that cannot be aligned (no landmarks
// or degenerate landmarks) is an empty optional.
// Thread-safety: embed(), embed_batch() and embed_views() may be called from
// several threads at once.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/core/image.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"

namespace likeness::embed {

struct Embedding {
  std::vector<float> values;  // L2 norm 1; size == Embedder::dimension()
  std::string model;          // the embedder's name()
};

struct EmbedderOptions {
  // Embed the face and its mirror image and use the normalised sum. Empty =
  // the model's measured default (on where it helped on LFW).
  std::optional<bool> flip_tta{};
  // ONNX Runtime intra-op threads (0 = all cores), for every model (dlib's
  // network runs in ONNX Runtime too).
  int threads = 1;
  // Overrides of the manifest's input convention, for measuring alternatives
  // (bench/lfw_bench). Empty = the manifest's value.
  //   channel_order: "RGB" or "BGR"
  //   normalization: "none", "(x - 127.5) / 128", "x / 255", "x / 127.5 - 1"
  std::string channel_order{};
  std::string normalization{};
  // Zoom of the alignment template about the crop centre (< 1 = more context).
  // 0 = the model's measured default. Ignored by dlib_resnet.
  float zoom = 0.0f;
  // Embed the face from two independent alignments and use the normalised
  // sum (each alignment's plain and mirrored views kept apart, as flip_tta
  // sums them). dlib_resnet only: its 5-point model's chip and the chip cut
  // from FacePlugin's 68 landmarks by dlib's 68-point template. The two
  // landmark models err independently, so the sum carries less alignment
  // noise than either chip (LFW: docs/benchmarks.md). Empty = the model's default (on for
  // dlib_resnet); ignored by the other models, which have one alignment.
  std::optional<bool> alignment_tta{};
};

// A face and its mirror image, each embedded and L2-normalised on its own.
struct FaceViews {
  std::vector<float> plain;
  std::vector<float> mirrored;
};

class Embedder {
 public:
  // name: one of names(), or "default" (= default_name()). Throws UsageError
  // for an unknown name or a bad override, ModelError for a missing/corrupt model
  // or a manifest entry whose input convention this code does not know.
  static std::unique_ptr<Embedder> create(std::string_view name, const infer::ModelStore& store,
                                          const EmbedderOptions& options = {});
  // The names create() accepts, "default" excluded, best LFW accuracy first.
  static std::vector<std::string> names();
  // The most accurate single model on LFW (docs/recognition.md).
  static std::string_view default_name();

  virtual ~Embedder() = default;

  virtual std::string_view name() const = 0;
  // Length of every vector this embedder returns.
  virtual int dimension() const = 0;
  // Whether embed() sums the face and its mirror (the resolved option).
  virtual bool flip_tta() const = 0;
  // Whether embed() sums two alignments of the face (the resolved option).
  virtual bool alignment_tta() const { return false; }

  // The face's embedding. Empty when the face cannot be aligned (has_landmarks
  // false, degenerate landmarks, empty image).
  std::optional<Embedding> embed(const Image& image, const detect::Detection& face) const;
  // One result per face, in order; faces go through the network together.
  std::vector<std::optional<Embedding>> embed_batch(const Image& image,
                                                    std::span<const detect::Detection> faces) const;
  // Plain and mirrored embeddings separately (for measuring flip_tta); with
  // alignment_tta each is the normalised sum over the alignments. Empty as
  // embed().
  std::optional<FaceViews> embed_views(const Image& image, const detect::Detection& face) const;

 protected:
  // The aligned crops this model eats (RGB), one per alignment of the face;
  // none when the face cannot be aligned.
  virtual std::vector<Image> crops(const Image& image, const detect::Detection& face) const = 0;
  // Raw network outputs, one vector per crop (not normalised).
  virtual std::vector<std::vector<float>> infer(const std::vector<Image>& crops) const = 0;
};

// Dot product of two L2-normalised vectors, in [-1, 1]. Returns 0 when the
// sizes differ (vectors of different models are not comparable).
float cosine_similarity(std::span<const float> a, std::span<const float> b);
float cosine_similarity(const Embedding& a, const Embedding& b);

// Scales to unit L2 norm in place; leaves an all-zero vector unchanged.
void l2_normalize(std::vector<float>& values);

}  // namespace likeness::embed
