// The ensemble of recognition models: each member model's cosine similarity is
// calibrated to a same-person log-odds (Platt), and the members' log-odds are
// summed with weights that depend on the pair's quality, into one probability.
// learn_calibration() learns every constant from labelled pairs; the result is
// saved as JSON and loaded by the matcher.
//
//   Calibration cal = likeness::match::learn_calibration(models, pairs, labels);
//   std::string saved = cal.to_json().dump(2);   // later: Calibration::from_json(json)
//   EnsembleScore s = cal.score({.similarity = {0.41f, std::nullopt, 0.37f}, .quality = 0.8f});
//   bool same = s.members_used > 0 && s.probability > cal.probability_threshold();
//   std::vector<float> fused = cal.fuse_vectors({vector_a, {}, vector_c});  // one index vector
//
// Conventions: cosines in [-1, 1] (higher = more alike); probabilities in
// [0, 1]; log-odds in nats; quality in [0, 1] (1 = best), values outside are
// clamped. Thresholds accept a pair when the value is strictly greater, as in
// verification.h. Members are always in the calibration's order.
//
// Monotonicity: every Platt slope and every ensemble weight is >= 0, so the
// probability never falls when one member's cosine rises.
//
// Errors: misuse (sizes that do not match the members, non-finite inputs,
// inconsistent learning data) is UsageError; a malformed calibration file is
// likeness::Error naming the field.
// Thread-safety: a Calibration is immutable after construction; every const
// method may be called from several threads at once. Free functions are pure.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/match/calibration.h"

namespace likeness::match {

// What is known about one comparison of two faces, for the ensemble's members in order.
struct PairEvidence {
  // Cosine similarity per member model; nullopt when that model has no vector for
  // one of the faces (not installed, failed to run, face could not be aligned).
  std::vector<std::optional<float>> similarity;
  // Pair quality in [0,1]: the lower of the two faces' overall quality.
  float quality = 1.0f;
};

struct MemberCalibration {
  std::string model;  // recognition model name, e.g. "faceplugin_feature"
  // cosine -> P(same), one weight (the slope, >= 0). A slope of exactly 0
  // marks a member found uninformative on the calibration data.
  LogisticModel platt;
  // Same person when cosine > this: the threshold at the target FAR on the
  // calibration data (the member used alone).
  double cosine_threshold = 0.0;
  // Weight of the member's calibrated log-odds in the ensemble, at pair quality 1 (weight_high)
  // and at pair quality 0 (weight_low); linear in between. Both >= 0.
  double weight_high = 0.0, weight_low = 0.0;
  double fused_vector_weight = 0.0;  // share of this member in the fused vector (shares sum to 1)
  // Length of the member model's embedding, which fixes the layout of fused
  // vectors; 0 = not recorded (fuse_vectors() then needs this member's vector).
  std::size_t dimension = 0;
  // Whether the member's vectors were the sum of the face's and its mirror
  // image's (the embedder must be run the same way); empty = the model's
  // default (JSON field "flip_tta", optional).
  std::optional<bool> flip_tta;
  // Likewise for the embedder's two alignments (JSON field "alignment_tta",
  // optional; see embed::EmbedderOptions::alignment_tta).
  std::optional<bool> alignment_tta;
};

struct EnsembleScore {
  double log_odds = 0.0;
  double probability = 0.0;  // sigmoid(log_odds), in [0,1]
  // Members with a similarity. 0 means "cannot decide": log_odds is then the
  // bias alone (the prior of the calibration data), not evidence about the pair.
  int members_used = 0;
};

class Calibration {
 public:
  // Validates and stores. Throws UsageError naming the problem: no members, an
  // empty or repeated model name, a Platt model without exactly one weight, a
  // negative or non-finite weight or slope, weight_low != weight_high when not
  // quality_adaptive, fused_vector_weight shares not summing to 1 (within
  // 1e-6), far_target or probability_threshold outside [0, 1], a non-finite
  // bias or threshold.
  Calibration(std::vector<MemberCalibration> members, double bias, double far_target,
              double probability_threshold, bool quality_adaptive,
              nlohmann::json provenance = nullptr);

  // Throws likeness::Error naming the problem for malformed JSON, unknown format version, etc.
  // Every field of the layout below is required except "provenance" (default null);
  // unknown fields are ignored.
  //   {"format": 1, "far_target": f, "quality_adaptive": bool, "probability_threshold": p,
  //    "bias": b, "provenance": any, "members": [{"model": name, "platt": LogisticModel json,
  //    "cosine_threshold": t, "weight_high": wh, "weight_low": wl,
  //    "fused_vector_weight": s, "dimension": d}, ...]}
  static Calibration from_json(const nlohmann::json& json);
  // The layout above; from_json(to_json()) reproduces every double bit for bit.
  nlohmann::json to_json() const;

  const std::vector<MemberCalibration>& members() const { return members_; }
  // Index of a member by model name, or nullopt.
  std::optional<std::size_t> member_index(std::string_view model) const;
  double bias() const { return bias_; }              // the ensemble's log-odds with no evidence
  double far_target() const { return far_target_; }  // e.g. 1e-3
  // Ensemble: same person when probability > this (at the FAR target).
  double probability_threshold() const { return probability_threshold_; }
  bool quality_adaptive() const { return quality_adaptive_; }
  // Free-form: command, data, date (stored and written back).
  const nlohmann::json& provenance() const { return provenance_; }

  // c_m(q) = weight_high * q + weight_low * (1 - q), q clamped to [0, 1].
  // Throws UsageError for a member index out of range or a non-finite quality.
  double member_weight(std::size_t member, double quality) const;
  // Member's Platt log-odds of a cosine. Throws as member_probability().
  double member_log_odds(std::size_t member, float cosine) const;
  // P(same) from one member's cosine, in [0, 1]. Throws UsageError for a member
  // index out of range or a non-finite cosine.
  double member_probability(std::size_t member, float cosine) const;

  // The ensemble: z = bias + R * sum_{m available} c_m(q) * logit_m, with logit_m = member m's
  // Platt log-odds of its cosine, c_m(q) as member_weight(), and
  // R = sum_all c_m(q) / sum_available c_m(q) (exactly 1 when all are there), so that a
  // missing model does not pull the score towards "different".
  // When every available member has c_m(q) == 0 (the ensemble learned to ignore
  // them at this quality, usually because the missing members told the same
  // story better), z = the mean of the available members' own Platt log-odds:
  // each is a calibrated answer on its own, and an uninformative member's is
  // the prior. No member available: z = bias, members_used = 0; callers must
  // treat that as "cannot decide". Never NaN.
  // Throws UsageError when pair.similarity.size() != members().size() or a
  // similarity or the quality is not finite.
  EnsembleScore score(const PairEvidence& pair) const;

  // Concatenation of sqrt(fused_vector_weight_m) * v_m over members (L2-normalised per-model
  // vectors in, unit vector out), so that dot(fused_a, fused_b) = sum_m w_m cos_m. A member whose
  // vector is missing (empty span) contributes zeros (its recorded `dimension` of them) and the
  // result is renormalised to unit length; all missing (or all-zero) gives an all-zero vector.
  // Throws UsageError when member_vectors.size() != members().size(), a vector's
  // length differs from its member's recorded dimension, or a missing member has
  // no recorded dimension.
  std::vector<float> fuse_vectors(const std::vector<std::span<const float>>& member_vectors) const;
  // Length of fuse_vectors()' result, or nullopt when a member's dimension is not recorded.
  std::optional<std::size_t> fused_dimension() const;

 private:
  std::vector<MemberCalibration> members_;
  double bias_ = 0.0;
  double far_target_ = 0.0;
  double probability_threshold_ = 0.5;
  bool quality_adaptive_ = true;
  nlohmann::json provenance_;
};

struct LearnOptions {
  double far = 1e-3;  // in [0, 1)
  // false: weight_low == weight_high (fixed weights), learned as one feature per model.
  bool quality_adaptive = true;
  // Used for the Platt fits and the ensemble fit (non_negative_weights forced
  // on for both); its sample_weights, when given, hold one weight per pair.
  LogisticFitOptions fit{};
  // Embedding length per model (recorded as MemberCalibration::dimension), or empty.
  std::vector<std::size_t> dimensions;
  // Mirror setting per model (recorded as MemberCalibration::flip_tta), or empty.
  std::vector<bool> flip_tta;
  // Two-alignment setting per model (MemberCalibration::alignment_tta), or empty.
  std::vector<bool> alignment_tta;
};

// Learns everything from labelled pairs (label 1 = same person):
//  1. per member, a Platt fit (slope >= 0) on its cosines of the pairs where it
//     is present; a member whose fit does not beat the constant model by the
//     BIC (log-likelihood gain <= ln(n) / 2) gets slope 0: uninformative;
//  2. its cosine threshold at `far` on the negatives where it is present;
//  3. the ensemble weights and bias by a logistic regression with non-negative weights on the
//     features [logit_m * q, logit_m * (1-q)] per member (or [logit_m] when not
//     quality_adaptive), on the complete pairs only (every member present) — no missing
//     logit is imputed; score() handles missing members by renormalising. Members with
//     slope 0 get weights 0 (their logit is a constant that would only act as a bias);
//  4. the ensemble's probability threshold at `far` on score() of the learning pairs that
//     have at least one member;
//  5. fused_vector_weight_m proportional to (mean of c_m(q) over all learning pairs) *
//     (Platt slope_m), normalised to sum 1 (so that the fused-vector dot product approximates
//     the ensemble's ranking); equal shares if every product is 0.
// Throws UsageError on inconsistent input: no models, empty or repeated names,
// sizes that do not match, labels not 0/1, non-finite similarity or quality,
// no positive or no negative pair, a member with no similarity at all or with
// similarities of one label only, no complete pair of each label, far outside
// [0, 1), bad fit options.
Calibration learn_calibration(const std::vector<std::string>& models,
                              const std::vector<PairEvidence>& pairs,
                              const std::vector<int>& labels, const LearnOptions& options = {},
                              nlohmann::json provenance = {});

}  // namespace likeness::match
