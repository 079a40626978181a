#include "likeness/align/landmarks.h"

#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <cassert>
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
    } catch (const std::exception& e) {
      throw ModelError("cannot load dlib landmark model " + file.string() + ": " + e.what() + "; " +
                       infer::repair_hint());
    }
  }

  std::vector<cv::Point2f> points(const Image& image, const cv::Rect2f& box) const override {
    if (image.empty()) return {};
    // cv_image only reads; rgb_pixel is (r, g, b) bytes, which is Image's layout.
    const dlib::cv_image<dlib::rgb_pixel> view(image.rgb);
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

  std::array<cv::Point2f, 5> five_points(const Image& image, const cv::Rect2f& box) const override {
    const std::vector<cv::Point2f> all = points(image, box);
    if (all.size() != 68) return {};
    return five_from_ibug68(all);
  }

 private:
  dlib::shape_predictor predictor_;
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
