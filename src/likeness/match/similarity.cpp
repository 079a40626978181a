#include "likeness/match/similarity.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>

#include "likeness/core/error.h"
#include "likeness/embed/embedder.h"

namespace likeness::match {
namespace {

void require_comparable(std::span<const float> a, std::span<const float> b) {
  if (a.empty() || a.size() != b.size()) {
    throw UsageError("similarity of vectors of sizes " + std::to_string(a.size()) + " and " +
                     std::to_string(b.size()) +
                     ": expected two non-empty vectors of one size (one model)");
  }
}

double mean(std::span<const float> v) {
  double sum = 0.0;
  for (float x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// [-1, 1] -> [0, 1]; clamped so that rounding cannot leave the range.
float to_unit(float x) { return std::clamp((1.0f + x) / 2.0f, 0.0f, 1.0f); }

void require_weight(float w, const char* name) {
  if (!(w >= 0.0f) || !std::isfinite(w)) {
    throw UsageError(std::string("metric weight ") + name + " = " + std::to_string(w) +
                     ": expected a finite value >= 0");
  }
}

}  // namespace

float cosine_similarity(std::span<const float> a, std::span<const float> b) {
  require_comparable(a, b);
  return std::clamp(embed::cosine_similarity(a, b), -1.0f, 1.0f);
}

float euclidean_similarity(std::span<const float> a, std::span<const float> b) {
  require_comparable(a, b);
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return static_cast<float>(1.0 / (1.0 + std::sqrt(sum)));
}

float manhattan_similarity(std::span<const float> a, std::span<const float> b) {
  require_comparable(a, b);
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(static_cast<double>(a[i]) - b[i]);
  return static_cast<float>(1.0 / (1.0 + sum / std::sqrt(static_cast<double>(a.size()))));
}

float pearson_correlation(std::span<const float> a, std::span<const float> b) {
  require_comparable(a, b);
  const double mean_a = mean(a), mean_b = mean(b);
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double da = a[i] - mean_a, db = b[i] - mean_b;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  if (!(aa > 0.0 && bb > 0.0)) return 0.0f;
  return std::clamp(static_cast<float>(ab / std::sqrt(aa * bb)), -1.0f, 1.0f);
}

MetricScores metric_scores(std::span<const float> a, std::span<const float> b) {
  return {cosine_similarity(a, b), euclidean_similarity(a, b), manhattan_similarity(a, b),
          pearson_correlation(a, b)};
}

FusedSimilarity fuse(const MetricScores& metrics, const MetricWeights& weights) {
  require_weight(weights.cosine, "cosine");
  require_weight(weights.euclidean, "euclidean");
  require_weight(weights.manhattan, "manhattan");
  require_weight(weights.correlation, "correlation");
  // In double: four float weights can sum to 0 only if all are 0.
  const double total = static_cast<double>(weights.cosine) + weights.euclidean + weights.manhattan +
                       weights.correlation;
  if (!(total > 0.0)) throw UsageError("metric weights are all 0: expected a positive sum");

  const float cosine = to_unit(metrics.cosine), correlation = to_unit(metrics.correlation);
  const double weighted = static_cast<double>(weights.cosine) * cosine +
                          static_cast<double>(weights.euclidean) * metrics.euclidean +
                          static_cast<double>(weights.manhattan) * metrics.manhattan +
                          static_cast<double>(weights.correlation) * correlation;
  const auto [lo, hi] = std::minmax({cosine, metrics.euclidean, metrics.manhattan, correlation});
  return {metrics, static_cast<float>(weighted / total), 1.0f - (hi - lo)};
}

FusedSimilarity fused_similarity(std::span<const float> a, std::span<const float> b,
                                 const MetricWeights& weights) {
  return fuse(metric_scores(a, b), weights);
}

std::vector<float> l2_normalized(std::span<const float> values) {
  std::vector<float> out(values.begin(), values.end());
  embed::l2_normalize(out);
  return out;
}

}  // namespace likeness::match
