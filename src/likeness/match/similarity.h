// Similarity of two face embeddings by four metrics, and their fusion into one
// score with a confidence.
//
//   auto a = likeness::match::l2_normalized(raw_a);
//   auto b = likeness::match::l2_normalized(raw_b);
//   FusedSimilarity s = likeness::match::fused_similarity(a, b);
//   s.fused;       // in [0, 1], higher = more alike
//   s.confidence;  // in [0, 1], 1 = the four metrics agree
//
// Inputs are L2-normalised vectors of one model (embed::Embedding::values
// already are); this is not checked, because every pair of a search would pay
// for it. The metrics are not calibrated probabilities: a decision threshold on
// them comes from data (see calibration.h and verification.h).
//
// Unlike embed::cosine_similarity (which answers 0 for vectors of different
// sizes, i.e. of different models), every function here throws UsageError for
// spans of different sizes or empty spans: at this layer such a call is a bug.
//
// Thread-safety: every function is pure and may be called concurrently.
#pragma once

#include <span>
#include <vector>

namespace likeness::match {

// Each metric on its own scale (see the functions below).
struct MetricScores {
  float cosine = 0.0f;       // [-1, 1]
  float euclidean = 0.0f;    // (0, 1]
  float manhattan = 0.0f;    // (0, 1]
  float correlation = 0.0f;  // [-1, 1]
};

// Relative weights of the metrics in the fusion. Any non-negative values with
// a positive sum; they are divided by their sum. The defaults favour cosine,
// the metric the recognition models were trained for.
struct MetricWeights {
  float cosine = 0.45f;
  float euclidean = 0.25f;
  float manhattan = 0.15f;
  float correlation = 0.15f;
};

struct FusedSimilarity {
  MetricScores metrics;
  // Weighted mean of the four metrics each mapped to [0, 1] (cosine and
  // correlation by (1 + x) / 2). In [0, 1].
  float fused = 0.0f;
  // 1 - (max - min) of the four mapped metrics: 1 when they agree, lower when
  // they tell different stories about the pair. In [0, 1].
  float confidence = 0.0f;
};

// Dot product, in [-1, 1] (clamped: float rounding of the normalisation can
// push identical vectors to 1 + 1e-7). 0 when either vector is all zero.
float cosine_similarity(std::span<const float> a, std::span<const float> b);

// 1 / (1 + d), d = L2 distance. For unit vectors d = sqrt(2 - 2 cos), so this
// is a monotone function of cosine with a different curvature: 1 for identical
// vectors, 1 / (1 + sqrt 2) for orthogonal ones, 1/3 for opposite ones.
float euclidean_similarity(std::span<const float> a, std::span<const float> b);

// 1 / (1 + d1 / sqrt(n)), d1 = L1 distance, n = dimension. Raw d1 grows with
// the dimension (up to 2 sqrt(n) for unit vectors), which would squash
// 1 / (1 + d1) towards 0 for 512-d models and make scores of models of
// different sizes incomparable; since d1 <= sqrt(n) * d2, dividing by sqrt(n)
// puts it on the euclidean scale (d1 / sqrt(n) <= d2 <= 2). Unlike d2 it is
// not a function of cosine: it weighs many small differences more than a few
// large ones.
float manhattan_similarity(std::span<const float> a, std::span<const float> b);

// Pearson correlation of the components, in [-1, 1]: cosine of the vectors
// after subtracting each one's mean component. 0 when either vector is
// constant (its correlation is undefined; this includes all-zero vectors).
float pearson_correlation(std::span<const float> a, std::span<const float> b);

// All four metrics.
MetricScores metric_scores(std::span<const float> a, std::span<const float> b);

// Fusion of already computed metrics (see FusedSimilarity). Throws UsageError
// for a negative or non-finite weight or weights that sum to 0.
FusedSimilarity fuse(const MetricScores& metrics, const MetricWeights& weights = {});

// metric_scores() then fuse().
FusedSimilarity fused_similarity(std::span<const float> a, std::span<const float> b,
                                 const MetricWeights& weights = {});

// A copy scaled to unit L2 norm; an all-zero vector stays all zero.
std::vector<float> l2_normalized(std::span<const float> values);

}  // namespace likeness::match
