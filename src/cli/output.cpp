// Output helpers shared by several subcommands (declared in commands.h).
#include "cli/commands.h"
#include "likeness/library/library.h"

namespace likeness::cli {

nlohmann::json quality_json(const quality::QualityMeasures& q) {
  auto angle = [&](float degrees) -> nlohmann::json {
    return q.has_pose ? nlohmann::json(degrees) : nlohmann::json(nullptr);
  };
  return {{"overall", q.overall},
          {"high", q.high},
          {"formula", quality::to_string(q.formula)},
          {"sharpness", q.sharpness},
          {"contrast", q.contrast},
          {"size", q.size},
          {"pose", q.pose},
          {"exposure", q.exposure},
          {"yaw", angle(q.angles.yaw_deg)},
          {"pitch", angle(q.angles.pitch_deg)},
          {"roll", angle(q.angles.roll_deg)},
          {"raw",
           {{"laplacian_variance", q.laplacian_variance},
            {"grey_std", q.grey_std},
            {"face_area_px", q.face_area_px},
            {"over_exposed_share", q.over_exposed_share},
            {"under_exposed_share", q.under_exposed_share}}}};
}

}  // namespace likeness::cli
