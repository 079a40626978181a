// Logistic calibration: turns similarity scores (one or several per pair)
// into the probability that a pair shows the same person.
//
//   LogisticModel m = likeness::match::fit_platt(scores, labels);   // 1 feature
//   double p = m.probability(std::array{0.42});
//   std::string saved = m.to_json().dump();
//
// Fitting is Newton's method (IRLS) with a backtracking line search on the
// L2-penalised mean log loss. Features are standardised internally (zero mean,
// unit variance) so that scores of very different scales (a cosine and a
// distance in pixels) are equally well conditioned and the penalty treats
// them alike; the model is reported in the original feature scale.
//
// Thread-safety: every function is pure and may be called concurrently; a
// LogisticModel may be read from several threads at once.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <vector>

namespace likeness::match {

// 1 / (1 + exp(-x)) without overflow: exactly 0 or 1 for |x| beyond ~745,
// never NaN for finite or infinite x.
double sigmoid(double x);

struct LogisticModel {
  std::vector<double> weights;  // one per feature, original feature units
  double bias = 0.0;

  // bias + weights . x. Throws UsageError when x.size() != weights.size().
  double log_odds(std::span<const double> x) const;
  // sigmoid(log_odds(x)), in [0, 1]. Throws as log_odds().
  double probability(std::span<const double> x) const;

  // {"weights": [...], "bias": b}. Doubles round-trip exactly.
  nlohmann::json to_json() const;
  // Throws likeness::Error naming what is wrong (not an object, missing or
  // non-numeric "weights"/"bias", non-finite values). Usually the JSON comes
  // from a file, so this is not a UsageError.
  static LogisticModel from_json(const nlohmann::json& json);
};

struct LogisticFitOptions {
  // Strength of the L2 penalty (l2 / 2) * |w|^2 on the standardised weights,
  // added to the mean (sample-weighted) log loss; the bias is not penalised.
  // Keeps the fit finite on perfectly separable data. 0 = plain maximum
  // likelihood (separable data then diverges until max_iterations).
  double l2 = 1e-4;
  // Newton steps at most (per active-set round, see non_negative_weights).
  int max_iterations = 100;
  // Stop when half the squared Newton decrement (the predicted decrease of the
  // objective still to be had) falls below this.
  double tolerance = 1e-10;
  // Constrain every weight to >= 0 (the probability then never falls when a
  // similarity rises): a feature whose weight would be negative is fixed at
  // exactly 0 and the rest refitted, until no weight is negative and no fixed
  // feature would lower the objective if freed.
  bool non_negative_weights = false;
  // One weight >= 0 per sample (e.g. to balance classes); empty = all 1.
  std::vector<double> sample_weights;
};

// Fits P(label = 1 | x) = sigmoid(bias + w . x).
// features: one row per sample, all rows of one length d >= 0; labels: 0 or 1,
// one per sample. A feature that is constant over the samples gets weight 0.
// Throws UsageError for empty input, mismatched sizes, labels other than 0/1,
// non-finite features, bad options, or when one class has no (weighted)
// samples (the bias would be infinite). Not converging within max_iterations is
// not an error: the last iterate is returned.
LogisticModel fit_logistic(const std::vector<std::vector<double>>& features,
                           const std::vector<int>& labels, const LogisticFitOptions& options = {});

// Platt scaling: fit_logistic with the score as the single feature.
LogisticModel fit_platt(std::span<const double> scores, std::span<const int> labels,
                        const LogisticFitOptions& options = {});

}  // namespace likeness::match
