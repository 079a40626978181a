// The classic detectors: OpenCV's Haar cascade and dlib's HOG + linear SVM.
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/opencv/cv_image.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "likeness/core/error.h"
#include "likeness/detect/backends.h"

namespace likeness::detect::internal {
namespace {

constexpr BoxCalibration kHaarCalibration{0.082f, 0.155f, 0.833f, 0.833f};

// Scale at which to run a detector whose smallest face is `window` pixels so
// that faces of min_face pixels are found, without working on more than
// max_pixels (big photos are searched down to a larger face size instead).
double work_scale(cv::Size image, float min_face, float window, double max_pixels) {
  const double wanted = window / std::max(1.0, static_cast<double>(min_face));
  const double area = static_cast<double>(image.width) * image.height;
  const double cap = std::sqrt(max_pixels / std::max(1.0, area));
  return std::min(wanted, cap);
}

cv::Mat scaled(const cv::Mat& m, double s) {
  if (std::abs(s - 1.0) < 1e-3) return m;
  cv::Mat out;
  cv::resize(m, out, cv::Size(), s, s, s < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

class Haar final : public Backend {
 public:
  Haar(const infer::ModelStore& store, const DetectorOptions& options)
      : options_(options),
        threshold_(options.score_threshold >= 0.0f ? options.score_threshold : 0.5f) {
    const auto path = store.require("haar_frontalface");
    if (!cascade_.load(path.string())) {
      throw ModelError("OpenCV cannot load the Haar cascade " + path.string() + "; " +
                       infer::repair_hint());
    }
  }

  std::vector<Detection> find(const Image& image) const override {
    const double s = work_scale(image.rgb.size(), options_.min_face_size, 24.0f, 1.5e6);
    cv::Mat grey;
    cv::cvtColor(scaled(image.rgb, s), grey, cv::COLOR_RGB2GRAY);
    cv::equalizeHist(grey, grey);
    std::vector<cv::Rect> rects;
    std::vector<int> neighbours;
    {
      // CascadeClassifier::detectMultiScale is not const (internal buffers).
      std::lock_guard lock(mutex_);
      cascade_.detectMultiScale(grey, rects, neighbours, 1.1, 3, 0, cv::Size(24, 24));
    }
    std::vector<Detection> found;
    const auto inv = static_cast<float>(1.0 / s);
    for (std::size_t i = 0; i < rects.size(); ++i) {
      const auto n = static_cast<float>(neighbours[i]);
      Detection d;
      d.score = n / (n + 3.0f);  // 3 neighbours (OpenCV's usual minimum) -> 0.5
      if (d.score < threshold_) continue;
      const cv::Rect& r = rects[i];
      d.box = {static_cast<float>(r.x) * inv, static_cast<float>(r.y) * inv,
               static_cast<float>(r.width) * inv, static_cast<float>(r.height) * inv};
      if (!options_.raw_boxes) d.box = kHaarCalibration.apply(d.box);
      d.backends = {"opencv"};
      found.push_back(std::move(d));
    }
    return non_max_suppression(std::move(found), options_.nms_iou);
  }
  std::string_view name() const override { return "opencv"; }

 private:
  DetectorOptions options_;
  float threshold_;
  mutable std::mutex mutex_;
  mutable cv::CascadeClassifier cascade_;
};

class DlibHog final : public Backend {
 public:
  explicit DlibHog(const DetectorOptions& options)
      : options_(options),
        threshold_(options.score_threshold >= 0.0f ? options.score_threshold : 0.5f),
        detector_(dlib::get_frontal_face_detector()) {}

  std::vector<Detection> find(const Image& image) const override {
    // The HOG window is 80 px; smaller faces need the photo upscaled.
    const double s = work_scale(image.rgb.size(), options_.min_face_size, 80.0f, 1.0e6);
    const cv::Mat work = scaled(image.rgb, s);
    const dlib::cv_image<dlib::rgb_pixel> view(work);
    // Confidence c maps to score 1/(1+e^-c): the detector's own threshold 0 -> 0.5.
    const double t = std::clamp(threshold_, 0.01, 0.99);
    const double adjust = std::log(t / (1.0 - t));
    std::vector<dlib::rect_detection> dets;
    {
      std::lock_guard lock(mutex_);
      detector_(view, dets, adjust);
    }
    std::vector<Detection> found;
    const auto inv = static_cast<float>(1.0 / s);
    for (const auto& det : dets) {
      Detection d;
      d.score = static_cast<float>(1.0 / (1.0 + std::exp(-det.detection_confidence)));
      const dlib::rectangle& r = det.rect;
      d.box = {static_cast<float>(r.left()) * inv, static_cast<float>(r.top()) * inv,
               static_cast<float>(r.width()) * inv, static_cast<float>(r.height()) * inv};
      d.backends = {"dlib-hog"};
      found.push_back(std::move(d));
    }
    return non_max_suppression(std::move(found), options_.nms_iou);
  }
  std::string_view name() const override { return "dlib-hog"; }

 private:
  DetectorOptions options_;
  double threshold_;
  mutable std::mutex mutex_;
  mutable dlib::frontal_face_detector detector_;
};

}  // namespace

std::unique_ptr<Backend> make_haar(const infer::ModelStore& store, const DetectorOptions& options) {
  return std::make_unique<Haar>(store, options);
}

std::unique_ptr<Backend> make_dlib_hog(const DetectorOptions& options) {
  return std::make_unique<DlibHog>(options);
}

}  // namespace likeness::detect::internal
