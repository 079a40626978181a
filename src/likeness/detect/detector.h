// Face detection: one interface, several backends, and a fusion of them.
//
//   auto store = likeness::infer::ModelStore::open();
//   auto detector = likeness::detect::Detector::create("fused", store, {});
//   likeness::detect::DetectionResult found = detector->detect(image);
//   for (const auto& face : found.faces) { face.box; face.landmarks; face.score; }
//
// Coordinates are always pixels of the image passed to detect() (x to the
// right, y down, origin at the top-left corner of the top-left pixel).
//
// Landmark order (see docs/detection.md): left eye, right eye, nose tip, left
// mouth corner, right mouth corner, where "left" means IMAGE left (smaller x
// on an upright face) - i.e. the subject's right eye is "left eye". This is
// the order of the ArcFace 112x112 alignment template.
//
// Errors: no face is an empty list. A missing or corrupt model throws
// ModelError from create(); an unknown backend name throws UsageError.
// Thread-safety: detect() may be called from several threads at once.
#pragma once

#include <array>
#include <memory>
#include <opencv2/core/types.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/core/image.h"
#include "likeness/infer/model_store.h"

namespace likeness::detect {

// Index into Detection::landmarks.
enum LandmarkIndex : int {
  kLeftEye = 0,     // eye on the image's left (subject's right eye); centre of the eye
  kRightEye = 1,    // eye on the image's right (subject's left eye)
  kNoseTip = 2,     // tip of the nose
  kLeftMouth = 3,   // mouth corner on the image's left
  kRightMouth = 4,  // mouth corner on the image's right
};

struct Detection {
  // Face box in pixels of the input image. All backends are calibrated to one
  // convention: roughly square, from the eyebrows to the chin (the box dlib's
  // HOG detector draws, which its landmark models expect). May extend slightly
  // past the image border for faces cut by it.
  cv::Rect2f box;
  // Confidence in [0, 1]. Comparable within one backend; for "fused" it is a
  // noisy-OR of the contributing backends' scores.
  float score = 0.0f;
  // Five points (see LandmarkIndex) in pixels of the input image. Valid only
  // when has_landmarks is true.
  std::array<cv::Point2f, 5> landmarks{};
  bool has_landmarks = false;
  // Which backend(s) found this face ("ultraface", "blazeface", ...).
  std::vector<std::string> backends;
};

struct DetectionResult {
  // Faces at least DetectorOptions::min_face_size pixels wide, best score first.
  std::vector<Detection> faces;
  // Faces that were found but are narrower than min_face_size (reported, not
  // dropped silently: too small to recognise, still a face in the photo).
  std::vector<Detection> too_small;
};

struct DetectorOptions {
  // Faces whose box is narrower than this (pixels) go to too_small. Also sets
  // how finely big photos are tiled: smaller values find smaller faces and
  // cost more time.
  float min_face_size = 30.0f;
  // Minimum backend score in [0, 1]; a negative value selects each backend's
  // own default (ultraface 0.7, blazeface 0.75, dlib-hog 0.5, opencv 0.5,
  // fused: the backends' defaults).
  float score_threshold = -1.0f;
  // Overlap (intersection over union) above which two boxes are the same face.
  float nms_iou = 0.35f;
  // Threads for the ONNX models (0 = all cores).
  int threads = 1;
  // Keep at most this many faces (best score first); 0 = no limit.
  int max_faces = 0;
  // Fill Detection::landmarks with the dlib 68-point model (always, for every
  // backend, so that all landmarks follow one definition). false leaves
  // has_landmarks false.
  bool landmarks = true;
  // Which landmark model fills them (align::LandmarkModel::create names):
  // "dlib68" or "faceplugin68".
  std::string landmark_model = "faceplugin68";
  // For calibration only: report each backend's own box instead of the
  // calibrated common convention.
  bool raw_boxes = false;
};

class Detector {
 public:
  // name: "ultraface", "blazeface" (MediaPipe back-camera model, 256 px),
  // "blazeface-front" (128 px, for large near faces), "opencv" (Haar cascade),
  // "dlib-hog", "fused" (ultraface + blazeface +
  // dlib-hog, merged by weighted box fusion), "default" (= default_name()).
  // Throws UsageError for an unknown name or bad option, ModelError for a
  // missing/corrupt model.
  static std::unique_ptr<Detector> create(std::string_view name, const infer::ModelStore& store,
                                          const DetectorOptions& options = {});
  // The names create() accepts, "default" excluded.
  static std::vector<std::string> names();
  // The backend used when none is asked for (chosen by docs/detection.md's figures).
  static std::string_view default_name();

  virtual ~Detector() = default;
  // Never throws for image content; an empty image gives an empty result.
  virtual DetectionResult detect(const Image& image) const = 0;
  virtual std::string_view name() const = 0;
};

// --- Fusion (exposed so that it can be tested on plain lists) ---

struct BackendDetections {
  std::string backend;  // name, for Detection::backends
  // Vote weight: 1.0 for a strong backend (one vote is enough to keep a
  // face), below 1.0 for weaker ones (they only confirm).
  float weight = 1.0f;
  std::vector<Detection> detections;  // boxes in the common convention
};

struct FusionOptions {
  float iou = 0.35f;  // boxes overlapping more than this are one face
  // A cluster is kept when the sum over its backends of weight * score reaches
  // this: one strong backend (weight 1) that is sure (score >= 0.9) is enough;
  // weak ones (weight < 1) need company.
  float min_votes = 0.9f;
};

// Weighted box fusion: clusters boxes across backends (each backend votes at
// most once per cluster), averages the boxes weighted by weight*score, keeps
// clusters with enough votes (see FusionOptions::min_votes). The fused score is 1 - prod(1 -
// weight*score). Landmarks come from the highest-weighted member that has them. Result is sorted by
// score, best first. Pure function; thread-safe.
std::vector<Detection> fuse_detections(const std::vector<BackendDetections>& inputs,
                                       const FusionOptions& options = {});

// Greedy non-maximum suppression within one list (best score wins); then,
// when drop_parts, drops boxes lying mostly (70%) inside a box at least 1.5x
// larger (parts of a face).
std::vector<Detection> non_max_suppression(std::vector<Detection> detections, float iou,
                                           bool drop_parts = true);

// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace likeness::detect
