// Internal to infer/: a load-time rewrite of the PReLU activations of a model
// into one fast per-channel kernel of our own (prelu_kernel.cpp).
//
// Why: ONNX Runtime's PRelu goes through its generic broadcasting code and,
// not being one of the ops its blocked (NCHWc) convolution path understands,
// also forces a layout conversion around every one. In fr_feature
// (faceplugin_feature) the 33 PRelu nodes took about half of the model's time.
// mobilefacenet spells PReLU as relu(x) + (x - |x|) * alpha/2, five element-wise
// nodes per activation (and, from its converter, a duplicate of the
// convolution feeding the second branch), which is slower still.
//
// Both forms are replaced by one node of domain kFastOpDomain, inputs
// (x, slope) and a float attribute "slope_scale": y = x > 0 ? x : x * (slope *
// slope_scale). slope_scale is 2 for the mobilefacenet form. The activation
// itself is exact: for x <= 0 the original computes (2x) * (alpha/2) or
// x * alpha, and both are the rounding of the same real number, since scaling
// by 2 is exact.
//
// Only patterns that match exactly are rewritten (per-channel slopes stored as
// [C,1,1] or [1,C,1,1] initializers, intermediate values used by nothing
// else); anything this reader does not understand leaves the model untouched.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace likeness::infer::internal {

inline constexpr const char* kFastOpDomain = "ai.likeness";
// Two registrations of the same kernel: one that tells ONNX Runtime its output
// has its input's shape (so the graph keeps its static shapes and ONNX
// Runtime's fusions around the node stay as they were: fr_feature's outputs
// are then the same to the bit), and one that does not, for graphs where that
// shape function breaks ONNX Runtime's shape inference (mobilefacenet, whose
// batch dimension is symbolic; its outputs then differ from the original
// graph's by float rounding, ~3e-7).
inline constexpr const char* kFastPReluOp = "PRelu";
inline constexpr const char* kFastPReluDynamicOp = "PReluDynamic";

struct PReluRewrite {
  std::string model;  // the rewritten ModelProto bytes
  int fused = 0;      // activations replaced
  int removed = 0;    // nodes removed (the replaced ones and those left unused)
};

// The rewritten model, or nullopt when there is nothing to rewrite or the
// bytes are not a model this reader understands (ONNX Runtime then loads the
// file as it is and reports any problem itself).
// static_shapes: use kFastPReluOp, else kFastPReluDynamicOp.
std::optional<PReluRewrite> rewrite_prelu(std::string_view model, bool static_shapes);

}  // namespace likeness::infer::internal
