// The four similarity metrics on vectors whose answers are known by hand, and
// their fusion.
#include "likeness/match/similarity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "likeness/core/error.h"

namespace likeness::match {
namespace {

// Two unit vectors: a . b = 0.48; a - b = (0.6, 0.2, -0.8); centred components
// (2, 5, -7) / 15 and (-7, 2, 5) / 15, so correlation = -39 / 78 = -0.5.
const std::vector<float> kA = {0.6f, 0.8f, 0.0f};
const std::vector<float> kB = {0.0f, 0.6f, 0.8f};

TEST(SimilarityMetrics, IdenticalVectorsScoreOneEverywhere) {
  const auto a = l2_normalized(std::vector<float>{1, 2, 3, 4});
  const FusedSimilarity s = fused_similarity(a, a);
  EXPECT_FLOAT_EQ(s.metrics.cosine, 1.0f);
  EXPECT_FLOAT_EQ(s.metrics.euclidean, 1.0f);
  EXPECT_FLOAT_EQ(s.metrics.manhattan, 1.0f);
  EXPECT_FLOAT_EQ(s.metrics.correlation, 1.0f);
  EXPECT_FLOAT_EQ(s.fused, 1.0f);
  EXPECT_FLOAT_EQ(s.confidence, 1.0f);
}

TEST(SimilarityMetrics, OppositeVectors) {
  const auto a = l2_normalized(std::vector<float>{1, 2, 3, 4});
  std::vector<float> b(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) b[i] = -a[i];
  const MetricScores m = metric_scores(a, b);
  EXPECT_FLOAT_EQ(m.cosine, -1.0f);
  EXPECT_FLOAT_EQ(m.euclidean, 1.0f / 3.0f);  // distance 2
  EXPECT_FLOAT_EQ(m.correlation, -1.0f);
}

TEST(SimilarityMetrics, OrthogonalVectors) {
  const std::vector<float> a = {1, 0, 0, 0}, b = {0, 1, 0, 0};
  const MetricScores m = metric_scores(a, b);
  EXPECT_FLOAT_EQ(m.cosine, 0.0f);
  EXPECT_FLOAT_EQ(m.euclidean, static_cast<float>(1.0 / (1.0 + std::sqrt(2.0))));
  // d1 = 2, n = 4: 1 / (1 + 2 / 2).
  EXPECT_FLOAT_EQ(m.manhattan, 0.5f);
  // Centred: (3, -1, -1, -1) / 4 and (-1, 3, -1, -1) / 4: -4 / 12.
  EXPECT_FLOAT_EQ(m.correlation, -1.0f / 3.0f);
}

TEST(SimilarityMetrics, HandComputedExample) {
  const MetricScores m = metric_scores(kA, kB);
  EXPECT_NEAR(m.cosine, 0.48f, 1e-6);
  EXPECT_NEAR(m.euclidean, 1.0 / (1.0 + std::sqrt(1.04)), 1e-6);
  EXPECT_NEAR(m.manhattan, 1.0 / (1.0 + 1.6 / std::sqrt(3.0)), 1e-6);
  EXPECT_NEAR(m.correlation, -0.5f, 1e-6);
}

TEST(SimilarityMetrics, ManhattanEqualsEuclideanWhenAllDifferencesAreEqual) {
  // |a - b| = (1, 1): d1 = 2 = sqrt(2) * d2, the bound the sqrt(n) scaling is
  // built on, so both metrics agree.
  const std::vector<float> a = {1, 0}, b = {0, 1};
  EXPECT_FLOAT_EQ(manhattan_similarity(a, b), euclidean_similarity(a, b));
}

TEST(SimilarityMetrics, ZeroVectorsGiveZeroNotNaN) {
  const std::vector<float> zero(4, 0.0f), a = {1, 0, 0, 0};
  const FusedSimilarity s = fused_similarity(zero, a);
  EXPECT_EQ(s.metrics.cosine, 0.0f);
  EXPECT_EQ(s.metrics.correlation, 0.0f);
  EXPECT_FLOAT_EQ(s.metrics.euclidean, 0.5f);  // distance 1
  EXPECT_FALSE(std::isnan(s.fused));
  EXPECT_FALSE(std::isnan(s.confidence));
  EXPECT_EQ(pearson_correlation(zero, zero), 0.0f);
  EXPECT_EQ(l2_normalized(zero), zero);
}

TEST(SimilarityMetrics, MismatchedOrEmptyVectorsThrow) {
  const std::vector<float> a = {1, 0, 0}, b = {1, 0}, empty;
  EXPECT_THROW(cosine_similarity(a, b), UsageError);
  EXPECT_THROW(euclidean_similarity(a, b), UsageError);
  EXPECT_THROW(manhattan_similarity(a, b), UsageError);
  EXPECT_THROW(pearson_correlation(a, b), UsageError);
  EXPECT_THROW(fused_similarity(empty, empty), UsageError);
}

TEST(SimilarityFusion, DefaultWeightsGiveTheHandComputedMean) {
  const FusedSimilarity s = fused_similarity(kA, kB);
  const double cosine = (1 + 0.48) / 2, correlation = (1 - 0.5) / 2;
  const double euclidean = 1.0 / (1.0 + std::sqrt(1.04));
  const double manhattan = 1.0 / (1.0 + 1.6 / std::sqrt(3.0));
  EXPECT_NEAR(s.fused, 0.45 * cosine + 0.25 * euclidean + 0.15 * manhattan + 0.15 * correlation,
              1e-6);
  EXPECT_NEAR(s.confidence, 1.0 - (cosine - correlation), 1e-6);  // 1 - (0.74 - 0.25)
}

TEST(SimilarityFusion, WeightsAreRenormalised) {
  const MetricScores m = metric_scores(kA, kB);
  const float fused = fuse(m).fused;
  EXPECT_NEAR(fuse(m, {0.9f, 0.5f, 0.3f, 0.3f}).fused, fused, 1e-6);  // twice the defaults
  EXPECT_NEAR(fuse(m, {3.0f, 0.0f, 0.0f, 0.0f}).fused, (1 + 0.48) / 2, 1e-6);
  EXPECT_NEAR(fuse(m, {0.0f, 0.0f, 0.0f, 7.0f}).fused, 0.25, 1e-6);
}

TEST(SimilarityFusion, RejectsNegativeOrAllZeroWeights) {
  const MetricScores m = metric_scores(kA, kB);
  EXPECT_THROW(fuse(m, {0.5f, -0.1f, 0.3f, 0.3f}), UsageError);
  EXPECT_THROW(fuse(m, {0.0f, 0.0f, 0.0f, 0.0f}), UsageError);
  EXPECT_THROW(fuse(m, {std::numeric_limits<float>::quiet_NaN(), 0.25f, 0.15f, 0.15f}), UsageError);
}

TEST(SimilarityMetrics, L2NormalizedHasUnitNorm) {
  const auto v = l2_normalized(std::vector<float>{3, 4});
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
}

}  // namespace
}  // namespace likeness::match
