// Verification statistics on small score lists whose answers are known by hand.
#include "likeness/match/verification.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "likeness/core/error.h"

namespace likeness::match {
namespace {

TEST(VerificationAuc, KnownCases) {
  const std::vector<double> low = {0, 1, 2}, high = {3, 4, 5};
  EXPECT_DOUBLE_EQ(roc_auc(high, low), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc(low, high), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{1, 1}, std::vector<double>{1, 1, 1}), 0.5);
  // (2 vs 1) win, (2 vs 2) tie, (3 vs 1) win, (3 vs 2) win: 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{2, 3}, std::vector<double>{1, 2}), 0.875);
  EXPECT_THROW(roc_auc(std::vector<double>{}, low), UsageError);
}

TEST(VerificationFar, ThresholdAcceptsAtMostTheAllowedNegatives) {
  std::vector<double> neg;
  for (int i = 999; i >= 0; --i) neg.push_back(i / 1000.0);  // 0.000 .. 0.999, any order
  // floor(0.01 * 1000) = 10 may pass: the 11th highest, 0.989, is the threshold.
  FarThreshold t = threshold_at_far(neg, 0.01);
  EXPECT_DOUBLE_EQ(t.threshold, 0.989);
  EXPECT_EQ(t.accepted, 10u);
  EXPECT_DOUBLE_EQ(t.far, 0.01);
  EXPECT_DOUBLE_EQ(threshold_at_far(neg, 0.0109).threshold, 0.989);  // still floor = 10
  t = threshold_at_far(neg, 0.0);
  EXPECT_DOUBLE_EQ(t.threshold, 0.999);
  EXPECT_EQ(t.accepted, 0u);
  t = threshold_at_far(neg, 1.0);
  EXPECT_EQ(t.threshold, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(t.accepted, 1000u);
  // 0.29 * 100 is 28.999999999999996 in doubles; it still allows 29.
  std::vector<double> hundred;
  for (int i = 0; i < 100; ++i) hundred.push_back(i);
  EXPECT_EQ(threshold_at_far(hundred, 0.29).accepted, 29u);
  EXPECT_THROW(threshold_at_far(neg, 1.5), UsageError);
}

TEST(VerificationFar, TiesAtTheThresholdAreRejected) {
  // Two may pass, but the three highest tie: accepting any means accepting all.
  const FarThreshold t = threshold_at_far(std::vector<double>{5, 5, 5, 1}, 0.5);
  EXPECT_DOUBLE_EQ(t.threshold, 5.0);
  EXPECT_EQ(t.accepted, 0u);
  EXPECT_DOUBLE_EQ(t.far, 0.0);
}

TEST(VerificationFar, TarAtFar) {
  // Ten negatives 0.0 .. 0.9; FAR 0.1 lets one pass: threshold 0.8 (strict).
  std::vector<double> neg;
  for (int i = 0; i < 10; ++i) neg.push_back(i / 10.0);
  const std::vector<double> pos = {0.5, 0.8, 0.81, 0.95, 1.2};
  EXPECT_DOUBLE_EQ(tar_at_far(pos, neg, 0.1), 3.0 / 5.0);  // 0.8 itself is rejected
  EXPECT_DOUBLE_EQ(tar_at_far(pos, neg, 0.0), 2.0 / 5.0);  // threshold 0.9
  EXPECT_DOUBLE_EQ(tar_at_far(pos, neg, 1.0), 1.0);
}

TEST(VerificationAccuracy, BestThresholdIsTheMidpointOfTheBestGap) {
  const std::vector<double> s = {0.1, 0.4, 0.2, 0.3, 0.9};
  const std::vector<int> same = {0, 1, 0, 1, 0};
  // Best: accept >= 0.25 (one error, the 0.9 negative): 4 / 5.
  const AccuracyThreshold best = best_accuracy_threshold(s, same);
  EXPECT_DOUBLE_EQ(best.threshold, 0.25);
  EXPECT_DOUBLE_EQ(best.accuracy, 0.8);
  EXPECT_DOUBLE_EQ(accuracy_at(s, same, best.threshold), 0.8);
  EXPECT_DOUBLE_EQ(accuracy_at(s, same, 0.3), 0.8);  // score == threshold is accepted
  EXPECT_DOUBLE_EQ(accuracy_at(s, same, 0.31), 0.6);
  // All positive: a threshold below everything accepts all.
  const AccuracyThreshold all =
      best_accuracy_threshold(std::vector<double>{2, 1}, std::vector{1, 1});
  EXPECT_LT(all.threshold, 1.0);
  EXPECT_DOUBLE_EQ(all.accuracy, 1.0);
  EXPECT_THROW(best_accuracy_threshold(s, std::vector{0, 1}), UsageError);
  EXPECT_THROW(accuracy_at(s, std::vector{0, 1, 0, 2, 0}, 0.5), UsageError);
}

TEST(VerificationAccuracy, TiedScoresMoveTogether) {
  // A threshold cannot split the two 0.5s: best is 2 of 3 (below the 0.5s).
  const AccuracyThreshold best =
      best_accuracy_threshold(std::vector<double>{0.5, 0.5, 0.1}, std::vector{1, 0, 0});
  EXPECT_DOUBLE_EQ(best.threshold, 0.3);
  EXPECT_NEAR(best.accuracy, 2.0 / 3.0, 1e-12);
}

// Ten folds of pos {0.7, 0.8}, neg {0.2, 0.3}, except fold 0: pos {0.45, 0.8},
// neg {0.2, 0.35}.
//  - Testing fold 0, the other folds give threshold (0.3 + 0.7) / 2 = 0.5, which
//    rejects fold 0's 0.45 positive: accuracy 3/4.
//  - Testing any other fold, the training set includes fold 0 and is still
//    separable: threshold (0.35 + 0.45) / 2 = 0.4, accuracy 1.
// A threshold chosen with the test fold included would give fold 0 accuracy 1.
TEST(VerificationTenFold, ThresholdComesFromTheOtherFolds) {
  std::vector<double> scores;
  std::vector<int> labels, folds;
  for (int f = 0; f < 10; ++f) {
    const double p = f == 0 ? 0.45 : 0.7, n = f == 0 ? 0.35 : 0.3;
    for (auto [s, l] : {std::pair{p, 1}, {0.8, 1}, {0.2, 0}, {n, 0}}) {
      scores.push_back(s);
      labels.push_back(l);
      folds.push_back(f);
    }
  }
  const TenFoldResult r = ten_fold_accuracy(scores, labels, folds);
  ASSERT_EQ(r.fold_accuracies.size(), 10u);
  EXPECT_DOUBLE_EQ(r.fold_accuracies[0], 0.75);
  for (int f = 1; f < 10; ++f) EXPECT_DOUBLE_EQ(r.fold_accuracies[f], 1.0) << f;
  EXPECT_NEAR(r.fold_thresholds[0], 0.5, 1e-12);
  EXPECT_NEAR(r.fold_thresholds[1], 0.4, 1e-12);
  EXPECT_NEAR(r.accuracy_mean, 0.975, 1e-12);
  // Population std: sqrt((9 * 0.025^2 + 0.225^2) / 10) = 0.075 (sample std would be 0.0791).
  EXPECT_NEAR(r.accuracy_std, 0.075, 1e-12);
  EXPECT_NEAR(r.threshold_mean, (0.5 + 9 * 0.4) / 10, 1e-12);
}

TEST(VerificationTenFold, SingleFoldTrainsOnItselfAndBadFoldsThrow) {
  const std::vector<double> s = {0.1, 0.2, 0.3, 0.4};
  const std::vector<int> same = {0, 0, 1, 1};
  const TenFoldResult r = ten_fold_accuracy(s, same, std::vector{0, 0, 0, 0});
  ASSERT_EQ(r.fold_accuracies.size(), 1u);
  EXPECT_DOUBLE_EQ(r.accuracy_mean, 1.0);
  EXPECT_DOUBLE_EQ(r.accuracy_std, 0.0);
  EXPECT_DOUBLE_EQ(r.threshold_mean, 0.25);
  EXPECT_THROW(ten_fold_accuracy(s, same, std::vector{0, -1, 0, 0}), UsageError);
  EXPECT_THROW(ten_fold_accuracy(s, same, std::vector{0, 0}), UsageError);
}

TEST(VerificationSplit, GroupsByLabelInOrder) {
  const ScoreSplit split =
      split_by_label(std::vector<double>{0.1, 0.9, 0.2, 0.8}, std::vector{0, 1, 0, 1});
  EXPECT_EQ(split.positive, (std::vector<double>{0.9, 0.8}));
  EXPECT_EQ(split.negative, (std::vector<double>{0.1, 0.2}));
  EXPECT_THROW(
      split_by_label(std::vector<double>{std::numeric_limits<double>::quiet_NaN()}, std::vector{0}),
      UsageError);
}

}  // namespace
}  // namespace likeness::match
