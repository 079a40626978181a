// Face attributes: estimated age, gender and expression of a detected face,
// and, only when explicitly enabled, a sensitive one (ethnicity).
//
//   auto store = likeness::infer::ModelStore::open();
//   auto estimator = likeness::attributes::AttributeEstimator::create(store, {});
//   likeness::attributes::FaceAttributes a = estimator->estimate(image, detection);
//   if (a.age) { a.age->years; a.age->low; a.age->high; }
//   std::string stored = likeness::attributes::to_json(a).dump();  // store::Face::attributes
//
// Each attribute is estimated by one model behind the AttributeModel interface
// (one backend per model family; see docs/attributes.md for what was measured):
//   age_ssrnet            FacePlugin fr_age.onnx, SSR-Net, 64x64 RGB (default for age)
//   gender_ssrnet         FacePlugin fr_gender.onnx, SSR-Net, 64x64 RGB
//   gender_minixception   oarriaga mini-Xception (human-models gender.json), 64x64 grey
//   emotion_minixception  oarriaga mini-Xception (human-models emotion.json), 64x64 grey
//   expression_densenet   FacePlugin fr_expression.onnx, DenseNet-121, 224x224 RGB
//   gender_gear           GEAR-Predictor (human-models gear.json), gender head, 198x198 RGB
//   ethnicity_gear        the same network's race head: SENSITIVE, opt-in only
// Every model sees a crop made by the alignment module (align/align.h): the
// face's five landmarks warped onto the ArcFace template, rescaled to the
// model's input size and zoomed out to the context the model was trained on.
//
// Sensitive attributes (ethnicity; GDPR Art. 9 special-category data) are off
// by default: only AttributeOptions::sensitive = true loads ethnicity_gear, and
// only then does FaceAttributes::ethnicity exist. They are stored apart, under
// "sensitive" (see to_json), and, like every attribute here, never feed search,
// ranking or clustering; attributes are descriptive only. docs/attributes.md
// states the model's categories, its training data and its limits.
//
// Errors: create() throws ModelError (naming the file and scripts/setup.sh
// models) when an enabled model is missing or corrupt, UsageError for an
// unknown model name. estimate() never throws for a face: a face that cannot
// be aligned gives empty attributes with a warning.
// Thread-safety: estimate() may be called concurrently from several threads.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/core/image.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"

namespace likeness::attributes {

// The seven basic expressions, in the order of FER2013 (the order every
// emotion output of this module uses, whatever the model's own order).
inline constexpr std::array<std::string_view, 7> kEmotionLabels = {
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};

struct AgeEstimate {
  float years = 0.0f;  // point estimate, years
  // A range that covers the model's photo-to-photo scatter (measured on LFW,
  // docs/attributes.md), years; it does not cover a systematic bias.
  float low = 0.0f, high = 0.0f;
};

struct GenderEstimate {
  std::string label;         // "female" or "male"
  float probability = 0.0f;  // of `label`, in [0.5, 1]
};

struct EmotionEstimate {
  std::string label;                     // the most probable of kEmotionLabels
  std::array<float, 7> probabilities{};  // kEmotionLabels order, sum 1
};

// The five categories of GEAR's race head, in the model's output order, with
// the names of its training labels (UTKFace, as GEAR-Predictor's
// dataPreparation.py maps them). They are the model's categories, not facts
// about anyone, and not a classification Likeness endorses (docs/attributes.md).
inline constexpr std::array<std::string_view, 5> kEthnicityLabels = {"white", "black", "asian",
                                                                     "indian", "others"};

// The help text of the CLI's --sensitive-attributes (analyze, index) and the
// one-line notice it prints to stderr when used: one wording for every command.
inline constexpr std::string_view kSensitiveAttributesHelp =
    "Also estimate ethnicity (GEAR's race head: five categories of its training data, as "
    "probabilities). Special-category data under GDPR Art. 9 (racial or ethnic origin): off by "
    "default because processing it needs the data subjects' explicit consent or another Art. 9 "
    "ground, and because the estimate is unreliable and biased (docs/attributes.md). Stored "
    "apart under \"sensitive\", never used for search, ranking or clustering, erased with the "
    "face.";
inline constexpr std::string_view kSensitiveAttributesNotice =
    "likeness: notice: --sensitive-attributes: estimating ethnicity, special-category data "
    "(GDPR Art. 9) that needs a lawful ground such as explicit consent; an unreliable, biased "
    "estimate from appearance (docs/attributes.md)";

// SENSITIVE (GDPR Art. 9): exists only when AttributeOptions::sensitive is on.
struct EthnicityEstimate {
  std::string label;                     // the most probable of kEthnicityLabels
  std::array<float, 5> probabilities{};  // kEthnicityLabels order, sum 1
};

struct FaceAttributes {
  std::optional<AgeEstimate> age;
  std::optional<GenderEstimate> gender;
  std::optional<EmotionEstimate> emotion;
  std::optional<EthnicityEstimate> ethnicity;  // sensitive: see above
  // Which model produced each attribute ("age" -> "age_ssrnet"; "ethnicity"
  // -> "ethnicity_gear", stored under "sensitive", not "model").
  std::map<std::string, std::string> models;
  // Why an enabled attribute is missing ("age_ssrnet: face could not be aligned").
  std::vector<std::string> warnings;

  bool empty() const { return !age && !gender && !emotion && !ethnicity; }
};

// The stored form (store::Face::attributes), the shape the web page reads:
//   {"age": {"years": 34.2, "low": 29, "high": 40},
//    "gender": {"label": "female", "probability": 0.93},
//    "emotion": {"label": "happy", "probabilities": {"angry": .., ..., "neutral": ..}},
//    "model": {"age": "age_ssrnet", ...}}
// and only when a sensitive attribute was estimated (AttributeOptions::sensitive),
// a separate key that nothing but display and export reads:
//    "sensitive": {"ethnicity": {"label": "...", "probabilities": {"white": .., ...}},
//                  "model": "ethnicity_gear"}
// Absent attributes are absent keys; warnings are not stored.
nlohmann::json to_json(const FaceAttributes& attributes);
// The inverse of to_json ("sensitive" goes back to `ethnicity` and
// models["ethnicity"] only). Returns nothing for empty text, text that is not
// JSON, or JSON that is not an object; keys it does not know are ignored.
std::optional<FaceAttributes> parse_attributes(std::string_view json_text);

// --- Output decoding (exposed for tests) -------------------------------------

// The nine outputs of an SSR-Net head (FacePlugin's fr_age / fr_gender), in
// the model's declared order: stage probabilities, the stage's dynamic range
// shift delta_k, and the index offsets eta of each stage's bins.
struct SsrNetOutputs {
  std::array<std::array<float, 3>, 3> stage_probabilities{};  // p_k, k = 1..3
  std::array<float, 3> delta_k{};
  std::array<std::array<float, 3>, 3> index_offsets{};  // eta_k
};

// SSR-Net's soft stagewise regression (Yang et al., IJCAI 2018, eq. 4-6):
//   y = V * sum_k  sum_i (i + lambda_local * eta_k[i]) * p_k[i]
//             / prod_{j<=k} (s_j * (1 + lambda_d * delta_j))
// with s_k = 3 bins per stage. V = 101 for age (years), 1 for gender (a score
// in about [0, 1]). lambda_local = lambda_d = 1 as trained. Pure.
double decode_ssrnet(const SsrNetOutputs& outputs, double range, double lambda_local = 1.0,
                     double lambda_d = 1.0);

// Numerically stable softmax. Pure; an empty input gives an empty output.
std::vector<float> softmax(std::span<const float> logits);

// GEAR's race head (already a softmax in the graph) as an estimate: the
// probabilities in kEthnicityLabels order, renormalised to sum 1, and the most
// probable label. Nothing for a wrong size or values that are not finite,
// negative or all zero (a broken model). Pure.
std::optional<EthnicityEstimate> decode_ethnicity(std::span<const float> race_output);
// GEAR's gender head [male, female] (GEAR-Predictor's ID_GENDER_MAP; @vladmandic/
// human's gear.ts reads it the same way) as the probability of "male".
// Nothing for a wrong size or a broken output. Pure.
std::optional<float> decode_gear_male(std::span<const float> gender_output);

// --- Models --------------------------------------------------------------------

// How a crop is fed to a model: value = (pixel / 255 - mean[c]) / std[c]
// per channel (RGB order, or grey = 0.299 R + 0.587 G + 0.114 B).
struct PixelNormalization {
  std::array<float, 3> mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> std{1.0f, 1.0f, 1.0f};
  bool bgr = false;  // feed channels as B, G, R
};

struct ModelInputOptions {
  // Overrides of the model's measured input convention (for benchmarks that
  // measure them again); unset = the convention docs/attributes.md records.
  std::optional<float> zoom{};  // ArcFace template zoom (< 1 = more context)
  std::optional<PixelNormalization> normalization{};
  // Also run the mirror image and average the answers. Off by default:
  // measured on LFW it changes the figures by about one point (docs/benchmarks.md)
  // and costs up to ten times as much per face.
  bool mirror = false;
  int threads = 1;  // ONNX Runtime intra-op threads
};

// One attribute model. Thread-safe: estimate() may run concurrently.
class AttributeModel {
 public:
  // Known names: age_ssrnet, gender_ssrnet, gender_minixception, gender_gear,
  // emotion_minixception, expression_densenet, ethnicity_gear (sensitive).
  // Throws UsageError for another name, ModelError for a missing or corrupt
  // model file.
  static std::unique_ptr<AttributeModel> create(std::string_view name,
                                                const infer::ModelStore& store,
                                                const ModelInputOptions& options = {});
  static std::vector<std::string> known_models();

  virtual ~AttributeModel() = default;
  virtual const std::string& name() const = 0;
  // "age", "gender", "emotion" or "ethnicity" (sensitive).
  virtual const std::string& attribute() const = 0;
  // Fills this model's attribute of `out` (and out.models) from the face in
  // `image` (its landmarks must be set). A face that cannot be aligned leaves
  // the attribute unset and adds a warning. Throws only on a model that
  // misbehaves at run time (wrong output shape): a broken installation.
  virtual void estimate(const Image& image, const detect::Detection& face,
                        FaceAttributes& out) const = 0;
};

struct AttributeOptions {
  bool age = true;
  bool gender = true;
  bool emotion = true;
  // Model per attribute (see AttributeModel::known_models).
  std::string age_model = "age_ssrnet";
  std::string gender_model = "gender_ssrnet";
  std::string emotion_model = "emotion_minixception";
  // SENSITIVE, GDPR Art. 9 special-category data: an estimated ethnicity.
  // Off by default and only ever on by the user's explicit choice
  // (--sensitive-attributes); when off, its model is not even loaded.
  bool sensitive = false;
  std::string ethnicity_model = "ethnicity_gear";
  ModelInputOptions input{};
};

// Every enabled attribute of a face, one model each.
class AttributeEstimator {
 public:
  // Opens the models of the enabled attributes (none when all are off).
  // Throws like AttributeModel::create, and UsageError when a model is named
  // for an attribute it does not estimate.
  static std::unique_ptr<AttributeEstimator> create(const infer::ModelStore& store,
                                                    const AttributeOptions& options = {});
  virtual ~AttributeEstimator() = default;

  // The loaded models, in the order age, gender, emotion, ethnicity.
  virtual const std::vector<std::unique_ptr<AttributeModel>>& models() const = 0;
  virtual FaceAttributes estimate(const Image& image, const detect::Detection& face) const = 0;
};

}  // namespace likeness::attributes
