#include "likeness/match/embedded_calibration.h"

#include <nlohmann/json.hpp>

#include "likeness/core/error.h"

namespace likeness::match {

const Calibration& embedded_calibration() {
  static const Calibration calibration = [] {
    try {
      return Calibration::from_json(nlohmann::json::parse(embedded_calibration_json()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(std::string("the compiled-in models/calibration.json is not valid JSON: ") +
                  e.what());
    }
  }();
  return calibration;
}

}  // namespace likeness::match
