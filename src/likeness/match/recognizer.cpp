#include "likeness/match/recognizer.h"

#include <algorithm>
#include <future>

#include "likeness/core/error.h"
#include "likeness/match/embedded_calibration.h"

namespace likeness::match {
namespace {

// The quality formula the calibration was learned with (its weights adapt to
// that formula's scores).
quality::Formula formula_of(const Calibration& calibration) {
  const auto& p = calibration.provenance();
  if (p.is_object() && p.contains("quality_formula") && p["quality_formula"].is_string()) {
    return quality::parse_formula(p["quality_formula"].get<std::string>());
  }
  return quality::Formula::classic;
}

class EnsembleRecognizer final : public Recognizer {
 public:
  EnsembleRecognizer(const infer::ModelStore& store, const RecognizerOptions& options)
      : calibration_(options.calibration ? *options.calibration : embedded_calibration()),
        formula_(formula_of(calibration_)),
        min_quality_(options.min_quality) {
    if (!(min_quality_ >= 0.0f && min_quality_ <= 1.0f)) {
      throw UsageError("min_quality must be in [0, 1]");
    }
    const auto& all = calibration_.members();
    if (options.model != "ensemble") {
      const auto index = calibration_.member_index(options.model);
      if (!index) {
        std::string known;
        for (const auto& m : all) known += (known.empty() ? "" : ", ") + m.model;
        throw UsageError("model '" + options.model + "' has no calibration (known: " + known +
                         ", or ensemble)");
      }
      only_ = *index;
    }
    // The members load at the same time: loading is most of a short
    // command's run (ONNX Runtime optimising each graph, dlib reading its
    // shape model), and each load is single-threaded.
    std::vector<std::future<std::unique_ptr<embed::Embedder>>> loading;
    for (std::size_t i = 0; i < all.size(); ++i) {
      names_.push_back(all[i].model);
      if (only_ && *only_ != i) {
        loading.emplace_back();
        continue;
      }
      const embed::EmbedderOptions embedder_options{.flip_tta = all[i].flip_tta,
                                                    .threads = options.threads,
                                                    .alignment_tta = all[i].alignment_tta};
      loading.push_back(
          std::async(std::launch::async, [&store, model = all[i].model, embedder_options] {
            return embed::Embedder::create(model, store, embedder_options);
          }));
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      std::unique_ptr<embed::Embedder> embedder;
      if (loading[i].valid()) {
        try {
          embedder = loading[i].get();
        } catch (const ModelError& e) {
          // Skipped, not fatal: the fusion renormalises over the other models.
          skipped_.push_back(all[i].model + ": " + e.what());
        }
      }
      embedders_.push_back(std::move(embedder));
    }
    if (std::none_of(embedders_.begin(), embedders_.end(),
                     [](const auto& e) { return e != nullptr; })) {
      std::string why;
      for (const auto& s : skipped_) why += "\n  " + s;
      throw ModelError("no recognition model could be loaded:" + why);
    }
  }

  const std::vector<std::string>& members() const override { return names_; }
  const std::vector<std::string>& skipped() const override { return skipped_; }
  const Calibration& calibration() const override { return calibration_; }
  float min_quality() const override { return min_quality_; }

  FaceDescription describe(const Image& image, const detect::Detection& face) const override {
    FaceDescription d;
    d.quality = quality::assess(image, face, {.formula = formula_});
    d.searchable = d.quality.overall >= min_quality_;
    d.member_vectors.resize(embedders_.size());
    std::vector<std::span<const float>> parts;
    bool any = false;
    for (std::size_t i = 0; i < embedders_.size(); ++i) {
      if (!embedders_[i]) continue;
      try {
        auto e = embedders_[i]->embed(image, face);
        if (e) {
          d.member_vectors[i] = std::move(e->values);
          any = true;
        }
      } catch (const std::exception& e) {
        // A model that breaks on one face must not lose the others' answer.
        d.warnings.push_back(names_[i] + ": " + e.what());
      }
    }
    for (const auto& v : d.member_vectors) parts.emplace_back(v);
    if (any) d.fused = calibration_.fuse_vectors(parts);
    return d;
  }

  Comparison compare(const FaceDescription& a, const FaceDescription& b) const override {
    Comparison c;
    c.pair_quality = std::min(a.quality.overall, b.quality.overall);
    PairEvidence evidence;
    evidence.quality = c.pair_quality;
    const auto& all = calibration_.members();
    for (std::size_t i = 0; i < all.size(); ++i) {
      std::optional<float> s;
      const bool usable = (!only_ || *only_ == i) && i < a.member_vectors.size() &&
                          i < b.member_vectors.size() && !a.member_vectors[i].empty() &&
                          a.member_vectors[i].size() == b.member_vectors[i].size();
      if (usable) s = cosine_similarity(a.member_vectors[i], b.member_vectors[i]);
      evidence.similarity.push_back(s);
      if (only_ && *only_ != i) continue;
      MemberComparison m;
      m.model = all[i].model;
      m.cosine_threshold = all[i].cosine_threshold;
      if (s) {
        m.compared = true;
        m.cosine = *s;
        m.probability = calibration_.member_probability(i, *s);
        m.same_person = *s > all[i].cosine_threshold;
      }
      c.members.push_back(m);
    }
    if (only_) {
      const MemberComparison& m = c.members.front();
      c.decided = m.compared;
      c.probability = m.probability;
      c.same_person = m.same_person;
      c.threshold = calibration_.member_probability(*only_, static_cast<float>(m.cosine_threshold));
    } else {
      const EnsembleScore score = calibration_.score(evidence);
      c.decided = score.members_used > 0;
      c.probability = score.probability;
      c.threshold = calibration_.probability_threshold();
      c.same_person = c.decided && score.probability > c.threshold;
    }
    if (!a.fused.empty() && a.fused.size() == b.fused.size()) {
      c.fused_similarity = fused_similarity(a.fused, b.fused);
    }
    return c;
  }

 private:
  Calibration calibration_;
  quality::Formula formula_;
  float min_quality_;
  std::optional<std::size_t> only_;
  std::vector<std::string> names_;
  std::vector<std::string> skipped_;
  std::vector<std::unique_ptr<embed::Embedder>> embedders_;  // null = skipped or not used
};

}  // namespace

std::unique_ptr<Recognizer> Recognizer::create(const infer::ModelStore& store,
                                               const RecognizerOptions& options) {
  return std::make_unique<EnsembleRecognizer>(store, options);
}

}  // namespace likeness::match
