// The ensemble part of the LFW benchmark: learns the calibration (per-model
// Platt scaling, quality-adaptive ensemble weights, thresholds at FAR 1e-3)
// on training folds only and scores each test fold with what was learned
// without it; compares the ensemble with every single model, adaptive with
// fixed weights, the calibrated probability with the four-metric fused
// similarity, and the quality formulas as filters. Optionally learns once more
// on all pairs and writes the calibration file the product ships.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace likeness::bench {

struct EnsembleStudyInput {
  // One entry per LFW pair.
  std::vector<std::size_t> image_a, image_b;  // indices into the per-image vectors below
  std::vector<int> labels;                    // 1 = same person
  std::vector<int> folds;                     // 0..9
  std::vector<std::string> image_names;       // per image, for the error list; may be empty
  struct Member {
    std::string model;
    std::vector<std::vector<float>> vectors;  // per image, L2-normalised; empty = none
    double ms_per_face = 0.0;                 // 0 = not timed
    bool flip_tta = false;                    // vectors are face + mirror sums
    bool alignment_tta = false;               // vectors are sums over two alignments
  };
  std::vector<Member> members;
  // Per image, the overall quality under each formula.
  std::vector<float> quality_classic, quality_full;
};

struct EnsembleStudyOptions {
  std::filesystem::path write_calibration;  // empty: do not write
  nlohmann::json provenance;                // stored in the calibration file
};

// Returns the report (JSON). Throws likeness::Error on inconsistent input.
nlohmann::json run_ensemble_study(const EnsembleStudyInput& input,
                                  const EnsembleStudyOptions& options);

}  // namespace likeness::bench
