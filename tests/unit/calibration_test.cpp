// Logistic calibration: recovery of a known model from samples drawn from it,
// stability at extremes, separable data, the non-negativity constraint, and the
// JSON form.
#include "likeness/match/calibration.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "likeness/core/error.h"

namespace likeness::match {
namespace {

struct Samples {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
};

// n samples of two independent features; label ~ Bernoulli(sigmoid(b + w . x)).
// Feature 1 has standard deviation 100, so a weight reported in the wrong
// (standardised) scale would be 100 times off.
Samples draw(std::size_t n, std::array<double, 2> w, double b, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  Samples s;
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<double> x = {normal(rng), 5.0 + 100.0 * normal(rng)};
    s.x.push_back(x);
    s.y.push_back(uniform(rng) < sigmoid(b + w[0] * x[0] + w[1] * x[1]) ? 1 : 0);
  }
  return s;
}

TEST(CalibrationSigmoid, IsStableAtExtremes) {
  EXPECT_EQ(sigmoid(0.0), 0.5);
  EXPECT_EQ(sigmoid(1000.0), 1.0);
  EXPECT_EQ(sigmoid(-1000.0), 0.0);
  EXPECT_NEAR(sigmoid(-40.0) / std::exp(-40.0), 1.0, 1e-12);  // no cancellation in the tail
  EXPECT_NEAR(sigmoid(3.0) + sigmoid(-3.0), 1.0, 1e-15);
  EXPECT_EQ(sigmoid(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(sigmoid(std::numeric_limits<double>::infinity()), 1.0);
}

TEST(CalibrationFit, RecoversAKnownModel) {
  const std::array<double, 2> w = {2.0, -0.015};
  const double b = 0.5;
  const Samples s = draw(20000, w, b, 7);
  const LogisticModel m = fit_logistic(s.x, s.y);
  ASSERT_EQ(m.weights.size(), 2u);
  EXPECT_NEAR(m.weights[0], w[0], 0.1 * std::abs(w[0]));
  EXPECT_NEAR(m.weights[1], w[1], 0.1 * std::abs(w[1]));
  EXPECT_NEAR(m.bias, b, 0.1);
}

TEST(CalibrationFit, PlattProbabilityIsMonotoneAndBounded) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform;
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 0; i < 5000; ++i) {
    const double score = 2.0 * uniform(rng) - 1.0;
    scores.push_back(score);
    labels.push_back(uniform(rng) < sigmoid(8.0 * score - 2.0) ? 1 : 0);
  }
  const LogisticModel m = fit_platt(scores, labels);
  ASSERT_EQ(m.weights.size(), 1u);
  EXPECT_NEAR(m.weights[0], 8.0, 0.8);
  EXPECT_NEAR(m.bias, -2.0, 0.3);
  double previous = -1.0;
  for (double x = -1.0; x <= 1.0; x += 0.01) {
    const double p = m.probability(std::array{x});
    EXPECT_GT(p, previous) << x;
    previous = p;
  }
  EXPECT_EQ(m.probability(std::array{-1e6}), 0.0);
  EXPECT_EQ(m.probability(std::array{1e6}), 1.0);
  EXPECT_THROW(m.log_odds(std::array{1.0, 2.0}), UsageError);
}

TEST(CalibrationFit, SeparableDataGivesFiniteWeights) {
  std::vector<double> scores;
  std::vector<int> labels;
  for (int i = 1; i <= 50; ++i) {
    scores.push_back(0.01 * i);
    labels.push_back(1);
    scores.push_back(-0.01 * i);
    labels.push_back(0);
  }
  const LogisticModel m = fit_platt(scores, labels);
  ASSERT_TRUE(std::isfinite(m.weights[0]));
  ASSERT_TRUE(std::isfinite(m.bias));
  EXPECT_GT(m.weights[0], 20.0);  // steep, as the data asks
  EXPECT_GT(m.probability(std::array{0.1}), 0.99);
  EXPECT_LT(m.probability(std::array{-0.1}), 0.01);
  // Converged to the penalised optimum, not stopped by the iteration cap.
  LogisticFitOptions longer;
  longer.max_iterations = 1000;
  EXPECT_NEAR(fit_platt(scores, labels, longer).weights[0], m.weights[0], 1e-6);
  // A stronger penalty keeps the weight smaller.
  LogisticFitOptions stronger;
  stronger.l2 = 1e-2;
  EXPECT_LT(fit_platt(scores, labels, stronger).weights[0], m.weights[0]);
}

TEST(CalibrationFit, NonNegativeWeightsFixAnAntiCorrelatedFeatureAtZero) {
  // Feature 1 lowers the odds of "same": unconstrained it gets a negative weight.
  const Samples s = draw(5000, {1.5, -0.01}, 0.0, 3);
  ASSERT_LT(fit_logistic(s.x, s.y).weights[1], 0.0);
  LogisticFitOptions non_negative;
  non_negative.non_negative_weights = true;
  const LogisticModel m = fit_logistic(s.x, s.y, non_negative);
  EXPECT_EQ(m.weights[1], 0.0);
  EXPECT_GT(m.weights[0], 0.0);
  // With feature 1 at 0 the optimum is the fit of feature 0 alone.
  std::vector<std::vector<double>> first;
  for (const auto& row : s.x) first.push_back({row[0]});
  const LogisticModel alone = fit_logistic(first, s.y);
  EXPECT_NEAR(m.weights[0], alone.weights[0], 1e-6);
  EXPECT_NEAR(m.bias, alone.bias, 1e-6);
}

TEST(CalibrationFit, SampleWeightsActAsRepetition) {
  const Samples s = draw(400, {1.0, 0.01}, -0.5, 5);
  Samples repeated = s;
  std::vector<double> weights;
  for (std::size_t i = 0; i < s.x.size(); ++i) {
    weights.push_back(i % 3 == 0 ? 2.0 : 1.0);
    if (i % 3 == 0) {
      repeated.x.push_back(s.x[i]);
      repeated.y.push_back(s.y[i]);
    }
  }
  LogisticFitOptions weighted;
  weighted.sample_weights = weights;
  const LogisticModel a = fit_logistic(s.x, s.y, weighted);
  const LogisticModel b = fit_logistic(repeated.x, repeated.y);
  EXPECT_NEAR(a.weights[0], b.weights[0], 1e-8);
  EXPECT_NEAR(a.weights[1], b.weights[1], 1e-8);
  EXPECT_NEAR(a.bias, b.bias, 1e-8);
}

TEST(CalibrationFit, ConstantFeatureGetsZeroWeight) {
  Samples s = draw(1000, {1.0, 0.0}, 0.0, 9);
  for (auto& row : s.x) row[1] = 0.1;
  const LogisticModel m = fit_logistic(s.x, s.y);
  EXPECT_EQ(m.weights[1], 0.0);
  EXPECT_GT(m.weights[0], 0.5);
}

TEST(CalibrationFit, RejectsBadInput) {
  const std::vector<std::vector<double>> x = {{0.1}, {0.2}, {0.3}};
  EXPECT_THROW(fit_logistic(x, {0, 1}), UsageError);
  EXPECT_THROW(fit_logistic(x, {0, 1, 2}), UsageError);
  EXPECT_THROW(fit_logistic(x, {1, 1, 1}), UsageError);  // one class: infinite bias
  EXPECT_THROW(fit_logistic({{0.1}, {0.2, 0.3}}, {0, 1}), UsageError);
  EXPECT_THROW(fit_logistic({}, {}), UsageError);
  LogisticFitOptions bad;
  bad.l2 = -1.0;
  EXPECT_THROW(fit_logistic(x, {0, 1, 1}, bad), UsageError);
  bad = {};
  bad.sample_weights = {1.0, -1.0, 1.0};
  EXPECT_THROW(fit_logistic(x, {0, 1, 1}, bad), UsageError);
  bad = {};
  bad.sample_weights = {1.0, 1.0};
  EXPECT_THROW(fit_logistic(x, {0, 1, 1}, bad), UsageError);
}

TEST(CalibrationModel, JsonRoundTripIsExact) {
  const LogisticModel m{{1.25, -3.0e-7, 0.1}, -0.3};
  const LogisticModel back = LogisticModel::from_json(nlohmann::json::parse(m.to_json().dump()));
  EXPECT_EQ(back.weights, m.weights);
  EXPECT_EQ(back.bias, m.bias);
}

TEST(CalibrationModel, FromJsonRejectsMalformedInput) {
  using nlohmann::json;
  EXPECT_THROW(LogisticModel::from_json(json::array()), Error);
  EXPECT_THROW(LogisticModel::from_json(json{{"weights", json::array({1.0})}}), Error);
  EXPECT_THROW(LogisticModel::from_json(json{{"weights", 1.0}, {"bias", 0.0}}), Error);
  EXPECT_THROW(LogisticModel::from_json(json{{"weights", json::array({1.0, "x"})}, {"bias", 0.0}}),
               Error);
  EXPECT_THROW(LogisticModel::from_json(json{{"weights", json::array({1.0})}, {"bias", "0"}}),
               Error);
  EXPECT_NO_THROW(LogisticModel::from_json(json{{"weights", json::array()}, {"bias", 0.0}}));
}

}  // namespace
}  // namespace likeness::match
