// dlib's ResNet-29 face recognition model ("dlib_face_recognition_resnet_model_v1").
//
// It is fed dlib's own face chip: the 5-point shape predictor on the detected
// box, then get_face_chip_details(shape, 150, 0.25). That chip is the one the
// network was trained on; an ArcFace-style template would be a guess.
// With alignment_tta (the default) a second chip comes from FacePlugin's 68
// landmarks on the same box through dlib's 68-point template (the same
// function, which accepts either shape), and the two embeddings are averaged.
// The two landmark models err independently, so the average is steadier than
// either: on LFW dlib alone 98.77% -> 99.03% (no mirror), the ensemble of
// FacePlugin and dlib 99.33% -> 99.53%. The 68-point chip alone is better
// than the 5-point one for dlib (99.20% with mirror) but worse in the
// ensemble, whose other member is aligned by the same 68 points
// (docs/benchmarks.md).
//
// The network runs in ONNX Runtime: tools/dlib2onnx/dlib_to_onnx.py converts
// dlib's .dat at set-up (same weights, dlib's input mean and 1/256 scaling
// inside the graph), which is several times faster than dlib's own DNN on the
// CPU. tests/unit/embed_dlib_onnx_test.cpp checks it against dlib's forward pass.
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include <cmath>

#include "likeness/align/landmarks.h"
#include "likeness/core/error.h"
#include "likeness/embed/backends.h"

namespace likeness::embed::internal {
namespace {

constexpr unsigned long kChipSize = 150;
constexpr double kChipPadding = 0.25;
constexpr int kDimension = 128;

class DlibEmbedder final : public Embedder {
 public:
  DlibEmbedder(const infer::ModelStore& store, const EmbedderOptions& options) {
    // The graph takes the chip as it is: RGB, raw 0..255, NCHW (manifest input).
    const nlohmann::json& input = store.spec("dlib_resnet").input;
    const auto shape = input.value("shape", std::vector<int64_t>{});
    const std::vector<int64_t> expected{1, 3, kChipSize, kChipSize};
    if (shape != expected || input.value("channel_order", std::string()) != "RGB" ||
        !input.value("normalization", std::string()).starts_with("none")) {
      throw ModelError(
          "manifest entry 'dlib_resnet' input: need shape [1, 3, 150, 150], RGB, normalization "
          "none (the converted dlib network; tools/dlib2onnx)");
    }
    session_ = store.open_session("dlib_resnet", {.threads = options.threads});
    const auto shape_file = store.require("dlib_landmarks_5");
    try {
      dlib::deserialize(shape_file.string()) >> shape_;
    } catch (const std::exception& e) {
      throw ModelError("cannot load dlib model " + shape_file.string() + ": " + e.what() + "; " +
                       infer::repair_hint());
    }
    const ModelDefaults defaults = defaults_for("dlib_resnet");
    flip_tta_ = options.flip_tta.value_or(defaults.flip_tta);
    if (options.alignment_tta.value_or(defaults.alignment_tta)) {
      landmarks_ = align::LandmarkModel::create("faceplugin68", store);
    }
  }

  std::string_view name() const override { return "dlib_resnet"; }
  int dimension() const override { return kDimension; }
  bool flip_tta() const override { return flip_tta_; }
  bool alignment_tta() const override { return landmarks_ != nullptr; }

 protected:
  std::vector<Image> crops(const Image& image, const detect::Detection& face) const override {
    std::vector<Image> out;
    if (image.empty() || !(face.box.width > 1.0f) || !(face.box.height > 1.0f)) return out;
    const dlib::cv_image<dlib::rgb_pixel> view(image.rgb);
    const dlib::rectangle rect(std::lround(face.box.x), std::lround(face.box.y),
                               std::lround(face.box.x + face.box.width) - 1,
                               std::lround(face.box.y + face.box.height) - 1);
    // shape_predictor::operator() is const and keeps no state: safe to share.
    out.push_back(chip(view, shape_(view, rect)));
    if (landmarks_) {
      // The 68 points the default landmark model finds on this box, found
      // here rather than carried from detection: the library describes small
      // faces from a full-resolution crop of their surroundings, where the
      // points (like dlib's 5) are sharper than those of the reduced view
      // the detector saw, and a Detection keeps five points only.
      const std::vector<cv::Point2f> points = landmarks_->points(image, face.box);
      if (points.size() == 68) {
        std::vector<dlib::point> parts;
        parts.reserve(points.size());
        for (const auto& p : points) parts.emplace_back(std::lround(p.x), std::lround(p.y));
        out.push_back(chip(view, dlib::full_object_detection(rect, parts)));
      }
    }
    return out;
  }

 private:
  // dlib's chip for a 5- or 68-point shape, as an RGB image.
  static Image chip(const dlib::cv_image<dlib::rgb_pixel>& view,
                    const dlib::full_object_detection& shape) {
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(view, dlib::get_face_chip_details(shape, kChipSize, kChipPadding),
                             chip);
    Image out;
    out.rgb.create(static_cast<int>(chip.nr()), static_cast<int>(chip.nc()), CV_8UC3);
    for (long r = 0; r < chip.nr(); ++r) {
      auto* row = out.rgb.ptr<unsigned char>(static_cast<int>(r));
      for (long c = 0; c < chip.nc(); ++c) {
        const dlib::rgb_pixel& p = chip(r, c);
        row[3 * c] = p.red;
        row[3 * c + 1] = p.green;
        row[3 * c + 2] = p.blue;
      }
    }
    return out;
  }

 protected:
  std::vector<std::vector<float>> infer(const std::vector<Image>& crops) const override {
    const auto n = static_cast<int64_t>(crops.size());
    const std::size_t plane = std::size_t{kChipSize} * kChipSize;
    infer::Tensor tensor;
    tensor.shape = {n, 3, static_cast<int64_t>(kChipSize), static_cast<int64_t>(kChipSize)};
    tensor.data.resize(static_cast<std::size_t>(n) * 3 * plane);
    for (std::size_t k = 0; k < crops.size(); ++k) {
      const cv::Mat& rgb = crops[k].rgb;
      if (rgb.rows != static_cast<int>(kChipSize) || rgb.cols != static_cast<int>(kChipSize) ||
          rgb.type() != CV_8UC3) {
        throw UsageError("dlib_resnet: every crop must be a 150x150 RGB chip");
      }
      float* dst = tensor.data.data() + k * 3 * plane;
      for (int y = 0; y < rgb.rows; ++y) {
        const auto* row = rgb.ptr<unsigned char>(y);
        const std::size_t offset = static_cast<std::size_t>(y) * kChipSize;
        for (std::size_t x = 0; x < kChipSize; ++x) {
          for (std::size_t c = 0; c < 3; ++c) {
            dst[c * plane + offset + x] = static_cast<float>(row[3 * x + c]);
          }
        }
      }
    }
    const auto outputs = session_->run({tensor}, {"descriptor"});
    const auto dim = static_cast<std::size_t>(kDimension);
    if (outputs.size() != 1 || outputs[0].data.size() != static_cast<std::size_t>(n) * dim) {
      throw ModelError("model 'dlib_resnet' returned an output of unexpected size; " +
                       infer::repair_hint());
    }
    std::vector<std::vector<float>> out(crops.size());
    for (std::size_t k = 0; k < crops.size(); ++k) {
      const auto begin = outputs[0].data.begin() + static_cast<std::ptrdiff_t>(k * dim);
      out[k].assign(begin, begin + static_cast<std::ptrdiff_t>(dim));
    }
    return out;
  }

 private:
  std::unique_ptr<infer::Session> session_;
  dlib::shape_predictor shape_;
  std::unique_ptr<align::LandmarkModel> landmarks_;  // the second alignment; null = off
  bool flip_tta_ = true;
};

}  // namespace

std::unique_ptr<Embedder> make_dlib_embedder(const infer::ModelStore& store,
                                             const EmbedderOptions& options) {
  return std::make_unique<DlibEmbedder>(store, options);
}

}  // namespace likeness::embed::internal
