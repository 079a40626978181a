// Recognition models run by ONNX Runtime, fed an ArcFace-template crop.
#include <algorithm>
#include <cctype>
#include <string>

#include "likeness/align/align.h"
#include "likeness/core/error.h"
#include "likeness/embed/backends.h"

namespace likeness::embed::internal {
namespace {

// value = x * scale + offset, x the 0..255 pixel value.
struct PixelScaling {
  float scale = 1.0f;
  float offset = 0.0f;
};

std::string squeeze(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

// The manifest states scaling as a formula; only these forms are understood,
// so a typo there fails loudly instead of silently feeding the wrong range.
std::optional<PixelScaling> parse_scaling(std::string_view text) {
  const std::string s = squeeze(text);
  if (s.starts_with("none")) return PixelScaling{1.0f, 0.0f};
  if (s == "(x-127.5)/128") return PixelScaling{1.0f / 128.0f, -127.5f / 128.0f};
  if (s == "(x-127.5)/127.5" || s == "x/127.5-1") return PixelScaling{1.0f / 127.5f, -1.0f};
  if (s == "x/255") return PixelScaling{1.0f / 255.0f, 0.0f};
  return std::nullopt;
}

class OnnxEmbedder final : public Embedder {
 public:
  OnnxEmbedder(std::string_view name, const infer::ModelStore& store,
               const EmbedderOptions& options)
      : name_(name) {
    const infer::ModelSpec& spec = store.spec(name);
    const nlohmann::json& input = spec.input;
    const std::string where = "manifest entry '" + spec.name + "' input";
    const std::string layout = input.value("layout", std::string());
    const auto shape = input.value("shape", std::vector<int64_t>{});
    if (shape.size() != 4 || !(layout.starts_with("NCHW") || layout.starts_with("NHWC"))) {
      throw ModelError(where + ": need a 4-d shape and layout NCHW or NHWC");
    }
    nchw_ = layout.starts_with("NCHW");
    size_ = static_cast<int>(nchw_ ? shape[2] : shape[1]);
    if (size_ <= 0 || (nchw_ ? shape[3] : shape[2]) != size_) {
      throw ModelError(where + ": need a square input");
    }

    const std::string order = options.channel_order.empty()
                                  ? input.value("channel_order", std::string())
                                  : options.channel_order;
    if (order != "RGB" && order != "BGR") {
      if (!options.channel_order.empty()) throw UsageError("channel_order must be RGB or BGR");
      throw ModelError(where + ": channel_order must be RGB or BGR");
    }
    bgr_ = order == "BGR";
    const std::string norm = options.normalization.empty()
                                 ? input.value("normalization", std::string())
                                 : options.normalization;
    const auto scaling = parse_scaling(norm);
    if (!scaling) {
      const std::string message = "unknown normalization '" + norm +
                                  "' (known: none, (x - 127.5) / 128, x / 127.5 - 1, x / 255)";
      if (options.normalization.empty()) throw ModelError(where + ": " + message);
      throw UsageError(message);
    }
    scaling_ = *scaling;

    const ModelDefaults defaults = defaults_for(name);
    flip_tta_ = options.flip_tta.value_or(defaults.flip_tta);
    const float zoom = options.zoom > 0.0f ? options.zoom : defaults.zoom;
    template_ = align::scaled_template(align::arcface_112(), size_, zoom);

    if (!spec.outputs.is_array() || spec.outputs.empty()) {
      throw ModelError("manifest entry '" + spec.name + "' lists no outputs");
    }
    output_ = spec.outputs[0].value("name", std::string());
    session_ = store.open_session(name, {.threads = options.threads});
    for (const auto& info : session_->outputs()) {
      if (info.name == output_ && !info.shape.empty())
        dimension_ = static_cast<int>(info.shape.back());
    }
    if (dimension_ <= 0) {
      throw ModelError("model '" + spec.name + "' has no usable output '" + output_ + "'; " +
                       infer::repair_hint());
    }
  }

  std::string_view name() const override { return name_; }
  int dimension() const override { return dimension_; }
  bool flip_tta() const override { return flip_tta_; }

 protected:
  std::vector<Image> crops(const Image& image, const detect::Detection& face) const override {
    std::vector<Image> out;
    if (!face.has_landmarks) return out;
    auto aligned = align::align_face(image, face.landmarks, template_);
    if (aligned) out.push_back(std::move(aligned->crop));
    return out;
  }

  std::vector<std::vector<float>> infer(const std::vector<Image>& crops) const override {
    const auto n = static_cast<int64_t>(crops.size());
    const auto side = static_cast<std::size_t>(size_);
    const std::size_t plane = side * side;
    infer::Tensor tensor;
    tensor.shape =
        nchw_ ? std::vector<int64_t>{n, 3, size_, size_} : std::vector<int64_t>{n, size_, size_, 3};
    tensor.data.resize(static_cast<std::size_t>(n) * plane * 3);
    for (std::size_t k = 0; k < crops.size(); ++k) {
      float* dst = tensor.data.data() + k * plane * 3;
      const cv::Mat& rgb = crops[k].rgb;
      for (int y = 0; y < size_; ++y) {
        const auto* row = rgb.ptr<unsigned char>(y);
        for (int x = 0; x < size_; ++x) {
          const std::size_t pixel =
              static_cast<std::size_t>(y) * side + static_cast<std::size_t>(x);
          for (std::size_t c = 0; c < 3; ++c) {
            const std::size_t src_channel = bgr_ ? 2 - c : c;
            const float v = static_cast<float>(row[static_cast<std::size_t>(x) * 3 + src_channel]) *
                                scaling_.scale +
                            scaling_.offset;
            if (nchw_) {
              dst[c * plane + pixel] = v;
            } else {
              dst[pixel * 3 + c] = v;
            }
          }
        }
      }
    }
    std::vector<infer::Tensor> outputs;
    if (session_->accepts_batches() || n == 1) {
      outputs = session_->run({tensor}, {output_});
    } else {
      // Fixed batch of 1: one call per crop.
      outputs.push_back({{n, dimension_}, {}});
      for (int64_t k = 0; k < n; ++k) {
        infer::Tensor one;
        one.shape = tensor.shape;
        one.shape[0] = 1;
        const auto per = static_cast<std::ptrdiff_t>(plane * 3);
        one.data.assign(tensor.data.begin() + per * k, tensor.data.begin() + per * (k + 1));
        auto out = session_->run({one}, {output_});
        outputs[0].data.insert(outputs[0].data.end(), out[0].data.begin(), out[0].data.end());
      }
    }
    const auto dim = static_cast<std::size_t>(dimension_);
    if (outputs.empty() || outputs[0].data.size() != static_cast<std::size_t>(n) * dim) {
      throw ModelError("model '" + name_ + "' returned an output of unexpected size; " +
                       infer::repair_hint());
    }
    std::vector<std::vector<float>> out(crops.size());
    for (std::size_t k = 0; k < crops.size(); ++k) {
      out[k].assign(outputs[0].data.begin() + static_cast<std::ptrdiff_t>(k * dim),
                    outputs[0].data.begin() + static_cast<std::ptrdiff_t>((k + 1) * dim));
    }
    return out;
  }

 private:
  std::string name_;
  std::unique_ptr<infer::Session> session_;
  std::string output_;
  int dimension_ = 0;
  int size_ = 112;
  bool nchw_ = true;
  bool bgr_ = false;
  bool flip_tta_ = false;
  PixelScaling scaling_;
  align::FaceTemplate template_;
};

}  // namespace

std::unique_ptr<Embedder> make_onnx_embedder(std::string_view name, const infer::ModelStore& store,
                                             const EmbedderOptions& options) {
  return std::make_unique<OnnxEmbedder>(name, store, options);
}

}  // namespace likeness::embed::internal
