// UltraFace RFB-320 and MediaPipe BlazeFace through ONNX Runtime.
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "likeness/core/error.h"
#include "likeness/detect/backends.h"

namespace likeness::detect::internal {
namespace {

// Each backend's own box -> common (dlib HOG) convention, measured on LFW
// (docs/detection.md, "Box calibration").
constexpr BoxCalibration kUltraFaceCalibration{-0.041f, 0.183f, 1.109f, 0.776f};
constexpr BoxCalibration kBlazeFaceCalibration{0.016f, -0.025f, 0.99f, 0.99f};

float threshold_or(const DetectorOptions& options, float fallback) {
  return options.score_threshold >= 0.0f ? options.score_threshold : fallback;
}

// Packs an 8-bit RGB matrix into a float tensor, (value - mean) / scale.
infer::Tensor to_tensor(const cv::Mat& rgb, bool nchw, float mean, float scale) {
  const int h = rgb.rows;
  const int w = rgb.cols;
  infer::Tensor t;
  t.shape = nchw ? std::vector<int64_t>{1, 3, h, w} : std::vector<int64_t>{1, h, w, 3};
  t.data.resize(static_cast<std::size_t>(3 * h * w));
  const float inv = 1.0f / scale;
  const std::size_t plane = static_cast<std::size_t>(h * w);
  for (int y = 0; y < h; ++y) {
    const auto* row = rgb.ptr<std::uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const std::size_t p = static_cast<std::size_t>(y * w + x);
      for (std::size_t c = 0; c < 3; ++c) {
        const float v = (static_cast<float>(row[3 * x + static_cast<int>(c)]) - mean) * inv;
        if (nchw) {
          t.data[c * plane + p] = v;
        } else {
          t.data[3 * p + c] = v;
        }
      }
    }
  }
  return t;
}

class UltraFace final : public Backend {
 public:
  UltraFace(const infer::ModelStore& store, const DetectorOptions& options)
      : session_(store.open_session("ultraface_rfb320", {.threads = options.threads})),
        options_(options),
        threshold_(threshold_or(options, 0.7f)) {}

  std::vector<Detection> find(const Image& image) const override {
    const cv::Size input(320, 240);
    const auto regions = pyramid_regions(image.rgb.size(), input, /*stretch=*/true,
                                         options_.min_face_size, 16.0f, 3.0f);
    auto find_in = [&](const Region& region, const cv::Mat& pixels) {
      const auto out = session_->run({to_tensor(pixels, true, 127.0f, 128.0f)});
      const std::vector<float>& scores = out[0].data;
      const std::vector<float>& boxes = out[1].data;
      const std::size_t priors = scores.size() / 2;
      std::vector<Detection> here;
      for (std::size_t i = 0; i < priors; ++i) {
        const float score = scores[2 * i + 1];
        if (score < threshold_) continue;
        const float* b = &boxes[4 * i];
        Detection d;
        d.box = {region.rect.x + b[0] * region.rect.width,
                 region.rect.y + b[1] * region.rect.height, (b[2] - b[0]) * region.rect.width,
                 (b[3] - b[1]) * region.rect.height};
        d.score = score;
        here.push_back(std::move(d));
      }
      return here;
    };
    return detect_over_regions(image.rgb, input, regions, find_in, kUltraFaceCalibration, name(),
                               options_);
  }
  std::string_view name() const override { return "ultraface"; }

 private:
  std::unique_ptr<infer::Session> session_;
  DetectorOptions options_;
  float threshold_;
};

// MediaPipe BlazeFace (front 128 or back 256). Both have 896 anchors: a 16x16
// grid with 2 anchors per cell then an 8x8 grid with 6, centred in the cells;
// offsets are in input pixels.
class BlazeFace final : public Backend {
 public:
  BlazeFace(const infer::ModelStore& store, const DetectorOptions& options, bool front)
      : session_(store.open_session(front ? "blazeface_front" : "blazeface_back",
                                    {.threads = options.threads})),
        options_(options),
        size_(front ? 128 : 256),
        front_(front),
        threshold_(threshold_or(options, 0.75f)) {
    for (int grid : {16, 8}) {
      const int per_cell = grid == 16 ? 2 : 6;
      for (int y = 0; y < grid; ++y) {
        for (int x = 0; x < grid; ++x) {
          for (int k = 0; k < per_cell; ++k) {
            anchors_.emplace_back((static_cast<float>(x) + 0.5f) / static_cast<float>(grid),
                                  (static_cast<float>(y) + 0.5f) / static_cast<float>(grid));
          }
        }
      }
    }
  }

  std::vector<Detection> find(const Image& image) const override {
    const cv::Size input(size_, size_);
    const auto fsize = static_cast<float>(size_);
    const auto regions = pyramid_regions(image.rgb.size(), input, /*stretch=*/false,
                                         options_.min_face_size, front_ ? 20.0f : 24.0f, 3.0f);
    const std::vector<std::string> names = {"Identity:0", "Identity_1:0", "Identity_2:0",
                                            "Identity_3:0"};
    auto find_in = [&](const Region& region, const cv::Mat& pixels) {
      const auto out = session_->run({to_tensor(pixels, false, 127.5f, 127.5f)}, names);
      std::vector<Detection> here;
      std::size_t anchor = 0;
      for (int part = 0; part < 2; ++part) {
        const std::vector<float>& logits = out[static_cast<std::size_t>(part)].data;
        const std::vector<float>& raw = out[static_cast<std::size_t>(part) + 2].data;
        for (std::size_t i = 0; i < logits.size(); ++i, ++anchor) {
          const float logit = std::clamp(logits[i], -100.0f, 100.0f);
          const float score = 1.0f / (1.0f + std::exp(-logit));
          if (score < threshold_) continue;
          const float* r = &raw[16 * i];
          const cv::Point2f a = anchors_[anchor];
          const float cx = r[0] / fsize + a.x;
          const float cy = r[1] / fsize + a.y;
          const float w = r[2] / fsize;
          const float h = r[3] / fsize;
          Detection d;
          d.box = {region.rect.x + (cx - w / 2) * region.rect.width,
                   region.rect.y + (cy - h / 2) * region.rect.height, w * region.rect.width,
                   h * region.rect.height};
          d.score = score;
          here.push_back(std::move(d));
        }
      }
      return here;
    };
    return detect_over_regions(image.rgb, input, regions, find_in, kBlazeFaceCalibration, name(),
                               options_);
  }
  std::string_view name() const override { return front_ ? "blazeface-front" : "blazeface"; }

 private:
  std::unique_ptr<infer::Session> session_;
  DetectorOptions options_;
  int size_;
  bool front_;
  float threshold_;
  std::vector<cv::Point2f> anchors_;
};

}  // namespace

std::unique_ptr<Backend> make_ultraface(const infer::ModelStore& store,
                                        const DetectorOptions& options) {
  return std::make_unique<UltraFace>(store, options);
}

std::unique_ptr<Backend> make_blazeface(const infer::ModelStore& store,
                                        const DetectorOptions& options, bool front) {
  return std::make_unique<BlazeFace>(store, options, front);
}

}  // namespace likeness::detect::internal
