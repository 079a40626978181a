#include "lfw_ensemble.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>

#include "likeness/core/error.h"
#include "likeness/match/ensemble.h"
#include "likeness/match/similarity.h"
#include "likeness/match/verification.h"

namespace likeness::bench {
namespace {

using Input = EnsembleStudyInput;

// The evidence of every pair: each member's cosine and the pair's quality
// (the lower of its two faces').
std::vector<match::PairEvidence> evidence_of(const Input& in, const std::vector<float>& quality) {
  std::vector<match::PairEvidence> out(in.labels.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t a = in.image_a[i];
    const std::size_t b = in.image_b[i];
    out[i].quality = std::min(quality[a], quality[b]);
    for (const auto& member : in.members) {
      const auto& va = member.vectors[a];
      const auto& vb = member.vectors[b];
      if (va.empty() || vb.empty()) {
        out[i].similarity.emplace_back(std::nullopt);
      } else {
        out[i].similarity.emplace_back(match::cosine_similarity(va, vb));
      }
    }
  }
  return out;
}

template <typename T>
std::vector<T> subset(const std::vector<T>& all, const std::vector<std::size_t>& idx) {
  std::vector<T> out;
  out.reserve(idx.size());
  for (auto i : idx) out.push_back(all[i]);
  return out;
}

struct CrossValidated {
  std::vector<double> out_of_fold;  // each pair scored by what never saw its fold
  std::vector<double> fold_accuracy;
  std::vector<std::size_t> errors;  // pairs the fold's accuracy threshold gets wrong
  double accuracy_mean = 0, accuracy_std = 0, tar_at_far = 0, auc = 0;
  nlohmann::json json() const {
    return {{"accuracy_mean", accuracy_mean},
            {"accuracy_std", accuracy_std},
            {"tar_at_far_1e-3", tar_at_far},
            {"auc", auc}};
  }
};

// LFW protocol with learning: scores_for(f) scores every pair with what was
// learned without fold f; the accuracy threshold is chosen on the other
// folds' scores and applied to fold f. TAR and AUC over the pooled
// out-of-fold scores.
CrossValidated cross_validate(const Input& in,
                              const std::function<std::vector<double>(int)>& scores_for) {
  const int folds = *std::max_element(in.folds.begin(), in.folds.end()) + 1;
  CrossValidated cv;
  cv.out_of_fold.assign(in.labels.size(), 0.0);
  for (int f = 0; f < folds; ++f) {
    std::vector<std::size_t> train, test;
    for (std::size_t i = 0; i < in.labels.size(); ++i)
      (in.folds[i] == f ? test : train).push_back(i);
    if (test.empty()) continue;
    const std::vector<double> s = scores_for(f);
    const auto t = match::best_accuracy_threshold(subset(s, train), subset(in.labels, train));
    cv.fold_accuracy.push_back(
        match::accuracy_at(subset(s, test), subset(in.labels, test), t.threshold));
    for (auto i : test) {
      cv.out_of_fold[i] = s[i];
      if ((s[i] >= t.threshold) != (in.labels[i] == 1)) cv.errors.push_back(i);
    }
  }
  const double n = static_cast<double>(cv.fold_accuracy.size());
  cv.accuracy_mean = std::accumulate(cv.fold_accuracy.begin(), cv.fold_accuracy.end(), 0.0) / n;
  for (double a : cv.fold_accuracy) {
    cv.accuracy_std += (a - cv.accuracy_mean) * (a - cv.accuracy_mean) / n;
  }
  cv.accuracy_std = std::sqrt(cv.accuracy_std);
  const auto split = match::split_by_label(cv.out_of_fold, in.labels);
  cv.tar_at_far = match::tar_at_far(split.positive, split.negative, 1e-3);
  cv.auc = match::roc_auc(split.positive, split.negative);
  return cv;
}

std::vector<std::size_t> training_pairs(const Input& in, int fold) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < in.labels.size(); ++i) {
    if (in.folds[i] != fold) idx.push_back(i);
  }
  return idx;
}

std::vector<std::string> member_names(const Input& in) {
  std::vector<std::string> names;
  for (const auto& m : in.members) names.push_back(m.model);
  return names;
}

// Each member's vector length (from its first non-empty vector).
std::vector<std::size_t> member_dimensions(const Input& in) {
  std::vector<std::size_t> dims;
  for (const auto& m : in.members) {
    std::size_t d = 0;
    for (const auto& v : m.vectors) {
      if (!v.empty()) {
        d = v.size();
        break;
      }
    }
    dims.push_back(d);
  }
  return dims;
}

// One calibration per fold, learned on the other nine.
std::vector<match::Calibration> learn_per_fold(const Input& in,
                                               const std::vector<match::PairEvidence>& evidence,
                                               const match::LearnOptions& options) {
  const int folds = *std::max_element(in.folds.begin(), in.folds.end()) + 1;
  std::vector<match::Calibration> out;
  for (int f = 0; f < folds; ++f) {
    const auto train = training_pairs(in, f);
    out.push_back(match::learn_calibration(member_names(in), subset(evidence, train),
                                           subset(in.labels, train), options));
  }
  return out;
}

std::vector<double> probabilities(const match::Calibration& c,
                                  const std::vector<match::PairEvidence>& evidence) {
  std::vector<double> p;
  p.reserve(evidence.size());
  for (const auto& e : evidence) p.push_back(c.score(e).probability);
  return p;
}

// Decisions of the shipped rule (probability above the threshold at FAR 1e-3
// learned on the training folds), pooled over the test folds.
struct Decisions {
  std::vector<bool> accept;
  nlohmann::json json(const Input& in) const {
    std::size_t fa = 0, fr = 0, neg = 0, pos = 0;
    for (std::size_t i = 0; i < accept.size(); ++i) {
      if (in.labels[i]) {
        ++pos;
        fr += !accept[i];
      } else {
        ++neg;
        fa += accept[i];
      }
    }
    return {{"false_accepts", fa},
            {"false_rejects", fr},
            {"far", static_cast<double>(fa) / static_cast<double>(neg)},
            {"frr", static_cast<double>(fr) / static_cast<double>(pos)},
            {"accuracy", 1.0 - static_cast<double>(fa + fr) / static_cast<double>(accept.size())}};
  }
};

Decisions ensemble_decisions(const Input& in, const std::vector<match::Calibration>& per_fold,
                             const std::vector<match::PairEvidence>& evidence) {
  Decisions d;
  d.accept.resize(evidence.size());
  for (std::size_t i = 0; i < evidence.size(); ++i) {
    const auto& c = per_fold[static_cast<std::size_t>(in.folds[i])];
    d.accept[i] = c.score(evidence[i]).probability > c.probability_threshold();
  }
  return d;
}

Decisions member_decisions(const Input& in, const std::vector<match::Calibration>& per_fold,
                           const std::vector<match::PairEvidence>& evidence, std::size_t member) {
  Decisions d;
  d.accept.resize(evidence.size());
  for (std::size_t i = 0; i < evidence.size(); ++i) {
    const auto& c = per_fold[static_cast<std::size_t>(in.folds[i])];
    const auto& s = evidence[i].similarity[member];
    d.accept[i] = s && *s > c.members()[member].cosine_threshold;
  }
  return d;
}

// What a minimum face quality does to a decision rule: pairs with a face
// below q_min are left out (kept in the library, not matched).
nlohmann::json quality_filter(const Input& in, const Decisions& d,
                              const std::vector<float>& quality) {
  nlohmann::json rows = nlohmann::json::array();
  for (const float q_min : {0.05f, 0.1f, 0.15f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}) {
    std::size_t excluded = 0, fa_removed = 0, ta_lost = 0, fr_removed = 0, same_excluded = 0;
    for (std::size_t i = 0; i < d.accept.size(); ++i) {
      if (std::min(quality[in.image_a[i]], quality[in.image_b[i]]) >= q_min) continue;
      ++excluded;
      if (in.labels[i]) {
        ++same_excluded;
        ta_lost += d.accept[i];
        fr_removed += !d.accept[i];
      } else {
        fa_removed += d.accept[i];
      }
    }
    rows.push_back({{"min_quality", q_min},
                    {"pairs_excluded", excluded},
                    {"false_accepts_removed", fa_removed},
                    {"true_accepts_lost", ta_lost},
                    {"false_rejects_removed", fr_removed},
                    {"same_person_pairs_excluded", same_excluded}});
  }
  return rows;
}

// Error versus discard: drop the share of pairs with the lowest pair quality
// and give the error rates of the rest (a better quality measure lowers them
// faster). The ISO/IEC 29794-1 way to compare quality measures.
nlohmann::json error_versus_discard(const Input& in, const Decisions& d,
                                    const std::vector<float>& quality) {
  std::vector<std::size_t> order(d.accept.size());
  std::iota(order.begin(), order.end(), 0);
  auto pair_q = [&](std::size_t i) {
    return std::min(quality[in.image_a[i]], quality[in.image_b[i]]);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return pair_q(x) < pair_q(y); });
  nlohmann::json rows = nlohmann::json::array();
  for (const double discard : {0.0, 0.02, 0.05, 0.1, 0.2}) {
    const auto skip = static_cast<std::size_t>(discard * static_cast<double>(order.size()));
    std::size_t fa = 0, fr = 0, pos = 0, neg = 0;
    for (std::size_t k = skip; k < order.size(); ++k) {
      const std::size_t i = order[k];
      if (in.labels[i]) {
        ++pos;
        fr += !d.accept[i];
      } else {
        ++neg;
        fa += d.accept[i];
      }
    }
    rows.push_back({{"discarded", discard},
                    {"false_rejects", fr},
                    {"false_accepts", fa},
                    {"frr", static_cast<double>(fr) / static_cast<double>(pos)},
                    {"far", static_cast<double>(fa) / static_cast<double>(neg)}});
  }
  return rows;
}

// The pairs a cross-validated rule gets wrong, to look at: the images, the
// out-of-fold score, each member's cosine and the pair's quality.
nlohmann::json pair_errors(const Input& in, const CrossValidated& cv,
                           const std::vector<match::PairEvidence>& evidence) {
  auto name = [&](std::size_t image) {
    return image < in.image_names.size() ? in.image_names[image] : std::to_string(image);
  };
  nlohmann::json rows = nlohmann::json::array();
  for (const std::size_t i : cv.errors) {
    nlohmann::json cosines;
    for (std::size_t m = 0; m < in.members.size(); ++m) {
      const auto& s = evidence[i].similarity[m];
      cosines[in.members[m].model] = s ? nlohmann::json(*s) : nlohmann::json(nullptr);
    }
    rows.push_back({{"pair", i},
                    {"fold", in.folds[i]},
                    {"same_person", in.labels[i] == 1},
                    {"a", name(in.image_a[i])},
                    {"b", name(in.image_b[i])},
                    {"score", cv.out_of_fold[i]},
                    {"quality", evidence[i].quality},
                    {"cosine", cosines}});
  }
  return rows;
}

void check(const Input& in) {
  const std::size_t n = in.labels.size();
  if (n == 0 || in.image_a.size() != n || in.image_b.size() != n || in.folds.size() != n ||
      in.members.empty()) {
    throw Error("ensemble study: inconsistent pair lists");
  }
  for (const auto& m : in.members) {
    if (m.vectors.size() != in.quality_classic.size() ||
        in.quality_full.size() != in.quality_classic.size()) {
      throw Error("ensemble study: per-image lists of different lengths");
    }
  }
}

}  // namespace

nlohmann::json run_ensemble_study(const Input& in, const EnsembleStudyOptions& options) {
  check(in);
  nlohmann::json report;
  const auto names = member_names(in);

  // Single models: cosine, LFW protocol (no learning needed).
  const auto evidence_classic = evidence_of(in, in.quality_classic);
  const auto evidence_full = evidence_of(in, in.quality_full);
  nlohmann::json singles = nlohmann::json::array();
  std::size_t best_member = 0;
  double best_accuracy = -1;
  for (std::size_t m = 0; m < in.members.size(); ++m) {
    std::vector<double> cosines;
    for (const auto& e : evidence_classic) cosines.push_back(e.similarity[m].value_or(-1.0f));
    const auto cv = cross_validate(in, [&](int) { return cosines; });
    // The four-metric fused similarity of the same vectors.
    std::vector<double> fused;
    for (std::size_t i = 0; i < in.labels.size(); ++i) {
      const auto& a = in.members[m].vectors[in.image_a[i]];
      const auto& b = in.members[m].vectors[in.image_b[i]];
      fused.push_back(a.empty() || b.empty() ? 0.0 : match::fused_similarity(a, b).fused);
    }
    const auto cv_fused = cross_validate(in, [&](int) { return fused; });
    singles.push_back({{"model", in.members[m].model},
                       {"flip_tta", in.members[m].flip_tta},
                       {"cosine", cv.json()},
                       {"four_metric_fused", cv_fused.json()},
                       {"ms_per_face", in.members[m].ms_per_face}});
    if (cv.accuracy_mean > best_accuracy) {
      best_accuracy = cv.accuracy_mean;
      best_member = m;
    }
    std::cerr << singles.back().dump() << '\n';
  }
  report["single_models"] = singles;
  report["best_single_model"] = names[best_member];

  // Ensembles, each learned per fold on the other nine.
  struct Variant {
    std::string name;
    const std::vector<match::PairEvidence>* evidence;
    bool adaptive;
  };
  const std::vector<Variant> variants = {{"fixed_weights", &evidence_classic, false},
                                         {"adaptive_classic_quality", &evidence_classic, true},
                                         {"adaptive_full_quality", &evidence_full, true}};
  nlohmann::json ensembles = nlohmann::json::array();
  std::map<std::string, std::vector<match::Calibration>> learned;
  std::map<std::string, double> variant_accuracy;
  std::map<std::string, CrossValidated> variant_cv;
  for (const auto& v : variants) {
    match::LearnOptions lo;
    lo.quality_adaptive = v.adaptive;
    lo.dimensions = member_dimensions(in);
    const auto per_fold = learn_per_fold(in, *v.evidence, lo);
    const auto cv = cross_validate(in, [&](int f) {
      return probabilities(per_fold[static_cast<std::size_t>(f)], *v.evidence);
    });
    const auto decisions = ensemble_decisions(in, per_fold, *v.evidence);
    ensembles.push_back({{"variant", v.name},
                         {"probability", cv.json()},
                         {"decision_at_far_1e-3_threshold", decisions.json(in)}});
    std::cerr << ensembles.back().dump() << '\n';
    learned[v.name] = per_fold;
    variant_cv[v.name] = cv;
    variant_accuracy[v.name] = cv.accuracy_mean + cv.tar_at_far;
  }
  report["ensembles"] = ensembles;

  // The chosen variant: best accuracy + TAR (both are targets).
  std::string chosen = variants.front().name;
  for (const auto& v : variants) {
    if (variant_accuracy[v.name] > variant_accuracy[chosen]) chosen = v.name;
  }
  report["chosen_variant"] = chosen;
  const auto chosen_variant = *std::find_if(variants.begin(), variants.end(),
                                            [&](const Variant& v) { return v.name == chosen; });
  const auto& chosen_folds = learned[chosen];
  const auto& chosen_evidence = *chosen_variant.evidence;
  report["chosen_errors"] = pair_errors(in, variant_cv[chosen], chosen_evidence);

  // The four-metric fused similarity on the ensemble's fused vector (weights
  // of the fold's calibration) against the calibrated probability.
  {
    const auto cv = cross_validate(in, [&](int f) {
      const auto& c = chosen_folds[static_cast<std::size_t>(f)];
      std::vector<std::vector<float>> fused(in.quality_classic.size());
      std::vector<double> s;
      auto fused_of = [&](std::size_t image) -> const std::vector<float>& {
        if (fused[image].empty()) {
          std::vector<std::span<const float>> parts;
          for (const auto& m : in.members) parts.emplace_back(m.vectors[image]);
          fused[image] = c.fuse_vectors(parts);
        }
        return fused[image];
      };
      for (std::size_t i = 0; i < in.labels.size(); ++i) {
        s.push_back(
            match::fused_similarity(fused_of(in.image_a[i]), fused_of(in.image_b[i])).fused);
      }
      return s;
    });
    report["ensemble_four_metric_fused_vector"] = cv.json();
  }

  // Quality as a filter, for the chosen rule and for the best single model at
  // its own threshold; both formulas.
  {
    const auto ensemble = ensemble_decisions(in, chosen_folds, chosen_evidence);
    const auto single = member_decisions(in, chosen_folds, chosen_evidence, best_member);
    nlohmann::json q;
    for (const auto& [formula, quality] :
         {std::pair{"classic", &in.quality_classic}, std::pair{"full", &in.quality_full}}) {
      q[formula] = {
          {"ensemble_filter", quality_filter(in, ensemble, *quality)},
          {"ensemble_error_versus_discard", error_versus_discard(in, ensemble, *quality)},
          {"best_single_filter", quality_filter(in, single, *quality)},
          {"best_single_error_versus_discard", error_versus_discard(in, single, *quality)}};
      std::vector<float> sorted = *quality;
      std::sort(sorted.begin(), sorted.end());
      q[formula]["image_quality_quantiles"] = {{"p05", sorted[sorted.size() / 20]},
                                               {"p25", sorted[sorted.size() / 4]},
                                               {"median", sorted[sorted.size() / 2]},
                                               {"p75", sorted[3 * sorted.size() / 4]}};
    }
    report["quality"] = q;
  }

  // Cost: every member's embedding per face.
  double total_ms = 0, worst_ms = 0;
  std::string dominant;
  for (const auto& m : in.members) {
    total_ms += m.ms_per_face;
    if (m.ms_per_face > worst_ms) {
      worst_ms = m.ms_per_face;
      dominant = m.model;
    }
  }
  report["ensemble_ms_per_face"] = total_ms;
  report["dominant_model"] = dominant;

  // The shipped constants: learned once more on all pairs.
  if (!options.write_calibration.empty()) {
    match::LearnOptions lo;
    lo.quality_adaptive = chosen_variant.adaptive;
    lo.dimensions = member_dimensions(in);
    for (const auto& m : in.members) {
      lo.flip_tta.push_back(m.flip_tta);
      lo.alignment_tta.push_back(m.alignment_tta);
    }
    nlohmann::json provenance = options.provenance;
    provenance["variant"] = chosen;
    provenance["quality_formula"] = chosen_variant.evidence == &evidence_full ? "full" : "classic";
    const auto all = match::learn_calibration(names, chosen_evidence, in.labels, lo, provenance);
    std::ofstream out(options.write_calibration);
    out << all.to_json().dump(2) << '\n';
    if (!out) throw Error("cannot write " + options.write_calibration.string());
    report["calibration_written"] = options.write_calibration.string();
  }
  return report;
}

}  // namespace likeness::bench
