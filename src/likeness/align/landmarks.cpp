#include "likeness/align/landmarks.h"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <cassert>
#include <fstream>
#include <optional>
#include <string>

#include "likeness/core/error.h"

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

}  // namespace

std::unique_ptr<LandmarkModel> LandmarkModel::create(std::string_view name,
                                                     const infer::ModelStore& store) {
  if (name == "dlib68") {
    return std::make_unique<DlibShapeModel>(store.require("dlib_landmarks_68"));
  }
  throw UsageError("unknown landmark model '" + std::string(name) + "' (known: dlib68)");
}

}  // namespace likeness::align
