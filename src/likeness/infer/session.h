// A small wrapper over ONNX Runtime: one session per model file.
//
//   auto session = likeness::infer::Session::create("fr_feature.onnx", {.threads = 1});
//   likeness::infer::Tensor input{{1, 3, 112, 112}, pixels};
//   std::vector<likeness::infer::Tensor> out = session->run({input});
//
// ONNX Runtime never appears in this header, so callers do not depend on it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace likeness::infer {

// A dense float32 tensor in row-major order. data.size() must equal the product of shape.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  static Tensor zeros(std::vector<int64_t> shape);
  int64_t element_count() const;
};

// What a model declares for one of its inputs or outputs. A dimension of -1 is
// dynamic (usually the batch dimension).
struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  bool is_float = true;  // false for inputs/outputs of other element types
};

struct SessionOptions {
  // Intra-op threads. 0 = all cores (one big job); pass 1 when the caller
  // runs several sessions in parallel workers.
  int threads = 0;
  // Treat denormal floats as zero. Several face models produce denormals in
  // PReLU/BatchNorm chains; flushing them is ~7x faster with identical results.
  bool denormal_as_zero = true;
  // Replace the model's PReLU activations (ONNX PRelu, or the relu(x) + (x -
  // |x|) * a/2 form some converters emit) by a per-channel kernel of our own
  // at load time: same results to the bit, and fr_feature runs in about half
  // the time (infer/prelu_rewrite.h). The file itself is not changed.
  bool fuse_prelu = true;
};

class Session {
 public:
  // Opens an ONNX model. Throws ModelError (naming the file) when the file is
  // missing or ONNX Runtime cannot load it. Thread-safe to call.
  static std::unique_ptr<Session> create(const std::filesystem::path& model_file,
                                         const SessionOptions& options = {});

  virtual ~Session() = default;

  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;

  // Runs the model with one tensor per declared input (in declaration order)
  // and returns every declared output in declaration order. Throws UsageError
  // when a tensor's shape does not match the model's declared shape (the
  // message gives both). run() may be called from several threads at once.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) const = 0;

  // As run(), but returns only the named outputs, in the order asked.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                                  const std::vector<std::string>& output_names) const = 0;

  // Runs a batch: every input tensor carries N items stacked along its first
  // dimension (the model's batch dimension). When the model declares that
  // dimension dynamic, the batch goes through in one call; when it is fixed
  // (most exported face models say 1), the items run one by one and the
  // outputs are stacked again. Either way output i has N items along its first
  // dimension. Throws UsageError on inconsistent batch sizes.
  std::vector<Tensor> run_batch(const std::vector<Tensor>& inputs) const;

  // True when the first input's batch dimension is dynamic.
  bool accepts_batches() const;

  virtual const std::filesystem::path& path() const = 0;
};

}  // namespace likeness::infer
