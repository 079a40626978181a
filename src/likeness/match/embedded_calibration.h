// The calibration the product ships: models/calibration.json (written by
// `lfw_bench --ensemble --write-calibration`, docs/benchmarks.md), compiled
// into the binary so that it always matches the code.
#pragma once

#include <string_view>

#include "likeness/match/ensemble.h"

namespace likeness::match {

// The file's text, as compiled in.
std::string_view embedded_calibration_json();

// Parsed once (thread-safe). Throws Error when the compiled-in file is
// malformed (a build from a broken checkout; re-run the command above).
const Calibration& embedded_calibration();

}  // namespace likeness::match
