// The attribute models' backends: SSR-Net heads (age, gender), softmax
// classifiers (gender, emotion) and GEAR's heads (gender, and the sensitive
// ethnicity, opt-in only). Their input conventions were measured on LFW
// (bench/attributes_bench.cpp, docs/attributes.md), not guessed.
#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "likeness/align/align.h"
#include "likeness/attributes/attributes.h"
#include "likeness/core/error.h"

namespace likeness::attributes {
namespace {

// The same statistics applied to the channels in B, G, R order: what the SSR-Net
// heads measure best with (docs/attributes.md), although FacePlugin's own
// JavaScript feeds R, G, B.
constexpr PixelNormalization kImageNetBgr{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, true};
// x / 127.5 - 1, i.e. [-1, 1] (oarriaga's preprocess_input(v2=True)).
constexpr PixelNormalization kMinusOneToOne{{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
constexpr PixelNormalization kUnit{{0.0f, 0.0f, 0.0f}, {1.0f, 1.0f, 1.0f}};

// How one model wants its crop. `zoom` scales the ArcFace template about the
// crop centre (< 1 shows more around the face), the measured counterpart of
// the loose detector boxes these models were trained on.
struct InputConvention {
  int size = 64;
  float zoom = 1.0f;
  bool nchw = true;
  bool grey = false;
  PixelNormalization normalization{};
};

// Half-width (years) of the age range: the 90th percentile of how far one
// photo's estimate lies from the median of the same person's photos, on the
// 62 LFW people with at least 20 photos, 15 photos each (`attributes_bench`,
// "scatter_p90_years", no mirror; docs/benchmarks.md). The photos of one LFW person span
// a few years, so this slightly overstates the model's own scatter. It says
// how much one photo's answer moves, not how right it is.
constexpr float kAgeScatterYears = 10.8f;

std::string model_error(const infer::Session& session, const std::string& what) {
  return "attribute model " + session.path().string() + ": " + what +
         "; the file does not match what Likeness expects, reinstall it with " +
         infer::repair_hint();
}

// Aligned crops of the face (and its mirror image when asked), 8-bit RGB.
std::vector<cv::Mat> face_crops(const Image& image, const detect::Detection& face,
                                const InputConvention& convention, bool mirror) {
  std::vector<cv::Mat> crops;
  if (!face.has_landmarks) return crops;
  const align::FaceTemplate tmpl =
      align::scaled_template(align::arcface_112(), convention.size, convention.zoom);
  const std::optional<align::AlignedFace> aligned = align::align_face(image, face.landmarks, tmpl);
  if (!aligned) return crops;
  crops.push_back(aligned->crop.rgb);
  if (mirror) {
    cv::Mat flipped;
    cv::flip(aligned->crop.rgb, flipped, 1);
    crops.push_back(flipped);
  }
  return crops;
}

// The crops as one batch tensor in the model's layout and normalisation.
infer::Tensor to_tensor(const std::vector<cv::Mat>& crops, const InputConvention& convention) {
  const int s = convention.size;
  const int channels = convention.grey ? 1 : 3;
  const auto n = static_cast<int64_t>(crops.size());
  infer::Tensor tensor = convention.nchw ? infer::Tensor::zeros({n, channels, s, s})
                                         : infer::Tensor::zeros({n, s, s, channels});
  const PixelNormalization& norm = convention.normalization;
  const std::size_t plane = static_cast<std::size_t>(s) * static_cast<std::size_t>(s);
  for (std::size_t item = 0; item < crops.size(); ++item) {
    float* out = tensor.data.data() + item * plane * static_cast<std::size_t>(channels);
    const cv::Mat& crop = crops[item];
    for (int y = 0; y < s; ++y) {
      const auto* row = crop.ptr<cv::Vec3b>(y);
      for (int x = 0; x < s; ++x) {
        const std::size_t pixel =
            static_cast<std::size_t>(y) * static_cast<std::size_t>(s) + static_cast<std::size_t>(x);
        const float r = row[x][0] / 255.0f, g = row[x][1] / 255.0f, b = row[x][2] / 255.0f;
        if (convention.grey) {
          out[pixel] = (0.299f * r + 0.587f * g + 0.114f * b - norm.mean[0]) / norm.std[0];
          continue;
        }
        const std::array<float, 3> rgb{r, g, b};
        for (std::size_t c = 0; c < 3; ++c) {
          const std::size_t source = norm.bgr ? 2 - c : c;
          const float value = (rgb[source] - norm.mean[c]) / norm.std[c];
          if (convention.nchw) {
            out[c * plane + pixel] = value;
          } else {
            out[pixel * 3 + c] = value;
          }
        }
      }
    }
  }
  return tensor;
}

InputConvention with_overrides(InputConvention convention, const ModelInputOptions& options) {
  if (options.zoom) convention.zoom = *options.zoom;
  if (options.normalization) convention.normalization = *options.normalization;
  return convention;
}

class ModelBase : public AttributeModel {
 public:
  // `manifest_name`: the model file's entry in models/manifest.json when it is
  // not `name` (one network behind two attribute models).
  ModelBase(std::string name, std::string attribute, const infer::ModelStore& store,
            const InputConvention& convention, const ModelInputOptions& options,
            const std::string& manifest_name = {})
      : name_(std::move(name)),
        attribute_(std::move(attribute)),
        convention_(with_overrides(convention, options)),
        mirror_(options.mirror) {
    session_ = store.open_session(manifest_name.empty() ? name_ : manifest_name,
                                  {.threads = options.threads});
  }

  const std::string& name() const override { return name_; }
  const std::string& attribute() const override { return attribute_; }

  void estimate(const Image& image, const detect::Detection& face,
                FaceAttributes& out) const override {
    const std::vector<cv::Mat> crops = face_crops(image, face, convention_, mirror_);
    if (crops.empty()) {
      out.warnings.push_back(name_ + ": the face could not be aligned (no landmarks)");
      return;
    }
    const std::vector<infer::Tensor> outputs = session_->run_batch({to_tensor(crops, convention_)});
    decode(outputs, crops.size(), out);
    out.models[attribute_] = name_;
  }

 protected:
  // Sets this model's attribute from the batch outputs (`items` crops).
  virtual void decode(const std::vector<infer::Tensor>& outputs, std::size_t items,
                      FaceAttributes& out) const = 0;

  const infer::Session& session() const { return *session_; }

 private:
  std::string name_, attribute_;
  InputConvention convention_;
  bool mirror_;
  std::unique_ptr<infer::Session> session_;
};

// FacePlugin's SSR-Net heads (fr_age, fr_gender): nine outputs per crop.
class SsrNetModel final : public ModelBase {
 public:
  SsrNetModel(std::string name, std::string attribute, double range, const infer::ModelStore& store,
              const InputConvention& convention, const ModelInputOptions& options)
      : ModelBase(std::move(name), std::move(attribute), store, convention, options),
        range_(range) {
    const auto& declared = session().outputs();
    const auto index_of = [&](const std::string& output, int64_t width) {
      for (std::size_t i = 0; i < declared.size(); ++i) {
        if (declared[i].name != output) continue;
        if (declared[i].shape.empty() || declared[i].shape.back() != width) {
          throw ModelError(model_error(
              session(), "output " + output + " should have " + std::to_string(width) + " values"));
        }
        return i;
      }
      throw ModelError(model_error(session(), "no output named " + output));
    };
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string stage = std::to_string(k + 1);
      probability_[k] = index_of("prob_stage_" + stage, 3);
      delta_[k] = index_of("stage" + stage + "_delta_k", 1);
      offset_[k] = index_of("index_offset_stage" + stage, 3);
    }
  }

 protected:
  void decode(const std::vector<infer::Tensor>& outputs, std::size_t items,
              FaceAttributes& out) const override {
    double sum = 0.0;
    for (std::size_t item = 0; item < items; ++item) {
      SsrNetOutputs ssr;
      for (std::size_t k = 0; k < 3; ++k) {
        ssr.delta_k[k] = outputs[delta_[k]].data.at(item);
        for (std::size_t i = 0; i < 3; ++i) {
          ssr.stage_probabilities[k][i] = outputs[probability_[k]].data.at(item * 3 + i);
          ssr.index_offsets[k][i] = outputs[offset_[k]].data.at(item * 3 + i);
        }
      }
      sum += decode_ssrnet(ssr, range_);
    }
    const double value = sum / static_cast<double>(items);
    if (attribute() == "age") {
      const auto years = static_cast<float>(std::max(0.0, value));
      out.age =
          AgeEstimate{years, std::max(0.0f, years - kAgeScatterYears), years + kAgeScatterYears};
    } else {
      // fr_gender's score runs from female (0) to male (1): measured on LFW
      // (docs/attributes.md). It is not calibrated; clamped to [0, 1].
      const auto male = static_cast<float>(std::clamp(value, 0.0, 1.0));
      out.gender = male >= 0.5f ? GenderEstimate{"male", male} : GenderEstimate{"female", 1 - male};
    }
  }

 private:
  double range_;
  std::array<std::size_t, 3> probability_{}, delta_{}, offset_{};
};

// A classifier with one output of class scores; `classes` names each of the
// model's classes in the model's order.
class ClassifierModel final : public ModelBase {
 public:
  ClassifierModel(std::string name, std::string attribute, std::vector<std::string> classes,
                  bool outputs_logits, const infer::ModelStore& store,
                  const InputConvention& convention, const ModelInputOptions& options)
      : ModelBase(std::move(name), std::move(attribute), store, convention, options),
        classes_(std::move(classes)),
        outputs_logits_(outputs_logits) {
    const auto& declared = session().outputs();
    if (declared.empty() || declared[0].shape.empty() ||
        declared[0].shape.back() != static_cast<int64_t>(classes_.size())) {
      throw ModelError(model_error(session(), "its first output should have " +
                                                  std::to_string(classes_.size()) + " classes"));
    }
  }

 protected:
  void decode(const std::vector<infer::Tensor>& outputs, std::size_t items,
              FaceAttributes& out) const override {
    const std::size_t n = classes_.size();
    std::vector<float> mean(n, 0.0f);
    for (std::size_t item = 0; item < items; ++item) {
      const std::span<const float> scores(outputs[0].data.data() + item * n, n);
      const std::vector<float> p =
          outputs_logits_ ? softmax(scores) : std::vector<float>(scores.begin(), scores.end());
      for (std::size_t c = 0; c < n; ++c) mean[c] += p[c] / static_cast<float>(items);
    }
    const auto probability_of = [&](std::string_view label) {
      for (std::size_t c = 0; c < n; ++c) {
        if (classes_[c] == label) return mean[c];
      }
      return 0.0f;
    };
    if (attribute() == "gender") {
      const float male = probability_of("male");
      out.gender = male >= 0.5f ? GenderEstimate{"male", male} : GenderEstimate{"female", 1 - male};
      return;
    }
    EmotionEstimate emotion;
    for (std::size_t e = 0; e < kEmotionLabels.size(); ++e) {
      emotion.probabilities[e] = probability_of(kEmotionLabels[e]);
    }
    const auto best = std::max_element(emotion.probabilities.begin(), emotion.probabilities.end());
    emotion.label =
        std::string(kEmotionLabels[static_cast<std::size_t>(best - emotion.probabilities.begin())]);
    out.emotion = emotion;
  }

 private:
  std::vector<std::string> classes_;
  bool outputs_logits_;
};

// GEAR-Predictor's network (human-models gear.json, manifest entry "gear"):
// three softmax heads, age (7 bins), gender [male, female] and race (5 UTKFace
// categories). One attribute model reads one head: gender_gear the gender head,
// ethnicity_gear (sensitive, opt-in) the race head. The age head is not used.
class GearModel final : public ModelBase {
 public:
  GearModel(std::string name, std::string attribute, const infer::ModelStore& store,
            const InputConvention& convention, const ModelInputOptions& options)
      : ModelBase(std::move(name), std::move(attribute), store, convention, options, "gear") {
    const std::string head = this->attribute() == "gender" ? "gender" : "race";
    const int64_t width = head == "gender" ? 2 : static_cast<int64_t>(kEthnicityLabels.size());
    const auto& declared = session().outputs();
    for (std::size_t i = 0; i < declared.size(); ++i) {
      if (declared[i].name != head) continue;
      if (declared[i].shape.empty() || declared[i].shape.back() != width) {
        throw ModelError(model_error(
            session(), "output " + head + " should have " + std::to_string(width) + " values"));
      }
      head_ = i;
      width_ = static_cast<std::size_t>(width);
      return;
    }
    throw ModelError(model_error(session(), "no output named " + head));
  }

 protected:
  void decode(const std::vector<infer::Tensor>& outputs, std::size_t items,
              FaceAttributes& out) const override {
    const std::vector<float>& data = outputs.at(head_).data;
    if (data.size() != items * width_) {
      throw ModelError(model_error(session(), "output has " + std::to_string(data.size()) +
                                                  " values for " + std::to_string(items) +
                                                  " faces"));
    }
    // The mean over the crop (and its mirror image), as the other models do.
    std::vector<float> mean(width_, 0.0f);
    for (std::size_t item = 0; item < items; ++item) {
      for (std::size_t c = 0; c < width_; ++c) {
        mean[c] += data[item * width_ + c] / static_cast<float>(items);
      }
    }
    if (attribute() == "gender") {
      const std::optional<float> male = decode_gear_male(mean);
      if (!male) throw ModelError(model_error(session(), "gender output is not a probability"));
      out.gender =
          *male >= 0.5f ? GenderEstimate{"male", *male} : GenderEstimate{"female", 1 - *male};
      return;
    }
    std::optional<EthnicityEstimate> ethnicity = decode_ethnicity(mean);
    if (!ethnicity) throw ModelError(model_error(session(), "race output is not a probability"));
    out.ethnicity = std::move(*ethnicity);
  }

 private:
  std::size_t head_ = 0, width_ = 0;
};

std::vector<std::string> fer2013_classes() {
  return {kEmotionLabels.begin(), kEmotionLabels.end()};
}

}  // namespace

std::vector<std::string> AttributeModel::known_models() {
  return {"age_ssrnet",           "gender_ssrnet",       "gender_minixception", "gender_gear",
          "emotion_minixception", "expression_densenet", "ethnicity_gear"};
}

std::unique_ptr<AttributeModel> AttributeModel::create(std::string_view name,
                                                       const infer::ModelStore& store,
                                                       const ModelInputOptions& options) {
  // Input conventions: measured on LFW (attributes_bench --variants,
  // docs/benchmarks.md "Face attributes"). Age: the lowest error against public
  // birth years; gender: the most photos of known public figures right.
  const InputConvention ssrnet_age{
      .size = 64, .zoom = 0.7f, .nchw = true, .normalization = kImageNetBgr};
  const InputConvention ssrnet_gender{
      .size = 64, .zoom = 0.8f, .nchw = true, .normalization = kImageNetBgr};
  const InputConvention minixception_gender{
      .size = 64, .zoom = 0.8f, .nchw = false, .grey = true, .normalization = kMinusOneToOne};
  // Emotion: the most photos checked by eye right (smiling vs neutral).
  const InputConvention minixception_emotion{
      .size = 64, .zoom = 1.0f, .nchw = false, .grey = true, .normalization = kMinusOneToOne};
  // Not measured better than [0, 1] (both separate ~9 of 12 checked photos);
  // FacePlugin's JavaScript feeds x / 255 RGB.
  const InputConvention densenet{.size = 224, .zoom = 0.8f, .nchw = true, .normalization = kUnit};
  // GEAR: trained on UTKFace's aligned and cropped faces resized to 198x198,
  // RGB, x / 255 (GEAR-Predictor dataGenerator.py; @vladmandic/human's gear.ts
  // feeds its face crop as 0..1 RGB too). The zoom was measured on LFW with the
  // gender head (docs/attributes.md).
  const InputConvention gear{.size = 198, .zoom = 1.0f, .nchw = false, .normalization = kUnit};
  if (name == "age_ssrnet") {
    return std::make_unique<SsrNetModel>(std::string(name), "age", 101.0, store, ssrnet_age,
                                         options);
  }
  if (name == "gender_ssrnet") {
    return std::make_unique<SsrNetModel>(std::string(name), "gender", 1.0, store, ssrnet_gender,
                                         options);
  }
  if (name == "gender_minixception") {
    return std::make_unique<ClassifierModel>(std::string(name), "gender",
                                             std::vector<std::string>{"female", "male"}, false,
                                             store, minixception_gender, options);
  }
  if (name == "gender_gear") {
    return std::make_unique<GearModel>(std::string(name), "gender", store, gear, options);
  }
  if (name == "ethnicity_gear") {
    return std::make_unique<GearModel>(std::string(name), "ethnicity", store, gear, options);
  }
  if (name == "emotion_minixception") {
    return std::make_unique<ClassifierModel>(std::string(name), "emotion", fer2013_classes(), false,
                                             store, minixception_emotion, options);
  }
  if (name == "expression_densenet") {
    return std::make_unique<ClassifierModel>(std::string(name), "emotion", fer2013_classes(), true,
                                             store, densenet, options);
  }
  std::string known;
  for (const std::string& model : known_models()) known += (known.empty() ? "" : ", ") + model;
  throw UsageError("unknown attribute model '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace likeness::attributes
