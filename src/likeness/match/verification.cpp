#include "likeness/match/verification.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "likeness/core/error.h"

namespace likeness::match {
namespace {

void require_scores(std::span<const double> scores, const char* what) {
  if (scores.empty()) throw UsageError(std::string(what) + ": no scores");
  for (double s : scores) {
    if (!std::isfinite(s)) throw UsageError(std::string(what) + ": a score is not finite");
  }
}

void require_labelled(std::span<const double> scores, std::span<const int> labels,
                      const char* what) {
  require_scores(scores, what);
  if (labels.size() != scores.size()) {
    throw UsageError(std::string(what) + ": " + std::to_string(scores.size()) + " scores but " +
                     std::to_string(labels.size()) + " labels; expected one label per score");
  }
  for (int l : labels) {
    if (l != 0 && l != 1) {
      throw UsageError(std::string(what) + ": label " + std::to_string(l) + "; expected 0 or 1");
    }
  }
}

// Just outside a score, also where 1e-6 is below its ulp.
double below(double x) {
  return std::min(x - 1e-6, std::nextafter(x, -std::numeric_limits<double>::infinity()));
}
double above(double x) {
  return std::max(x + 1e-6, std::nextafter(x, std::numeric_limits<double>::infinity()));
}

// best_accuracy_threshold on the pairs `order` (validated by the caller).
AccuracyThreshold best_on(std::span<const double> s, std::span<const int> same,
                          std::vector<std::size_t> order) {
  std::sort(order.begin(), order.end(), [&](auto x, auto y) { return s[x] < s[y]; });
  // Threshold below everything: every pair predicted same.
  long correct = 0;
  for (auto i : order) correct += same[i];
  long best = correct;
  double best_t = below(s[order.front()]);
  for (std::size_t k = 0; k < order.size(); ++k) {
    correct += same[order[k]] ? -1 : 1;  // order[k] now predicted different
    const bool last = k + 1 == order.size();
    if (!last && s[order[k + 1]] == s[order[k]]) continue;  // ties move together
    if (correct > best) {
      best = correct;
      if (last) {
        best_t = above(s[order[k]]);
      } else {
        const double lo = s[order[k]], hi = s[order[k + 1]];
        best_t = lo / 2 + hi / 2;         // = (lo + hi) / 2 without overflow
        if (!(best_t > lo)) best_t = hi;  // adjacent doubles: hi is the only threshold between
      }
    }
  }
  return {best_t, static_cast<double>(best) / static_cast<double>(order.size())};
}

double accuracy_on(std::span<const double> s, std::span<const int> same,
                   const std::vector<std::size_t>& idx, double threshold) {
  long correct = 0;
  for (auto i : idx) correct += (s[i] >= threshold) == (same[i] == 1);
  return static_cast<double>(correct) / static_cast<double>(idx.size());
}

std::vector<std::size_t> all_indices(std::size_t n) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  return idx;
}

}  // namespace

ScoreSplit split_by_label(std::span<const double> scores, std::span<const int> labels) {
  require_labelled(scores, labels, "split_by_label");
  ScoreSplit split;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    (labels[i] == 1 ? split.positive : split.negative).push_back(scores[i]);
  }
  return split;
}

FarThreshold threshold_at_far(std::span<const double> negative_scores, double far) {
  require_scores(negative_scores, "threshold_at_far (negatives)");
  if (!(far >= 0.0 && far <= 1.0)) {
    throw UsageError("threshold_at_far: far = " + std::to_string(far) + "; expected [0, 1]");
  }
  const std::size_t n = negative_scores.size();
  const auto allowed =
      static_cast<std::size_t>(std::floor(far * static_cast<double>(n) * (1.0 + 1e-9)));
  FarThreshold result;
  if (allowed >= n) {
    result.threshold = -std::numeric_limits<double>::infinity();
  } else {
    std::vector<double> sorted(negative_scores.begin(), negative_scores.end());
    const auto nth = sorted.begin() + static_cast<std::ptrdiff_t>(allowed);
    std::nth_element(sorted.begin(), nth, sorted.end(), std::greater<>());
    result.threshold = *nth;
  }
  for (double s : negative_scores) result.accepted += s > result.threshold;
  result.far = static_cast<double>(result.accepted) / static_cast<double>(n);
  return result;
}

double tar_at_far(std::span<const double> positive_scores, std::span<const double> negative_scores,
                  double far) {
  require_scores(positive_scores, "tar_at_far (positives)");
  const double t = threshold_at_far(negative_scores, far).threshold;
  const auto accepted = std::count_if(positive_scores.begin(), positive_scores.end(),
                                      [t](double s) { return s > t; });
  return static_cast<double>(accepted) / static_cast<double>(positive_scores.size());
}

double roc_auc(std::span<const double> positive_scores, std::span<const double> negative_scores) {
  require_scores(positive_scores, "roc_auc (positives)");
  require_scores(negative_scores, "roc_auc (negatives)");
  std::vector<double> neg(negative_scores.begin(), negative_scores.end());
  std::sort(neg.begin(), neg.end());
  double wins = 0.0;
  for (double p : positive_scores) {
    const auto [lo, hi] = std::equal_range(neg.begin(), neg.end(), p);
    wins += static_cast<double>(lo - neg.begin()) + 0.5 * static_cast<double>(hi - lo);
  }
  return wins / (static_cast<double>(positive_scores.size()) * static_cast<double>(neg.size()));
}

AccuracyThreshold best_accuracy_threshold(std::span<const double> scores,
                                          std::span<const int> labels) {
  require_labelled(scores, labels, "best_accuracy_threshold");
  return best_on(scores, labels, all_indices(scores.size()));
}

double accuracy_at(std::span<const double> scores, std::span<const int> labels, double threshold) {
  require_labelled(scores, labels, "accuracy_at");
  return accuracy_on(scores, labels, all_indices(scores.size()), threshold);
}

TenFoldResult ten_fold_accuracy(std::span<const double> scores, std::span<const int> labels,
                                std::span<const int> folds) {
  require_labelled(scores, labels, "ten_fold_accuracy");
  if (folds.size() != scores.size()) {
    throw UsageError("ten_fold_accuracy: " + std::to_string(folds.size()) + " fold ids for " +
                     std::to_string(scores.size()) + " scores; expected one per score");
  }
  int count = 0;
  for (int f : folds) {
    if (f < 0) throw UsageError("ten_fold_accuracy: fold id " + std::to_string(f) + " < 0");
    count = std::max(count, f + 1);
  }
  TenFoldResult r;
  for (int f = 0; f < count; ++f) {
    std::vector<std::size_t> train, test;
    for (std::size_t i = 0; i < scores.size(); ++i) (folds[i] == f ? test : train).push_back(i);
    if (test.empty()) continue;
    if (train.empty()) train = test;
    const double t = best_on(scores, labels, std::move(train)).threshold;
    r.fold_thresholds.push_back(t);
    r.fold_accuracies.push_back(accuracy_on(scores, labels, test, t));
  }
  const auto k = static_cast<double>(r.fold_accuracies.size());
  r.accuracy_mean = std::accumulate(r.fold_accuracies.begin(), r.fold_accuracies.end(), 0.0) / k;
  r.threshold_mean = std::accumulate(r.fold_thresholds.begin(), r.fold_thresholds.end(), 0.0) / k;
  for (double a : r.fold_accuracies)
    r.accuracy_std += (a - r.accuracy_mean) * (a - r.accuracy_mean);
  r.accuracy_std = std::sqrt(r.accuracy_std / k);
  return r;
}

}  // namespace likeness::match
