// Statistics of face verification: how well scores of pairs separate "same
// person" from "different people" (LFW's protocol and the usual ROC figures).
//
//   auto r = likeness::match::ten_fold_accuracy(scores, labels, folds);
//   auto [pos, neg] = likeness::match::split_by_label(scores, labels);
//   double tar = likeness::match::tar_at_far(pos, neg, 1e-3);
//   double auc = likeness::match::roc_auc(pos, neg);
//
// Scores: higher = more alike, any finite scale. Labels: 1 = same person,
// 0 = different people.
//
// Two acceptance conventions, both those of bench/lfw_bench and of the usual
// LFW evaluation code:
//  - accuracy thresholds accept a pair when score >= threshold; they are
//    midpoints between adjacent distinct scores, so no score sits on them;
//  - FAR thresholds are a negative's own score and accept a pair when
//    score > threshold (strictly), so that negative is rejected.
//
// Errors: empty inputs, spans of different sizes, labels other than 0/1,
// non-finite scores, negative fold ids and FAR outside [0, 1] throw
// UsageError (a caller bug; there is no meaningful figure to return).
// Thread-safety: every function is pure and may be called concurrently.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace likeness::match {

struct ScoreSplit {
  std::vector<double> positive;  // scores of label-1 pairs, in input order
  std::vector<double> negative;  // scores of label-0 pairs, in input order
};

// Scores grouped by label (either group may be empty).
ScoreSplit split_by_label(std::span<const double> scores, std::span<const int> labels);

struct FarThreshold {
  // Accept a pair when score > threshold. -infinity when far allows every
  // negative to be accepted.
  double threshold = 0.0;
  std::size_t accepted = 0;  // negatives with score > threshold
  double far = 0.0;          // accepted / negatives: the achieved FAR, <= the requested one
};

// The lowest threshold that accepts at most floor(far * N) of the N negatives
// (score > threshold): the (floor(far * N) + 1)-th highest negative score.
// Fewer are accepted when negatives tie at the threshold. floor() forgives a
// relative rounding error of 1e-9, so that 0.29 * 100 allows 29, not 28.
FarThreshold threshold_at_far(std::span<const double> negative_scores, double far);

// True accept rate (share of positives with score > threshold) at
// threshold_at_far(negative_scores, far). In [0, 1].
double tar_at_far(std::span<const double> positive_scores, std::span<const double> negative_scores,
                  double far);

// Area under the ROC curve = P(positive score > negative score), ties counted
// half. In [0, 1]; 0.5 = chance. O((P + N) log N).
double roc_auc(std::span<const double> positive_scores, std::span<const double> negative_scores);

struct AccuracyThreshold {
  double threshold = 0.0;  // accept when score >= threshold
  double accuracy = 0.0;   // share of pairs classified right at it, in [0, 1]
};

// The threshold of best accuracy: the midpoint between two adjacent distinct
// sorted scores, or just below the lowest / above the highest score (by 1e-6,
// or one ulp where 1e-6 is lost to rounding). Among equally good thresholds,
// the lowest. O(n log n).
AccuracyThreshold best_accuracy_threshold(std::span<const double> scores,
                                          std::span<const int> labels);

// Share of pairs with (score >= threshold) == (label == 1). In [0, 1].
double accuracy_at(std::span<const double> scores, std::span<const int> labels, double threshold);

struct TenFoldResult {
  double accuracy_mean = 0.0;
  // Population standard deviation (divide by the number of folds) of the
  // folds' accuracies: numpy's np.std, as in the InsightFace/FaceNet LFW
  // evaluation and bench/lfw_bench. The standard error the LFW README asks for
  // is the sample std / sqrt(folds).
  double accuracy_std = 0.0;
  double threshold_mean = 0.0;
  // One entry per non-empty fold, in fold-id order.
  std::vector<double> fold_accuracies;
  std::vector<double> fold_thresholds;
};

// Cross-validated accuracy (LFW View 2: ten folds, ids 0..9): for each
// fold, best_accuracy_threshold on all other folds, accuracy_at on the fold.
// folds: one id >= 0 per pair; any number of folds works, ids without pairs are
// skipped. With a single fold the threshold is chosen on the fold itself (an
// optimistic figure, not cross-validated).
TenFoldResult ten_fold_accuracy(std::span<const double> scores, std::span<const int> labels,
                                std::span<const int> folds);

}  // namespace likeness::match
