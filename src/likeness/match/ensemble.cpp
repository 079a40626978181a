#include "likeness/match/ensemble.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "likeness/core/error.h"
#include "likeness/match/verification.h"

namespace likeness::match {
namespace {

constexpr int kFormat = 1;

double clamp_quality(double q) { return std::clamp(q, 0.0, 1.0); }

std::string member_field(std::size_t m, const char* field) {
  return "members[" + std::to_string(m) + "]." + field;
}

// The first broken invariant of a calibration, named by its JSON field, or
// nullopt. Shared by the constructor (UsageError) and from_json (Error).
std::optional<std::string> problem(const std::vector<MemberCalibration>& members, double bias,
                                   double far_target, double probability_threshold,
                                   bool quality_adaptive) {
  if (members.empty()) return "\"members\" is empty; expected at least one member";
  if (!std::isfinite(bias)) return "\"bias\" is not finite";
  if (!(far_target >= 0.0 && far_target <= 1.0)) return "\"far_target\" is outside [0, 1]";
  if (!(probability_threshold >= 0.0 && probability_threshold <= 1.0)) {
    return "\"probability_threshold\" is outside [0, 1]";
  }
  std::set<std::string, std::less<>> names;
  double shares = 0.0;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const MemberCalibration& c = members[m];
    if (c.model.empty()) return member_field(m, "model") + " is empty";
    if (!names.insert(c.model).second) {
      return member_field(m, "model") + " \"" + c.model + "\" appears twice";
    }
    if (c.platt.weights.size() != 1) {
      return member_field(m, "platt") + " has " + std::to_string(c.platt.weights.size()) +
             " weights; expected 1 (the cosine's)";
    }
    if (!std::isfinite(c.platt.bias) || !std::isfinite(c.platt.weights[0])) {
      return member_field(m, "platt") + " is not finite";
    }
    if (c.platt.weights[0] < 0.0) {
      return member_field(m, "platt") + ".weights[0] is negative; expected a slope >= 0";
    }
    if (!std::isfinite(c.cosine_threshold)) {
      return member_field(m, "cosine_threshold") + " is not finite";
    }
    for (auto [value, name] :
         {std::pair{c.weight_high, "weight_high"}, std::pair{c.weight_low, "weight_low"},
          std::pair{c.fused_vector_weight, "fused_vector_weight"}}) {
      if (!(value >= 0.0) || !std::isfinite(value)) {
        return member_field(m, name) + " is " + std::to_string(value) + "; expected finite >= 0";
      }
    }
    if (!quality_adaptive && c.weight_low != c.weight_high) {
      return member_field(m, "weight_low") +
             " differs from weight_high although \"quality_adaptive\" is false";
    }
    shares += c.fused_vector_weight;
  }
  if (!(std::abs(shares - 1.0) <= 1e-6)) {
    return "the members' fused_vector_weight sum to " + std::to_string(shares) + "; expected 1";
  }
  return std::nullopt;
}

[[noreturn]] void malformed(const std::string& what) {
  throw Error("ensemble calibration JSON: " + what);
}

const nlohmann::json& field(const nlohmann::json& object, const std::string& name,
                            const std::string& where) {
  const auto it = object.find(name);
  if (it == object.end()) malformed(where + name + " is missing");
  return *it;
}

double number(const nlohmann::json& object, const std::string& name,
              const std::string& where = "") {
  const nlohmann::json& v = field(object, name, where);
  if (!v.is_number()) {
    malformed(where + name + " is " + v.type_name() + ", expected a number");
  }
  return v.get<double>();
}

void require_finite(double x, const char* what) {
  if (!std::isfinite(x)) throw UsageError(std::string(what) + " is not finite");
}

// Log-likelihood of labels under the probabilities, weighted.
double log_likelihood(const std::vector<double>& p, const std::vector<int>& y,
                      const std::vector<double>& w) {
  double sum = 0.0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    // Clamped so that a saturated sigmoid of a misclassified pair stays finite.
    const double q = std::clamp(y[i] == 1 ? p[i] : 1.0 - p[i], 1e-300, 1.0);
    sum += w[i] * std::log(q);
  }
  return sum;
}

}  // namespace

Calibration::Calibration(std::vector<MemberCalibration> members, double bias, double far_target,
                         double probability_threshold, bool quality_adaptive,
                         nlohmann::json provenance)
    : members_(std::move(members)),
      bias_(bias),
      far_target_(far_target),
      probability_threshold_(probability_threshold),
      quality_adaptive_(quality_adaptive),
      provenance_(std::move(provenance)) {
  if (auto p = problem(members_, bias_, far_target_, probability_threshold_, quality_adaptive_)) {
    throw UsageError("ensemble calibration: " + *p);
  }
}

Calibration Calibration::from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    malformed(std::string("expected an object, got ") + json.type_name());
  }
  const nlohmann::json& format = field(json, "format", "");
  if (!format.is_number_integer() || format.get<long long>() != kFormat) {
    malformed("\"format\" is " + format.dump() + "; this build reads format " +
              std::to_string(kFormat));
  }
  const nlohmann::json& adaptive = field(json, "quality_adaptive", "");
  if (!adaptive.is_boolean()) {
    malformed(std::string("quality_adaptive is ") + adaptive.type_name() + ", expected a boolean");
  }
  const nlohmann::json& list = field(json, "members", "");
  if (!list.is_array()) {
    malformed(std::string("members is ") + list.type_name() + ", expected an array");
  }
  std::vector<MemberCalibration> members;
  for (std::size_t m = 0; m < list.size(); ++m) {
    const nlohmann::json& entry = list[m];
    const std::string where = "members[" + std::to_string(m) + "].";
    if (!entry.is_object()) malformed(where.substr(0, where.size() - 1) + " is not an object");
    MemberCalibration c;
    const nlohmann::json& model = field(entry, "model", where);
    if (!model.is_string()) malformed(where + "model is not a string");
    c.model = model.get<std::string>();
    try {
      c.platt = LogisticModel::from_json(field(entry, "platt", where));
    } catch (const Error& e) {
      malformed(where + "platt: " + e.what());
    }
    c.cosine_threshold = number(entry, "cosine_threshold", where);
    c.weight_high = number(entry, "weight_high", where);
    c.weight_low = number(entry, "weight_low", where);
    c.fused_vector_weight = number(entry, "fused_vector_weight", where);
    const nlohmann::json& dimension = field(entry, "dimension", where);
    if (!dimension.is_number_unsigned()) {
      malformed(where + "dimension is " + dimension.dump() + ", expected an integer >= 0");
    }
    c.dimension = dimension.get<std::size_t>();
    for (const auto& [key, slot] :
         {std::pair{"flip_tta", &c.flip_tta}, std::pair{"alignment_tta", &c.alignment_tta}}) {
      if (const auto flag = entry.find(key); flag != entry.end()) {
        if (!flag->is_boolean()) {
          malformed(where + key + " is " + flag->dump() + ", expected a boolean");
        }
        *slot = flag->get<bool>();
      }
    }
    members.push_back(std::move(c));
  }
  const double bias = number(json, "bias");
  const double far_target = number(json, "far_target");
  const double threshold = number(json, "probability_threshold");
  const auto provenance = json.find("provenance");
  if (auto p = problem(members, bias, far_target, threshold, adaptive.get<bool>())) malformed(*p);
  return Calibration(std::move(members), bias, far_target, threshold, adaptive.get<bool>(),
                     provenance == json.end() ? nlohmann::json() : *provenance);
}

nlohmann::json Calibration::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const MemberCalibration& c : members_) {
    list.push_back({{"model", c.model},
                    {"platt", c.platt.to_json()},
                    {"cosine_threshold", c.cosine_threshold},
                    {"weight_high", c.weight_high},
                    {"weight_low", c.weight_low},
                    {"fused_vector_weight", c.fused_vector_weight},
                    {"dimension", c.dimension}});
    if (c.flip_tta) list.back()["flip_tta"] = *c.flip_tta;
    if (c.alignment_tta) list.back()["alignment_tta"] = *c.alignment_tta;
  }
  return {{"format", kFormat},
          {"far_target", far_target_},
          {"quality_adaptive", quality_adaptive_},
          {"probability_threshold", probability_threshold_},
          {"bias", bias_},
          {"provenance", provenance_},
          {"members", std::move(list)}};
}

std::optional<std::size_t> Calibration::member_index(std::string_view model) const {
  for (std::size_t m = 0; m < members_.size(); ++m) {
    if (members_[m].model == model) return m;
  }
  return std::nullopt;
}

double Calibration::member_weight(std::size_t member, double quality) const {
  if (member >= members_.size()) {
    throw UsageError("ensemble: member " + std::to_string(member) + " of " +
                     std::to_string(members_.size()));
  }
  require_finite(quality, "ensemble: pair quality");
  const double q = clamp_quality(quality);
  return members_[member].weight_high * q + members_[member].weight_low * (1.0 - q);
}

double Calibration::member_log_odds(std::size_t member, float cosine) const {
  if (member >= members_.size()) {
    throw UsageError("ensemble: member " + std::to_string(member) + " of " +
                     std::to_string(members_.size()));
  }
  require_finite(cosine, "ensemble: cosine similarity");
  const LogisticModel& p = members_[member].platt;
  return p.bias + p.weights[0] * static_cast<double>(cosine);
}

double Calibration::member_probability(std::size_t member, float cosine) const {
  return sigmoid(member_log_odds(member, cosine));
}

EnsembleScore Calibration::score(const PairEvidence& pair) const {
  if (pair.similarity.size() != members_.size()) {
    throw UsageError("ensemble: " + std::to_string(pair.similarity.size()) + " similarities for " +
                     std::to_string(members_.size()) +
                     " members; expected one per member (nullopt when missing)");
  }
  require_finite(pair.quality, "ensemble: pair quality");
  double all = 0.0, available = 0.0, weighted = 0.0, logits = 0.0;
  int used = 0;
  for (std::size_t m = 0; m < members_.size(); ++m) {
    const double c = member_weight(m, pair.quality);
    all += c;
    if (!pair.similarity[m]) continue;
    const double logit = member_log_odds(m, *pair.similarity[m]);
    available += c;
    weighted += c * logit;
    logits += logit;
    ++used;
  }
  EnsembleScore s;
  s.members_used = used;
  if (used == 0) {
    s.log_odds = bias_;
  } else if (available > 0.0) {
    // all == available when every member is there, so R is exactly 1.
    s.log_odds = bias_ + (all / available) * weighted;
  } else {
    s.log_odds = logits / used;
  }
  s.probability = sigmoid(s.log_odds);
  return s;
}

std::optional<std::size_t> Calibration::fused_dimension() const {
  std::size_t total = 0;
  for (const MemberCalibration& c : members_) {
    if (c.dimension == 0) return std::nullopt;
    total += c.dimension;
  }
  return total;
}

std::vector<float> Calibration::fuse_vectors(
    const std::vector<std::span<const float>>& member_vectors) const {
  if (member_vectors.size() != members_.size()) {
    throw UsageError("fuse_vectors: " + std::to_string(member_vectors.size()) + " vectors for " +
                     std::to_string(members_.size()) +
                     " members; expected one per member (empty when missing)");
  }
  std::size_t total = 0;
  for (std::size_t m = 0; m < members_.size(); ++m) {
    const std::size_t expected = members_[m].dimension, given = member_vectors[m].size();
    if (given == 0 && expected == 0) {
      throw UsageError("fuse_vectors: the vector of \"" + members_[m].model +
                       "\" is missing and its dimension is not recorded in the calibration");
    }
    if (given != 0 && expected != 0 && given != expected) {
      throw UsageError("fuse_vectors: the vector of \"" + members_[m].model + "\" has " +
                       std::to_string(given) + " values; expected " + std::to_string(expected));
    }
    total += given != 0 ? given : expected;
  }
  std::vector<double> fused;
  fused.reserve(total);
  double norm = 0.0;
  for (std::size_t m = 0; m < members_.size(); ++m) {
    const std::span<const float> v = member_vectors[m];
    if (v.empty()) {
      fused.insert(fused.end(), members_[m].dimension, 0.0);
      continue;
    }
    const double scale = std::sqrt(members_[m].fused_vector_weight);
    for (float x : v) {
      const double y = scale * static_cast<double>(x);
      fused.push_back(y);
      norm += y * y;
    }
  }
  const double inverse = norm > 0.0 ? 1.0 / std::sqrt(norm) : 0.0;
  std::vector<float> out(fused.size());
  for (std::size_t i = 0; i < fused.size(); ++i) out[i] = static_cast<float>(fused[i] * inverse);
  return out;
}

Calibration learn_calibration(const std::vector<std::string>& models,
                              const std::vector<PairEvidence>& pairs,
                              const std::vector<int>& labels, const LearnOptions& options,
                              nlohmann::json provenance) {
  const std::size_t n_models = models.size(), n = pairs.size();
  if (n_models == 0) throw UsageError("learn_calibration: no models");
  {
    std::set<std::string, std::less<>> names;
    for (const std::string& name : models) {
      if (name.empty()) throw UsageError("learn_calibration: an empty model name");
      if (!names.insert(name).second) {
        throw UsageError("learn_calibration: model \"" + name + "\" is given twice");
      }
    }
  }
  if (n == 0) throw UsageError("learn_calibration: no pairs");
  if (labels.size() != n) {
    throw UsageError("learn_calibration: " + std::to_string(n) + " pairs but " +
                     std::to_string(labels.size()) + " labels; expected one label per pair");
  }
  if (!(options.far >= 0.0 && options.far < 1.0)) {
    throw UsageError("learn_calibration: far " + std::to_string(options.far) +
                     "; expected a value in [0, 1)");
  }
  if (!options.flip_tta.empty() && options.flip_tta.size() != n_models) {
    throw UsageError("learn_calibration: " + std::to_string(options.flip_tta.size()) +
                     " mirror settings for " + std::to_string(n_models) +
                     " models; expected one per model or none");
  }
  if (!options.alignment_tta.empty() && options.alignment_tta.size() != n_models) {
    throw UsageError("learn_calibration: " + std::to_string(options.alignment_tta.size()) +
                     " alignment settings for " + std::to_string(n_models) +
                     " models; expected one per model or none");
  }
  if (!options.dimensions.empty() && options.dimensions.size() != n_models) {
    throw UsageError("learn_calibration: " + std::to_string(options.dimensions.size()) +
                     " dimensions for " + std::to_string(n_models) +
                     " models; expected one per model or none");
  }
  const std::vector<double>& given_weights = options.fit.sample_weights;
  if (!given_weights.empty() && given_weights.size() != n) {
    throw UsageError("learn_calibration: " + std::to_string(given_weights.size()) +
                     " sample weights for " + std::to_string(n) +
                     " pairs; expected one per pair or none");
  }
  std::size_t positives = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (labels[i] != 0 && labels[i] != 1) {
      throw UsageError("learn_calibration: label " + std::to_string(labels[i]) + " of pair " +
                       std::to_string(i) + "; expected 0 or 1");
    }
    positives += static_cast<std::size_t>(labels[i]);
    if (pairs[i].similarity.size() != n_models) {
      throw UsageError("learn_calibration: pair " + std::to_string(i) + " has " +
                       std::to_string(pairs[i].similarity.size()) + " similarities for " +
                       std::to_string(n_models) + " models; expected one per model");
    }
    require_finite(pairs[i].quality, "learn_calibration: a pair's quality");
    for (const auto& s : pairs[i].similarity) {
      if (s) require_finite(*s, "learn_calibration: a similarity");
    }
  }
  if (positives == 0 || positives == n) {
    throw UsageError(
        "learn_calibration: expected pairs of both labels (same person and different people)");
  }
  const auto weight_of = [&](std::size_t i) {
    return given_weights.empty() ? 1.0 : given_weights[i];
  };

  LogisticFitOptions fit = options.fit;
  fit.non_negative_weights = true;

  // 1-2. Each member on its own.
  std::vector<MemberCalibration> members(n_models);
  for (std::size_t m = 0; m < n_models; ++m) {
    MemberCalibration& c = members[m];
    c.model = models[m];
    if (!options.dimensions.empty()) c.dimension = options.dimensions[m];
    if (!options.flip_tta.empty()) c.flip_tta = options.flip_tta[m];
    if (!options.alignment_tta.empty()) c.alignment_tta = options.alignment_tta[m];
    std::vector<double> cosines, negatives, w;
    std::vector<int> y;
    for (std::size_t i = 0; i < n; ++i) {
      if (!pairs[i].similarity[m]) continue;
      cosines.push_back(*pairs[i].similarity[m]);
      y.push_back(labels[i]);
      w.push_back(weight_of(i));
      if (labels[i] == 0) negatives.push_back(cosines.back());
    }
    if (cosines.empty()) {
      throw UsageError("learn_calibration: model \"" + c.model +
                       "\" has no similarity in any pair");
    }
    if (negatives.empty() || negatives.size() == cosines.size()) {
      throw UsageError("learn_calibration: model \"" + c.model +
                       "\" has similarities for pairs of one label only; expected both");
    }
    LogisticFitOptions member_fit = fit;
    member_fit.sample_weights = given_weights.empty() ? std::vector<double>{} : w;
    c.platt = fit_platt(cosines, y, member_fit);
    // BIC: the slope must buy more log-likelihood than ln(n) / 2, else the
    // member is noise and only the prior (the constant model) is kept.
    if (c.platt.weights[0] > 0.0) {
      double total = 0.0, positive = 0.0;
      for (std::size_t i = 0; i < y.size(); ++i) {
        total += w[i];
        positive += w[i] * y[i];
      }
      std::vector<double> fitted(y.size()), prior(y.size(), positive / total);
      for (std::size_t i = 0; i < y.size(); ++i) {
        fitted[i] = c.platt.probability(std::span<const double>(&cosines[i], 1));
      }
      // Weights rescaled to mean 1, so that the log-likelihood is in pairs.
      std::vector<double> unit(w);
      for (double& x : unit) x *= static_cast<double>(y.size()) / total;
      const double gain = log_likelihood(fitted, y, unit) - log_likelihood(prior, y, unit);
      if (!(gain > 0.5 * std::log(static_cast<double>(y.size())))) {
        c.platt.weights[0] = 0.0;
        c.platt.bias = std::log(positive / (total - positive));
      }
    }
    const FarThreshold t = threshold_at_far(negatives, options.far);
    if (!std::isfinite(t.threshold)) {
      throw UsageError("learn_calibration: far " + std::to_string(options.far) +
                       " accepts every negative; expected a smaller FAR");
    }
    c.cosine_threshold = t.threshold;
  }

  // 3. The ensemble, on the complete pairs.
  const std::size_t per_member = options.quality_adaptive ? 2 : 1;
  std::vector<std::vector<double>> features;
  std::vector<int> y;
  std::vector<double> w;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& s = pairs[i].similarity;
    if (!std::all_of(s.begin(), s.end(), [](const auto& x) { return x.has_value(); })) continue;
    const double q = clamp_quality(pairs[i].quality);
    std::vector<double> row;
    row.reserve(per_member * n_models);
    for (std::size_t m = 0; m < n_models; ++m) {
      // An uninformative member's logit is a constant: it would only act as a
      // (quality-dependent) bias, so it does not enter the fit at all.
      const LogisticModel& p = members[m].platt;
      const double logit =
          p.weights[0] > 0.0 ? p.bias + p.weights[0] * static_cast<double>(*s[m]) : 0.0;
      if (options.quality_adaptive) {
        row.push_back(logit * q);
        row.push_back(logit * (1.0 - q));
      } else {
        row.push_back(logit);
      }
    }
    features.push_back(std::move(row));
    y.push_back(labels[i]);
    w.push_back(weight_of(i));
  }
  const std::size_t complete_positives =
      static_cast<std::size_t>(std::count(y.begin(), y.end(), 1));
  if (complete_positives == 0 || complete_positives == y.size()) {
    throw UsageError(
        "learn_calibration: expected pairs of both labels with a similarity from every model");
  }
  LogisticFitOptions ensemble_fit = fit;
  ensemble_fit.sample_weights = given_weights.empty() ? std::vector<double>{} : w;
  const LogisticModel ensemble = fit_logistic(features, y, ensemble_fit);
  for (std::size_t m = 0; m < n_models; ++m) {
    // Clamped at 0 against a -0.0 from the unscaling.
    members[m].weight_high = std::max(0.0, ensemble.weights[per_member * m]);
    members[m].weight_low =
        std::max(0.0, ensemble.weights[per_member * m + (options.quality_adaptive ? 1 : 0)]);
  }

  // 5. Shares of the fused vector.
  std::vector<double> mean_weight(n_models, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double q = clamp_quality(pairs[i].quality);
    for (std::size_t m = 0; m < n_models; ++m) {
      mean_weight[m] += members[m].weight_high * q + members[m].weight_low * (1.0 - q);
    }
  }
  double sum = 0.0;
  for (std::size_t m = 0; m < n_models; ++m) {
    members[m].fused_vector_weight =
        mean_weight[m] / static_cast<double>(n) * members[m].platt.weights[0];
    sum += members[m].fused_vector_weight;
  }
  for (MemberCalibration& c : members) {
    c.fused_vector_weight =
        sum > 0.0 ? c.fused_vector_weight / sum : 1.0 / static_cast<double>(n_models);
  }

  // 4. The ensemble's threshold, on the calibration as it will be used.
  Calibration draft(members, ensemble.bias, options.far, 0.5, options.quality_adaptive);
  std::vector<double> negatives;
  for (std::size_t i = 0; i < n; ++i) {
    if (labels[i] != 0) continue;
    const EnsembleScore s = draft.score(pairs[i]);
    if (s.members_used > 0) negatives.push_back(s.probability);
  }
  const FarThreshold t = threshold_at_far(negatives, options.far);
  if (!std::isfinite(t.threshold)) {
    throw UsageError("learn_calibration: far " + std::to_string(options.far) +
                     " accepts every negative; expected a smaller FAR");
  }
  return Calibration(std::move(members), ensemble.bias, options.far, t.threshold,
                     options.quality_adaptive, std::move(provenance));
}

}  // namespace likeness::match
