// One photo from file to described faces, the way the library sees photos:
// read once, hashed, decoded to a detection view (big JPEGs at a reduced
// scale, which libjpeg gives almost for free), faces detected on the view and
// reported in full-resolution photo pixels, and each face described by the
// recognizer from enough pixels (a small face is re-decoded at full
// resolution around it, so that scaling the view down does not cost accuracy).
//
//   auto analyzer = PhotoAnalyzer::create(store, {});
//   DetectedPhoto photo = analyzer->detect(path);
//   if (!photo.ok()) { photo.reason; photo.message; }
//   for (std::size_t i = 0; i < photo.faces.size(); ++i) analyzer->describe(photo, i);
//
// Errors: problems with the file are values (DetectedPhoto::reason); create()
// throws ModelError / UsageError like Detector::create and Recognizer::create.
// Thread-safety: detect() and describe() may run concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "likeness/attributes/attributes.h"
#include "likeness/core/image.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/model_store.h"
#include "likeness/match/recognizer.h"

namespace likeness::library {

struct AnalyzerOptions {
  std::string detector = "default";
  // Faces narrower than this many pixels of the detection view are reported
  // as too small (detect::DetectorOptions::min_face_size).
  float min_face_size = 30.0f;
  // JPEGs are decoded for detection at the smallest DCT scale (1/8 .. 1) whose
  // long side is still at least this many pixels: a 12-MP photo is detected
  // on a 2000x1500 view, so the minimum face is 60 px of the original. 0 =
  // always full resolution (finds 30-px faces in 12-MP photos, at about three
  // times the cost). Other formats are always decoded at full resolution.
  int detect_long_side = 1920;
  // Faces narrower than this in the view are described from a full-resolution
  // decode of their surroundings (the recognition models see 112 px).
  float describe_from_full_below = 112.0f;
  int threads = 1;  // ONNX Runtime threads per model
  float min_quality = match::RecognizerOptions{}.min_quality;
  // Files larger than this are refused (io::DecodeOptions::max_file_bytes).
  std::uint64_t max_file_bytes = std::uint64_t{1} << 30;
  // Face analytics (age, gender, expression; docs/attributes.md) for analyze().
  // false loads no attribute model at all (speed, privacy).
  bool analytics = true;
  attributes::AttributeOptions attributes{};
};

// A face as the indexer stores it: the recognizer's description and the
// face's attributes, both computed from the same pixels.
struct AnalyzedFace {
  match::FaceDescription description;
  // Empty (no attribute set) when analytics is off.
  attributes::FaceAttributes attributes;
};

struct DetectedPhoto {
  // Empty when the photo was read and decoded; otherwise a stable identifier
  // (io::to_string of FileError / DecodeError, e.g. "truncated") and a
  // message naming the file.
  std::string reason;
  std::string message;
  std::string content_hash;  // sha256 of the file (set whenever it could be read)
  std::int64_t size_bytes = 0;
  int width = 0, height = 0;             // oriented full-resolution size
  std::string capture_time;              // EXIF DateTimeOriginal, "" when absent
  std::vector<detect::Detection> faces;  // photo pixels, best score first
  std::size_t too_small = 0;
  std::vector<std::string> warnings;  // e.g. decoder remarks

  bool ok() const { return reason.empty(); }

  // The detection view, for describe().
  std::shared_ptr<const std::vector<std::uint8_t>> bytes;
  Image view;
  double scale = 1.0;  // view pixels per photo pixel
};

class PhotoAnalyzer {
 public:
  static std::unique_ptr<PhotoAnalyzer> create(const infer::ModelStore& store,
                                               const AnalyzerOptions& options = {});
  virtual ~PhotoAnalyzer() = default;

  virtual const detect::Detector& detector() const = 0;
  virtual const match::Recognizer& recognizer() const = 0;

  // Reads, hashes, decodes and detects. Never throws for the file's content.
  virtual DetectedPhoto detect(const std::filesystem::path& path) const = 0;
  // Reads and hashes only (for telling a touched file from a changed one).
  virtual DetectedPhoto read(const std::filesystem::path& path) const = 0;
  // Decodes and detects a photo read() returned.
  virtual void detect_read(DetectedPhoto& photo, const std::filesystem::path& path) const = 0;
  // Describes photo.faces[face]. UsageError for an index out of range.
  virtual match::FaceDescription describe(const DetectedPhoto& photo, std::size_t face) const = 0;
  // describe() and, when analytics is on, the face's attributes. UsageError
  // for an index out of range.
  virtual AnalyzedFace analyze(const DetectedPhoto& photo, std::size_t face) const = 0;
  // analyze() for every face of the photo, in order, with the full-resolution
  // surroundings of all its small faces decoded in one pass (cheaper than
  // face by face: see io::decode_image_regions_bytes). Stops early, returning
  // fewer results, once *stop is set.
  virtual std::vector<AnalyzedFace> analyze_all(const DetectedPhoto& photo,
                                                const std::atomic<bool>* stop = nullptr) const = 0;
  // describe() for every face of the photo, in order, the small faces' crops
  // decoded in one pass as in analyze_all().
  virtual std::vector<match::FaceDescription> describe_all(const DetectedPhoto& photo) const = 0;
  // The attribute models, loaded on the first call (analyze() calls it);
  // nullptr when analytics is off. Throws ModelError / UsageError like
  // attributes::AttributeEstimator::create (the call that loads them).
  virtual const attributes::AttributeEstimator* attribute_estimator() const = 0;
};

// Index of the largest face (by box area); 0 for an empty list.
std::size_t largest_face(const std::vector<detect::Detection>& faces);

}  // namespace likeness::library
