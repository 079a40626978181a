// Facial landmark models: given a face box, where are the eyes, nose and mouth.
//
//   auto model = likeness::align::LandmarkModel::create("dlib68", store);
//   std::array<cv::Point2f, 5> five = model->five_points(image, face_box);
//
// Box convention: the box dlib's HOG frontal detector draws (roughly square,
// eyebrows to chin); likeness::detect calibrates every detector to it.
// Point convention: see likeness/detect/detector.h (LandmarkIndex): left eye,
// right eye, nose tip, left mouth corner, right mouth corner, "left" meaning
// image left. Coordinates in pixels of the image.
//
// Thread-safety: points()/five_points() may be called concurrently.
#pragma once

#include <array>
#include <memory>
#include <opencv2/core/types.hpp>
#include <string_view>
#include <vector>

#include "likeness/core/image.h"
#include "likeness/infer/model_store.h"

namespace likeness::align {

class LandmarkModel {
 public:
  // name: "dlib68" (dlib shape_predictor_68_face_landmarks, model
  // dlib_landmarks_68). Throws UsageError for an unknown name, ModelError
  // for a missing/corrupt model file.
  static std::unique_ptr<LandmarkModel> create(std::string_view name,
                                               const infer::ModelStore& store);

  virtual ~LandmarkModel() = default;

  // All points the model gives (68 iBUG points for dlib68, 0-based order).
  virtual std::vector<cv::Point2f> points(const Image& image, const cv::Rect2f& box) const = 0;

  // The five alignment points: eye centres (mean of the six points of each
  // eye, iBUG 36-41 and 42-47), nose tip (30), mouth corners (48, 54).
  virtual std::array<cv::Point2f, 5> five_points(const Image& image,
                                                 const cv::Rect2f& box) const = 0;
};

// The five points from 68 iBUG points (0-based). Requires points.size() == 68.
std::array<cv::Point2f, 5> five_from_ibug68(const std::vector<cv::Point2f>& points);

}  // namespace likeness::align
