// Face recognition as the product uses it: every member model of the
// calibration (models/calibration.json) that is installed describes a face,
// and two descriptions are compared by the calibrated,
// quality-adaptive ensemble (match/ensemble.h) into a probability and a
// same-person decision.
//
//   auto store = likeness::infer::ModelStore::open();
//   auto recognizer = likeness::match::Recognizer::create(store, {});
//   auto a = recognizer->describe(image_a, face_a);     // per-model vectors + fused vector
//   auto b = recognizer->describe(image_b, face_b);
//   likeness::match::Comparison c = recognizer->compare(a, b);
//   if (c.same_person) { c.probability; c.members; }
//
// Errors: a member model that is missing or fails to load is skipped (listed
// in skipped(), the fusion renormalises over the rest); one that fails to run
// on a face leaves that face's vector empty (FaceDescription::warnings); create() throws
// ModelError only when no member can be loaded, UsageError for an unknown
// model name. A face that cannot be aligned gives a description without
// vectors; comparing it yields `decided == false`.
// Thread-safety: describe() and compare() may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "likeness/core/image.h"
#include "likeness/detect/detector.h"
#include "likeness/embed/embedder.h"
#include "likeness/infer/model_store.h"
#include "likeness/match/ensemble.h"
#include "likeness/match/similarity.h"
#include "likeness/quality/quality.h"

namespace likeness::match {

struct RecognizerOptions {
  // "ensemble" (every member of the calibration) or one model's name: then
  // that model alone decides, by its own calibration (Platt probability and
  // cosine threshold at the calibration's FAR).
  std::string model = "ensemble";
  // ONNX Runtime threads per model (0 = all cores).
  int threads = 1;
  // The constants; empty = the calibration compiled into the binary
  // (models/calibration.json).
  std::optional<Calibration> calibration{};
  // Faces whose overall quality (the calibration's formula) is below this
  // are kept but not searchable: left out of search results and clustering.
  // 0.1 leaves out the worst ~1% of LFW faces; on LFW no false accept of the
  // ensemble comes from them, on real collections they are the blurred,
  // turned and burnt-out faces that pollute clusters (docs/quality.md).
  float min_quality = 0.1f;
};

// One face as the recognizer sees it.
struct FaceDescription {
  // One entry per member (Recognizer::members() order); empty when that model
  // is not loaded or could not describe this face.
  std::vector<std::vector<float>> member_vectors;
  // Calibration::fuse_vectors of the member vectors: the vector an
  // approximate-nearest-neighbour index stores. Empty when no member worked.
  std::vector<float> fused;
  // The face's quality by the calibration's formula (what the ensemble's
  // weights adapt to).
  quality::QualityMeasures quality;
  // quality.overall >= RecognizerOptions::min_quality.
  bool searchable = false;
  // Members that failed to run on this face ("model: reason"); their vectors
  // are empty and the comparison renormalises over the others.
  std::vector<std::string> warnings;
};

struct MemberComparison {
  std::string model;
  bool compared = false;     // both faces have this model's vector
  float cosine = 0.0f;       // when compared
  double probability = 0.0;  // this model's own calibrated P(same)
  bool same_person = false;  // cosine > the model's threshold at the FAR target
  double cosine_threshold = 0.0;
};

struct Comparison {
  // False when no model could compare the two faces (then probability and
  // same_person mean nothing).
  bool decided = false;
  double probability = 0.0;  // P(same person), calibrated on LFW
  bool same_person = false;  // probability > threshold (chosen at the FAR target)
  double threshold = 0.0;
  float pair_quality = 0.0f;  // the lower of the two faces' quality
  std::vector<MemberComparison> members;
  // The four-metric similarity of the fused vectors (for display; the
  // probability decides, docs/benchmarks.md says why).
  FusedSimilarity fused_similarity;
};

class Recognizer {
 public:
  static std::unique_ptr<Recognizer> create(const infer::ModelStore& store,
                                            const RecognizerOptions& options = {});
  virtual ~Recognizer() = default;

  // Models in use, in member order, and those skipped with the reason.
  virtual const std::vector<std::string>& members() const = 0;
  virtual const std::vector<std::string>& skipped() const = 0;
  virtual const Calibration& calibration() const = 0;
  // RecognizerOptions::min_quality: faces below it are not searchable.
  virtual float min_quality() const = 0;

  virtual FaceDescription describe(const Image& image, const detect::Detection& face) const = 0;
  virtual Comparison compare(const FaceDescription& a, const FaceDescription& b) const = 0;
};

}  // namespace likeness::match
