// Whether the models a library or server test needs are installed: the
// default detector and landmarks, and at least one recognition model of the
// ensemble (a missing member is skipped by the recognizer; what those tests
// check does not depend on which members describe the faces).
#pragma once

#include "likeness/infer/model_store.h"
#include "likeness/match/embedded_calibration.h"

namespace likeness::testing {

inline bool pipeline_models_installed(const infer::ModelStore& store) {
  bool any_member = false;
  for (const auto& m : match::embedded_calibration().members()) {
    any_member = any_member || store.check(m.model).status == infer::ModelStatus::ok;
  }
  return any_member && store.check("ultraface_rfb320").status == infer::ModelStatus::ok &&
         store.check("faceplugin_landmark_68").status == infer::ModelStatus::ok;
}

}  // namespace likeness::testing
