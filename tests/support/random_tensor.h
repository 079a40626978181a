// A tensor of uniform random values in [-1, 1), reproducible from a seed: the
// input of the ONNX Runtime session tests.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "likeness/infer/session.h"

namespace likeness::testing {

inline infer::Tensor random_tensor(std::vector<int64_t> shape, unsigned seed) {
  infer::Tensor tensor = infer::Tensor::zeros(std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& value : tensor.data) value = uniform(rng);
  return tensor;
}

}  // namespace likeness::testing
