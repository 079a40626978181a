// Output helpers shared by several subcommands (declared in commands.h).
#include "cli/commands.h"
#include "likeness/library/library.h"
#include "likeness/library/library_json.h"

namespace likeness::cli {

nlohmann::json quality_json(const quality::QualityMeasures& q) {
  nlohmann::json out = library::measured_quality_json(q);
  out["high"] = q.high;
  out["formula"] = quality::to_string(q.formula);
  out["raw"] = {{"laplacian_variance", q.laplacian_variance},
                {"grey_std", q.grey_std},
                {"face_area_px", q.face_area_px},
                {"over_exposed_share", q.over_exposed_share},
                {"under_exposed_share", q.under_exposed_share}};
  return out;
}

}  // namespace likeness::cli
