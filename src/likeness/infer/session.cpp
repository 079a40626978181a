#include "likeness/infer/session.h"

#include <onnxruntime_cxx_api.h>
#include <onnxruntime_session_options_config_keys.h>
#include <pthread.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <numeric>
#include <optional>
#include <sstream>
#include <thread>

#include "likeness/core/error.h"
#include "likeness/infer/prelu_rewrite.h"

namespace likeness::infer {

namespace {

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << ']';
  return out.str();
}

// Creating ONNX Runtime's environment walks /proc/self/cmdline with a
// recursive matcher whose depth grows with the command line's length: with a
// few hundred photo paths on the command line (`likeness detect *.jpg`) it
// overflows the default 8 MiB main-thread stack. So the environment is made on
// a helper thread whose stack is sized from the command line (it is only
// reserved address space; pages are touched as the recursion needs them).
std::size_t stack_bytes_for_environment() {
  std::size_t cmdline_bytes = 0;
  if (std::FILE* file = std::fopen("/proc/self/cmdline", "rb")) {
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) cmdline_bytes += n;
    std::fclose(file);
  }
  // Measured: ~200 bytes of stack per command-line byte; keep a 4x margin.
  return (std::size_t{16} << 20) + cmdline_bytes * 1024;
}

struct EnvironmentMaker {
  Ort::Env* env = nullptr;
  std::string error;
};

void* make_environment(void* argument) {
  auto* maker = static_cast<EnvironmentMaker*>(argument);
  try {
    maker->env = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "likeness");
  } catch (const std::exception& e) {
    maker->error = e.what();
  }
  return nullptr;
}

// ONNX Runtime wants exactly one environment per process; it owns the logging
// and the (unused here) global thread pools. Never destroyed: sessions may
// outlive static destruction order.
Ort::Env& environment() {
  static Ort::Env* env = [] {
    EnvironmentMaker maker;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, stack_bytes_for_environment());
    pthread_t thread;
    if (pthread_create(&thread, &attributes, make_environment, &maker) == 0) {
      pthread_join(thread, nullptr);
    } else {
      make_environment(&maker);  // no thread available: try on this stack
    }
    pthread_attr_destroy(&attributes);
    if (!maker.env) throw ModelError("cannot start ONNX Runtime: " + maker.error);
    return maker.env;
  }();
  return *env;
}

// The kernel of prelu_rewrite.h's fused node: y = x > 0 ? x : x * (slope[c]
// * slope_scale) over an NCHW tensor, slope per channel. The same expression
// as ONNX Runtime's own PRelu, hence the same bits.
struct FastPReluKernel {
  explicit FastPReluKernel(const OrtKernelInfo* info)
      : slope_scale_(Ort::ConstKernelInfo(info).GetAttribute<float>("slope_scale")) {}

  void Compute(OrtKernelContext* raw_context) const {
    Ort::KernelContext context(raw_context);
    const Ort::ConstValue x = context.GetInput(0);
    const Ort::ConstValue slope = context.GetInput(1);
    const std::vector<int64_t> shape = x.GetTensorTypeAndShapeInfo().GetShape();
    const auto slopes = static_cast<int64_t>(slope.GetTensorTypeAndShapeInfo().GetElementCount());
    if (shape.size() != 4 || shape[1] != slopes) {
      throw Ort::Exception("likeness PRelu: expects an NCHW input and one slope per channel",
                           ORT_INVALID_ARGUMENT);
    }
    Ort::UnownedValue y = context.GetOutput(0, shape);
    const float* in = x.GetTensorData<float>();
    const float* s = slope.GetTensorData<float>();
    float* out = y.GetTensorMutableData<float>();
    const int64_t plane = shape[2] * shape[3];
    for (int64_t n = 0; n < shape[0]; ++n) {
      for (int64_t c = 0; c < slopes; ++c) {
        const float k = s[c] * slope_scale_;
        const float* src = in + (n * slopes + c) * plane;
        float* dst = out + (n * slopes + c) * plane;
        int64_t i = 0;
#if defined(__SSE2__)
        // Without branches: the signs are random, a branch mispredicts half
        // the time (that made a plain loop slower than ONNX Runtime's PRelu).
        const __m128 zero = _mm_setzero_ps();
        const __m128 kk = _mm_set1_ps(k);
        for (; i + 4 <= plane; i += 4) {
          const __m128 v = _mm_loadu_ps(src + i);
          const __m128 positive = _mm_cmpgt_ps(v, zero);
          _mm_storeu_ps(dst + i, _mm_or_ps(_mm_and_ps(positive, v),
                                           _mm_andnot_ps(positive, _mm_mul_ps(v, kk))));
        }
#endif
        for (; i < plane; ++i) dst[i] = src[i] > 0.0f ? src[i] : src[i] * k;
      }
    }
  }

  float slope_scale_;
};

template <typename Op>
struct FastPReluOpBase : Ort::CustomOpBase<Op, FastPReluKernel> {
  void* CreateKernel(const OrtApi& /*api*/, const OrtKernelInfo* info) const {
    return new FastPReluKernel(info);
  }
  const char* GetExecutionProviderType() const { return "CPUExecutionProvider"; }
  size_t GetInputTypeCount() const { return 2; }
  ONNXTensorElementDataType GetInputType(size_t /*index*/) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t /*index*/) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

struct FastPReluOp : FastPReluOpBase<FastPReluOp> {
  const char* GetName() const { return internal::kFastPReluOp; }
  // The output has the input's shape.
  static Ort::Status InferOutputShape(Ort::ShapeInferContext& context) {
    return context.SetOutputShape(0, context.GetInputShape(0));
  }
};

struct FastPReluDynamicOp : FastPReluOpBase<FastPReluDynamicOp> {
  const char* GetName() const { return internal::kFastPReluDynamicOp; }
};

// Registered with every session that loads a rewritten model; lives as long as
// the process (sessions keep pointers to it).
const Ort::CustomOpDomain& fast_op_domain() {
  static const Ort::CustomOpDomain* domain = [] {
    static FastPReluOp prelu;
    static FastPReluDynamicOp prelu_dynamic;
    auto* d = new Ort::CustomOpDomain(internal::kFastOpDomain);
    d->Add(&prelu);
    d->Add(&prelu_dynamic);
    return d;
  }();
  return *domain;
}

// The model's bytes, or nullopt when the file cannot be read (ONNX Runtime
// then reports the problem in its own words).
std::optional<std::string> read_model(const std::filesystem::path& model_file) {
  std::ifstream in(model_file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return bytes;
}

// A session on the model with its PReLUs fused (prelu_rewrite.h): with static
// shapes if ONNX Runtime accepts that, else without. A null session when
// there is nothing to fuse or neither rewrite loads; the caller then loads the
// file as it is, so a rewrite can cost speed but never a working model.
Ort::Session fused_session(const std::filesystem::path& model_file,
                           const Ort::SessionOptions& ort_options) {
  const auto bytes = read_model(model_file);
  if (!bytes) return Ort::Session{nullptr};
  for (const bool static_shapes : {true, false}) {
    const auto rewritten = internal::rewrite_prelu(*bytes, static_shapes);
    if (!rewritten) return Ort::Session{nullptr};
    try {
      return Ort::Session(environment(), rewritten->model.data(), rewritten->model.size(),
                          ort_options);
    } catch (const Ort::Exception&) {
      // Try the other form, then the original.
    }
  }
  return Ort::Session{nullptr};
}

TensorInfo describe(const std::string& name, const Ort::TypeInfo& type) {
  TensorInfo info;
  info.name = name;
  if (type.GetONNXType() != ONNX_TYPE_TENSOR) {
    info.is_float = false;
    return info;
  }
  auto tensor = type.GetTensorTypeAndShapeInfo();
  info.shape = tensor.GetShape();
  info.is_float = tensor.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  return info;
}

// Flushes denormal floats to zero on this thread for its lifetime and then
// restores the thread's own setting. ONNX Runtime applies its
// set_denormal_as_zero option to its pool threads and to the thread that
// creates the session, but with one intra-op thread a model runs on the
// caller's thread, which only had the setting by inheritance when it was
// started from the creating thread: models loaded in parallel on helper
// threads then ran with denormals, the face models' PReLU/BatchNorm chains at
// about half speed (indexing twice as slow, 2026-11-28).
class DenormalsAsZero {
 public:
  explicit DenormalsAsZero(bool on) {
#if defined(__SSE2__)
    if (!on) return;
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
    active_ = true;
#else
    (void)on;
#endif
  }
  ~DenormalsAsZero() {
#if defined(__SSE2__)
    if (active_) _mm_setcsr(saved_);
#endif
  }
  DenormalsAsZero(const DenormalsAsZero&) = delete;
  DenormalsAsZero& operator=(const DenormalsAsZero&) = delete;

 private:
  static constexpr unsigned kFlushToZero = 0x8000;       // MXCSR.FTZ
  static constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR.DAZ
  unsigned saved_ = 0;
  bool active_ = false;
};

class OrtSession final : public Session {
 public:
  OrtSession(const std::filesystem::path& model_file, const SessionOptions& options)
      : path_(model_file), denormal_as_zero_(options.denormal_as_zero) {
    Ort::SessionOptions ort_options;
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    ort_options.SetIntraOpNumThreads(threads);
    ort_options.SetInterOpNumThreads(1);
    ort_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    if (options.denormal_as_zero) {
      ort_options.AddConfigEntry(kOrtSessionOptionsConfigSetDenormalAsZero, "1");
    }
    if (options.fuse_prelu) {
      Ort::SessionOptions fused_options = ort_options.Clone();
      fused_options.Add(fast_op_domain());
      session_ = fused_session(model_file, fused_options);
    }
    if (!session_) session_ = Ort::Session(environment(), model_file.c_str(), ort_options);

    Ort::AllocatorWithDefaultOptions allocator;
    for (size_t i = 0; i < session_.GetInputCount(); ++i) {
      inputs_.push_back(describe(session_.GetInputNameAllocated(i, allocator).get(),
                                 session_.GetInputTypeInfo(i)));
    }
    for (size_t i = 0; i < session_.GetOutputCount(); ++i) {
      outputs_.push_back(describe(session_.GetOutputNameAllocated(i, allocator).get(),
                                  session_.GetOutputTypeInfo(i)));
    }
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  const std::filesystem::path& path() const override { return path_; }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const override {
    std::vector<std::string> names;
    for (const auto& output : outputs_) names.push_back(output.name);
    return run(inputs, names);
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& output_names) const override {
    check_inputs(inputs);
    auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<Ort::Value> values;
    std::vector<const char*> input_names;
    for (size_t i = 0; i < inputs.size(); ++i) {
      // ORT does not write to inputs; the const_cast only satisfies its C signature.
      values.push_back(Ort::Value::CreateTensor<float>(
          memory, const_cast<float*>(inputs[i].data.data()), inputs[i].data.size(),
          inputs[i].shape.data(), inputs[i].shape.size()));
      input_names.push_back(inputs_[i].name.c_str());
    }
    std::vector<const char*> names;
    for (const auto& name : output_names) {
      if (std::none_of(outputs_.begin(), outputs_.end(),
                       [&](const TensorInfo& o) { return o.name == name; })) {
        throw UsageError("model " + path_.string() + " has no output named '" + name + "'");
      }
      names.push_back(name.c_str());
    }
    std::vector<Ort::Value> results;
    try {
      const DenormalsAsZero flush(denormal_as_zero_);
      results = session_.Run(Ort::RunOptions{nullptr}, input_names.data(), values.data(),
                             values.size(), names.data(), names.size());
    } catch (const Ort::Exception& e) {
      throw UsageError("running " + path_.filename().string() + " failed: " + e.what());
    }
    std::vector<Tensor> tensors;
    for (auto& value : results) {
      auto info = value.GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
        throw UsageError("output of " + path_.filename().string() +
                         " is not float32; Session::run only returns float tensors");
      }
      Tensor tensor;
      tensor.shape = info.GetShape();
      const float* data = value.GetTensorData<float>();
      tensor.data.assign(data, data + info.GetElementCount());
      tensors.push_back(std::move(tensor));
    }
    return tensors;
  }

 private:
  void check_inputs(const std::vector<Tensor>& inputs) const {
    const std::string model = path_.filename().string();
    if (inputs.size() != inputs_.size()) {
      throw UsageError(model + " takes " + std::to_string(inputs_.size()) + " input(s), got " +
                       std::to_string(inputs.size()));
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& want = inputs_[i].shape;
      const auto& got = inputs[i].shape;
      bool fits = want.size() == got.size();
      for (size_t d = 0; fits && d < want.size(); ++d) fits = want[d] < 0 || want[d] == got[d];
      if (!fits) {
        throw UsageError(model + " input '" + inputs_[i].name + "' expects shape " +
                         shape_to_string(want) + " (-1 = any), got " + shape_to_string(got));
      }
      if (static_cast<int64_t>(inputs[i].data.size()) != inputs[i].element_count()) {
        throw UsageError(model + " input '" + inputs_[i].name + "': shape " + shape_to_string(got) +
                         " needs " + std::to_string(inputs[i].element_count()) + " values, got " +
                         std::to_string(inputs[i].data.size()));
      }
      if (!inputs_[i].is_float) {
        throw UsageError(model + " input '" + inputs_[i].name + "' is not float32");
      }
    }
  }

  std::filesystem::path path_;
  bool denormal_as_zero_ = true;
  // Ort::Session::Run is thread-safe but not declared const.
  mutable Ort::Session session_{nullptr};
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
};

}  // namespace

Tensor Tensor::zeros(std::vector<int64_t> shape) {
  Tensor tensor;
  tensor.shape = std::move(shape);
  tensor.data.assign(static_cast<size_t>(tensor.element_count()), 0.0f);
  return tensor;
}

int64_t Tensor::element_count() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

bool Session::accepts_batches() const {
  return !inputs().empty() && !inputs()[0].shape.empty() && inputs()[0].shape[0] < 0;
}

std::vector<Tensor> Session::run_batch(const std::vector<Tensor>& batch) const {
  if (batch.empty() || batch[0].shape.empty()) {
    throw UsageError("run_batch needs input tensors with a leading batch dimension");
  }
  const int64_t items = batch[0].shape[0];
  for (const auto& tensor : batch) {
    if (tensor.shape.empty() || tensor.shape[0] != items) {
      throw UsageError("run_batch: every input must hold the same number of items (" +
                       std::to_string(items) + ")");
    }
  }
  if (accepts_batches() || items == 1) return run(batch);

  std::vector<Tensor> stacked;
  for (int64_t item = 0; item < items; ++item) {
    std::vector<Tensor> single;
    for (const auto& tensor : batch) {
      Tensor slice;
      slice.shape = tensor.shape;
      slice.shape[0] = 1;
      const auto per_item = static_cast<size_t>(slice.element_count());
      const auto begin = tensor.data.begin() + static_cast<std::ptrdiff_t>(per_item * item);
      slice.data.assign(begin, begin + static_cast<std::ptrdiff_t>(per_item));
      single.push_back(std::move(slice));
    }
    std::vector<Tensor> outputs = run(single);
    if (stacked.empty()) {
      stacked = std::move(outputs);
      for (auto& output : stacked) {
        output.data.reserve(output.data.size() * static_cast<size_t>(items));
      }
    } else {
      for (size_t i = 0; i < outputs.size(); ++i) {
        stacked[i].data.insert(stacked[i].data.end(), outputs[i].data.begin(),
                               outputs[i].data.end());
      }
    }
  }
  for (auto& output : stacked) {
    if (!output.shape.empty()) output.shape[0] = items;
  }
  return stacked;
}

std::unique_ptr<Session> Session::create(const std::filesystem::path& model_file,
                                         const SessionOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model_file, ec)) {
    throw ModelError("model file " + model_file.string() +
                     " is missing; run `scripts/setup.sh models` to fetch and verify the models");
  }
  try {
    return std::make_unique<OrtSession>(model_file, options);
  } catch (const Ort::Exception& e) {
    throw ModelError("ONNX Runtime cannot load " + model_file.string() + ": " + e.what() +
                     "; the file may be corrupt: run `likeness models verify`, then "
                     "`scripts/setup.sh models` to repair it");
  }
}

}  // namespace likeness::infer
