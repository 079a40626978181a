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
  if (!attributes.models.empty()) out["model"] = attributes.models;
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
      if (value.is_string()) out.models[key] = value.get<std::string>();
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
