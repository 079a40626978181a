#include "likeness/attributes/attributes.h"

#include <algorithm>
#include <cmath>

#include "likeness/core/error.h"

namespace likeness::attributes {
namespace {

// Two decimals are plenty for a probability and keep the stored text short.
double rounded(double value, double step) { return std::round(value / step) * step; }

}  // namespace

nlohmann::json to_json(const FaceAttributes& attributes) {
  nlohmann::json out = nlohmann::json::object();
  if (attributes.age) {
    out["age"] = {{"years", rounded(attributes.age->years, 0.1)},
                  {"low", rounded(attributes.age->low, 1.0)},
                  {"high", rounded(attributes.age->high, 1.0)}};
  }
  if (attributes.gender) {
    out["gender"] = {{"label", attributes.gender->label},
                     {"probability", rounded(attributes.gender->probability, 0.001)}};
  }
  if (attributes.emotion) {
    nlohmann::json probabilities = nlohmann::json::object();
    for (std::size_t i = 0; i < kEmotionLabels.size(); ++i) {
      probabilities[std::string(kEmotionLabels[i])] =
          rounded(attributes.emotion->probabilities[i], 0.001);
    }
    out["emotion"] = {{"label", attributes.emotion->label}, {"probabilities", probabilities}};
  }
  // The sensitive attribute is kept apart from the others, model name and all,
  // so that a reader of "model" or of the four descriptive keys never sees it.
  std::map<std::string, std::string> models = attributes.models;
  const auto ethnicity_model = models.find("ethnicity");
  std::string sensitive_model;
  if (ethnicity_model != models.end()) {
    sensitive_model = ethnicity_model->second;
    models.erase(ethnicity_model);
  }
  if (!models.empty()) out["model"] = models;
  if (attributes.ethnicity) {
    nlohmann::json probabilities = nlohmann::json::object();
    for (std::size_t i = 0; i < kEthnicityLabels.size(); ++i) {
      probabilities[std::string(kEthnicityLabels[i])] =
          rounded(attributes.ethnicity->probabilities[i], 0.001);
    }
    out["sensitive"] = {
        {"ethnicity", {{"label", attributes.ethnicity->label}, {"probabilities", probabilities}}},
        {"model", sensitive_model}};
  }
  return out;
}

std::optional<FaceAttributes> parse_attributes(std::string_view json_text) {
  if (json_text.empty()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  FaceAttributes out;
  if (const auto age = j.find("age"); age != j.end() && age->is_object()) {
    out.age =
        AgeEstimate{age->value("years", 0.0f), age->value("low", 0.0f), age->value("high", 0.0f)};
  }
  if (const auto gender = j.find("gender"); gender != j.end() && gender->is_object()) {
    out.gender =
        GenderEstimate{gender->value("label", std::string()), gender->value("probability", 0.0f)};
  }
  if (const auto emotion = j.find("emotion"); emotion != j.end() && emotion->is_object()) {
    EmotionEstimate e;
    e.label = emotion->value("label", std::string());
    if (const auto p = emotion->find("probabilities"); p != emotion->end() && p->is_object()) {
      for (std::size_t i = 0; i < kEmotionLabels.size(); ++i) {
        e.probabilities[i] = p->value(std::string(kEmotionLabels[i]), 0.0f);
      }
    }
    out.emotion = e;
  }
  if (const auto models = j.find("model"); models != j.end() && models->is_object()) {
    for (const auto& [key, value] : models->items()) {
      if (value.is_string() && key != "ethnicity") out.models[key] = value.get<std::string>();
    }
  }
  if (const auto sensitive = j.find("sensitive"); sensitive != j.end() && sensitive->is_object()) {
    if (const auto e = sensitive->find("ethnicity"); e != sensitive->end() && e->is_object()) {
      EthnicityEstimate ethnicity;
      ethnicity.label = e->value("label", std::string());
      if (const auto p = e->find("probabilities"); p != e->end() && p->is_object()) {
        for (std::size_t i = 0; i < kEthnicityLabels.size(); ++i) {
          ethnicity.probabilities[i] = p->value(std::string(kEthnicityLabels[i]), 0.0f);
        }
      }
      out.ethnicity = ethnicity;
      const auto model = sensitive->find("model");
      if (model != sensitive->end() && model->is_string()) {
        out.models["ethnicity"] = model->get<std::string>();
      }
    }
  }
  return out;
}

// The stage "probabilities" of FacePlugin's graphs are ReLU outputs, not a
// softmax (AttributesModels.SsrNetGraphsOutputWhatTheDecodingAssumes), as in
// the authors' code: they are used as they are, not renormalised.
double decode_ssrnet(const SsrNetOutputs& outputs, double range, double lambda_local,
                     double lambda_d) {
  constexpr int kBins = 3;  // s_k: bins per stage, the same in all three stages
  double total = 0.0;
  double width = 1.0;  // prod_{j<=k} s_j * (1 + lambda_d * delta_j)
  for (int k = 0; k < 3; ++k) {
    width *= kBins * (1.0 + lambda_d * outputs.delta_k[static_cast<std::size_t>(k)]);
    double stage = 0.0;
    for (int i = 0; i < kBins; ++i) {
      const auto ks = static_cast<std::size_t>(k);
      const auto is = static_cast<std::size_t>(i);
      stage +=
          (i + lambda_local * outputs.index_offsets[ks][is]) * outputs.stage_probabilities[ks][is];
    }
    total += stage / width;
  }
  return total * range;
}

std::vector<float> softmax(std::span<const float> logits) {
  std::vector<float> out(logits.size());
  if (logits.empty()) return out;
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    out[i] = std::exp(logits[i] - top);
    sum += out[i];
  }
  for (float& v : out) v = static_cast<float>(v / sum);
  return out;
}

namespace {

// The head's values as probabilities: finite, non-negative, renormalised.
std::optional<std::vector<float>> probabilities_of(std::span<const float> head,
                                                   std::size_t classes) {
  if (head.size() != classes) return std::nullopt;
  double sum = 0.0;
  for (const float v : head) {
    if (!std::isfinite(v) || v < 0.0f) return std::nullopt;
    sum += v;
  }
  if (!(sum > 0.0)) return std::nullopt;
  std::vector<float> out(classes);
  for (std::size_t i = 0; i < classes; ++i) out[i] = static_cast<float>(head[i] / sum);
  return out;
}

}  // namespace

std::optional<EthnicityEstimate> decode_ethnicity(std::span<const float> race_output) {
  const auto p = probabilities_of(race_output, kEthnicityLabels.size());
  if (!p) return std::nullopt;
  EthnicityEstimate out;
  std::copy(p->begin(), p->end(), out.probabilities.begin());
  const auto best = std::max_element(out.probabilities.begin(), out.probabilities.end());
  out.label =
      std::string(kEthnicityLabels[static_cast<std::size_t>(best - out.probabilities.begin())]);
  return out;
}

std::optional<float> decode_gear_male(std::span<const float> gender_output) {
  const auto p = probabilities_of(gender_output, 2);
  if (!p) return std::nullopt;
  return (*p)[0];  // index 0 = male, 1 = female
}

namespace {

class Estimator final : public AttributeEstimator {
 public:
  Estimator(const infer::ModelStore& store, const AttributeOptions& options) {
    const auto add = [&](bool enabled, const std::string& model, const std::string& attribute) {
      if (!enabled) return;
      auto loaded = AttributeModel::create(model, store, options.input);
      if (loaded->attribute() != attribute) {
        throw UsageError("attribute model '" + model + "' estimates " + loaded->attribute() +
                         ", not " + attribute);
      }
      models_.push_back(std::move(loaded));
    };
    add(options.age, options.age_model, "age");
    add(options.gender, options.gender_model, "gender");
    add(options.emotion, options.emotion_model, "emotion");
    // Opt-in only (GDPR Art. 9): without the switch the model is never opened.
    add(options.sensitive, options.ethnicity_model, "ethnicity");
  }

  const std::vector<std::unique_ptr<AttributeModel>>& models() const override { return models_; }

  FaceAttributes estimate(const Image& image, const detect::Detection& face) const override {
    FaceAttributes out;
    for (const auto& model : models_) model->estimate(image, face, out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<AttributeModel>> models_;
};

}  // namespace

std::unique_ptr<AttributeEstimator> AttributeEstimator::create(const infer::ModelStore& store,
                                                               const AttributeOptions& options) {
  return std::make_unique<Estimator>(store, options);
}

}  // namespace likeness::attributes
