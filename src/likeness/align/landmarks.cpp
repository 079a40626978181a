#include "likeness/align/landmarks.h"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <algorithm>
#include <cassert>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>

#include "likeness/core/error.h"
#include "likeness/infer/session.h"

namespace likeness::align {

std::array<cv::Point2f, 5> five_from_ibug68(const std::vector<cv::Point2f>& points) {
  assert(points.size() == 68);
  auto mean_of = [&](std::size_t first) {
    cv::Point2f sum{0.0f, 0.0f};
    for (std::size_t i = first; i < first + 6; ++i) sum += points[i];
    return sum * (1.0f / 6.0f);
  };
  // iBUG 36-41 is the subject's right eye, which is on the image's left.
  return {mean_of(36), mean_of(42), points[30], points[48], points[54]};
}

namespace {

class DlibShapeModel final : public LandmarkModel {
 public:
  explicit DlibShapeModel(const std::filesystem::path& file) {
    try {
      dlib::deserialize(file.string()) >> predictor_;
      // The file starts with a version and the model's mean shape in
      // box-relative coordinates ((0,0) = box top-left, (1,1) = bottom-right);
      // dlib keeps it private, so read it from the file itself.
      std::ifstream in(file, std::ios::binary);
      int version = 0;
      dlib::deserialize(version, in);
      dlib::matrix<float, 0, 1> mean;
      dlib::deserialize(mean, in);
      for (long i = 0; i + 1 < mean.size(); i += 2) mean_shape_.emplace_back(mean(i), mean(i + 1));
    } catch (const std::exception& e) {
      throw ModelError("cannot load dlib landmark model " + file.string() + ": " + e.what() + "; " +
                       infer::repair_hint());
    }
  }

  std::vector<cv::Point2f> points(const Image& image, const cv::Rect2f& box) const override {
    if (image.empty()) return {};
    // cv_image only reads; rgb_pixel is (r, g, b) bytes, which is Image's layout.
    const dlib::cv_image<dlib::rgb_pixel> view(image.rgb);
    std::vector<cv::Point2f> first = predict(view, box);
    // The regression trees were trained from dlib HOG boxes and drift when
    // started from another detector's box (UltraFace's sit differently on
    // some faces). The first pass's points tell where a HOG-like box for this
    // face lies: fit the model's mean shape to them and start again from that
    // box, twice. Measured on all 6,000 LFW pairs with UltraFace boxes:
    // faceplugin_feature 98.40% without, 98.68% with one re-fit, 98.80% with
    // two (docs/benchmarks.md). Each re-fit costs one more run of the cascade.
    for (int pass = 0; pass < 2; ++pass) {
      const std::optional<cv::Rect2f> refined = box_from_points(first);
      if (!refined) return first;
      first = predict(view, *refined);
    }
    return first;
  }

  std::array<cv::Point2f, 5> five_points(const Image& image, const cv::Rect2f& box) const override {
    const std::vector<cv::Point2f> all = points(image, box);
    if (all.size() != 68) return {};
    return five_from_ibug68(all);
  }

 private:
  std::vector<cv::Point2f> predict(const dlib::cv_image<dlib::rgb_pixel>& view,
                                   const cv::Rect2f& box) const {
    const dlib::rectangle rect(std::lround(box.x), std::lround(box.y),
                               std::lround(box.x + box.width) - 1,
                               std::lround(box.y + box.height) - 1);
    const dlib::full_object_detection shape = predictor_(view, rect);
    std::vector<cv::Point2f> out;
    out.reserve(shape.num_parts());
    for (unsigned long i = 0; i < shape.num_parts(); ++i) {
      out.emplace_back(static_cast<float>(shape.part(i).x()),
                       static_cast<float>(shape.part(i).y()));
    }
    return out;
  }

  // The square box whose unit-box mean shape best fits `points` (least
  // squares, translation + uniform scale: the model's boxes are upright).
  std::optional<cv::Rect2f> box_from_points(const std::vector<cv::Point2f>& points) const {
    if (points.size() != mean_shape_.size() || points.empty()) return std::nullopt;
    cv::Point2d mean_p{0, 0};
    cv::Point2d mean_m{0, 0};
    for (std::size_t i = 0; i < points.size(); ++i) {
      mean_p += cv::Point2d(points[i]);
      mean_m += cv::Point2d(mean_shape_[i]);
    }
    const double n = static_cast<double>(points.size());
    mean_p /= n;
    mean_m /= n;
    double cross = 0;
    double spread = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      const cv::Point2d dp = cv::Point2d(points[i]) - mean_p;
      const cv::Point2d dm = cv::Point2d(mean_shape_[i]) - mean_m;
      cross += dp.x * dm.x + dp.y * dm.y;
      spread += dm.x * dm.x + dm.y * dm.y;
    }
    if (spread <= 0 || cross <= 0) return std::nullopt;
    const double scale = cross / spread;  // box side in pixels
    const cv::Point2d top_left = mean_p - mean_m * scale;
    return cv::Rect2f(static_cast<float>(top_left.x), static_cast<float>(top_left.y),
                      static_cast<float>(scale), static_cast<float>(scale));
  }

  dlib::shape_predictor predictor_;
  std::vector<cv::Point2f> mean_shape_;  // box-relative, (0,0)-(1,1)
};

// FacePlugin's 68-point model (fr_landmark.onnx): a 64x64 grey crop of the
// face box, pixel / 256, gives 68 iBUG points as fractions of the box. It was
// trained on the boxes of the UltraFace detector shipped beside it, so the
// common (dlib HOG) box is first mapped back to UltraFace's own box - the
// inverse of the detector's calibration (docs/detection.md, "Box
// calibration"). Mirrors the package's lib/fr_landmark.js: the crop is the
// box itself, shifted (not shrunk) to stay inside the photo.
class FacePluginLandmarks final : public LandmarkModel {
 public:
  explicit FacePluginLandmarks(std::unique_ptr<infer::Session> session)
      : session_(std::move(session)) {}

  std::vector<cv::Point2f> points(const Image& image, const cv::Rect2f& box) const override {
    if (image.empty() || box.width <= 1.0f || box.height <= 1.0f) return {};
    std::vector<cv::Point2f> out = predict(image, trained_box(box));
    // Like dlib's cascade, the model drifts when its box sits differently
    // from its training boxes; one re-fit from its own answer steadies it.
    for (int pass = 0; pass < kRefits && out.size() == 68; ++pass) {
      out = predict(image, trained_box(box_from_ibug68(out)));
    }
    return out;
  }

  std::array<cv::Point2f, 5> five_points(const Image& image, const cv::Rect2f& box) const override {
    const std::vector<cv::Point2f> all = points(image, box);
    if (all.size() != 68) return {};
    return five_from_ibug68(all);
  }

 private:
  static constexpr int kInput = 64;
  static constexpr int kRefits = 1;

  // Common box -> UltraFace's own box (inverse of kUltraFaceCalibration in
  // detect/onnx_backends.cpp: common = (x - 0.041 w, y + 0.183 h, 1.109 w, 0.776 h)).
  static cv::Rect2f trained_box(const cv::Rect2f& common) {
    const float w = common.width / 1.109f;
    const float h = common.height / 0.776f;
    return {common.x + 0.041f * w, common.y - 0.183f * h, w, h};
  }

  // The common box that the points imply: dlib's HOG box spans the outer
  // eyebrow-to-jaw width and ends at the chin; approximated from the points'
  // extent (measured against dlib68's own boxes on LFW).
  static cv::Rect2f box_from_ibug68(const std::vector<cv::Point2f>& p) {
    float x0 = p[0].x, x1 = p[0].x, y0 = p[0].y, y1 = p[0].y;
    for (const auto& q : p) {
      x0 = std::min(x0, q.x);
      x1 = std::max(x1, q.x);
      y0 = std::min(y0, q.y);
      y1 = std::max(y1, q.y);
    }
    return {x0, y0, x1 - x0, y1 - y0};
  }

  std::vector<cv::Point2f> predict(const Image& image, const cv::Rect2f& box) const {
    const int width = image.rgb.cols;
    const int height = image.rgb.rows;
    // Shift the box inside the photo (keep its size when it fits).
    float left = box.x, top = box.y;
    const float w = std::min(box.width, static_cast<float>(width - 1));
    const float h = std::min(box.height, static_cast<float>(height - 1));
    left = std::clamp(left, 0.0f, static_cast<float>(width - 1) - w);
    top = std::clamp(top, 0.0f, static_cast<float>(height - 1) - h);
    const cv::Rect crop(static_cast<int>(left), static_cast<int>(top),
                        std::max(1, static_cast<int>(w)), std::max(1, static_cast<int>(h)));
    cv::Mat grey;
    cv::cvtColor(image.rgb(crop & cv::Rect(0, 0, width, height)), grey, cv::COLOR_RGB2GRAY);
    cv::Mat small;
    cv::resize(grey, small, cv::Size(kInput, kInput), 0, 0, cv::INTER_LINEAR);
    infer::Tensor input;
    input.shape = {1, 1, kInput, kInput};
    input.data.resize(static_cast<std::size_t>(kInput * kInput));
    for (int y = 0; y < kInput; ++y) {
      const auto* row = small.ptr<std::uint8_t>(y);
      for (int x = 0; x < kInput; ++x) {
        input.data[static_cast<std::size_t>(y * kInput + x)] = static_cast<float>(row[x]) / 256.0f;
      }
    }
    const std::vector<infer::Tensor> out = session_->run({input});
    const std::vector<float>& v = out.at(0).data;
    if (v.size() != 136) return {};
    // Fractions of the crop the model saw (the package scales by the box
    // before shifting, which misplaces the points of faces cut by the border).
    std::vector<cv::Point2f> points;
    points.reserve(68);
    for (std::size_t i = 0; i < 68; ++i) {
      points.emplace_back(
          static_cast<float>(crop.x) + v[2 * i] * static_cast<float>(crop.width),
          static_cast<float>(crop.y) + v[2 * i + 1] * static_cast<float>(crop.height));
    }
    return points;
  }

  std::unique_ptr<infer::Session> session_;
};

}  // namespace

std::unique_ptr<LandmarkModel> LandmarkModel::create(std::string_view name,
                                                     const infer::ModelStore& store) {
  if (name == "dlib68") {
    return std::make_unique<DlibShapeModel>(store.require("dlib_landmarks_68"));
  }
  if (name == "faceplugin68") {
    return std::make_unique<FacePluginLandmarks>(
        store.open_session("faceplugin_landmark_68", {.threads = 1}));
  }
  throw UsageError("unknown landmark model '" + std::string(name) +
                   "' (known: dlib68, faceplugin68)");
}

}  // namespace likeness::align
