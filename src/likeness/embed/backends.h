// Internal: the recognition backends behind Embedder::create(). Not public API.
#pragma once

#include <memory>

#include "likeness/embed/embedder.h"

namespace likeness::embed::internal {

// Per-model defaults measured on LFW (bench/lfw_bench, docs/recognition.md).
struct ModelDefaults {
  bool flip_tta = false;
  float zoom = 1.0f;  // alignment template zoom about the crop centre
  bool alignment_tta = false;
};
ModelDefaults defaults_for(std::string_view name);

std::unique_ptr<Embedder> make_onnx_embedder(std::string_view name, const infer::ModelStore& store,
                                             const EmbedderOptions& options);
std::unique_ptr<Embedder> make_dlib_embedder(const infer::ModelStore& store,
                                             const EmbedderOptions& options);

}  // namespace likeness::embed::internal
