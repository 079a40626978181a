#include "likeness/library/photo_analyzer.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <mutex>
#include <optional>

#include "likeness/core/error.h"
#include "likeness/io/file.h"
#include "likeness/io/hash.h"
#include "likeness/io/image.h"

namespace likeness::library {
namespace {

// A detection moved by (dx, dy) and scaled by s: (p + d) * s.
detect::Detection transformed(detect::Detection d, float dx, float dy, float s) {
  d.box = cv::Rect2f((d.box.x + dx) * s, (d.box.y + dy) * s, d.box.width * s, d.box.height * s);
  for (cv::Point2f& p : d.landmarks) p = cv::Point2f((p.x + dx) * s, (p.y + dy) * s);
  return d;
}

class Analyzer final : public PhotoAnalyzer {
 public:
  Analyzer(const infer::ModelStore& store, const AnalyzerOptions& options)
      : options_(options), store_(store) {
    detect::DetectorOptions det;
    det.min_face_size = options.min_face_size;
    det.threads = options.threads;
    // The detector loads while the recognizer does (see Recognizer::create).
    auto detector = std::async(
        std::launch::async, [&] { return detect::Detector::create(options.detector, store, det); });
    recognizer_ = match::Recognizer::create(
        store, {.threads = options.threads, .min_quality = options.min_quality});
    detector_ = detector.get();
  }

  const detect::Detector& detector() const override { return *detector_; }
  const match::Recognizer& recognizer() const override { return *recognizer_; }

  DetectedPhoto read(const std::filesystem::path& path) const override {
    DetectedPhoto photo;
    io::FileBytes file = io::read_file_bytes(path, options_.max_file_bytes);
    if (!file.ok()) {
      photo.reason = file.error == io::FileError::too_large
                         ? "file_too_large"
                         : std::string(io::to_string(file.error));
      photo.message = file.message;
      return photo;
    }
    photo.size_bytes = static_cast<std::int64_t>(file.bytes.size());
    photo.content_hash = io::sha256_hex(file.bytes);
    photo.bytes = std::make_shared<const std::vector<std::uint8_t>>(std::move(file.bytes));
    return photo;
  }

  void detect_read(DetectedPhoto& photo, const std::filesystem::path& path) const override {
    if (!photo.ok() || !photo.bytes) return;
    io::DecodeOptions decode;
    decode.min_long_side = options_.detect_long_side;
    decode.max_file_bytes = options_.max_file_bytes;
    io::DecodeResult decoded = io::decode_image_bytes(*photo.bytes, decode, path.string());
    if (!decoded.ok()) {
      photo.reason = io::to_string(decoded.error);
      photo.message = decoded.message;
      return;
    }
    io::DecodedImage& d = *decoded.value;
    photo.width = d.original_width;
    photo.height = d.original_height;
    photo.capture_time = d.capture_time;
    photo.warnings = std::move(d.warnings);
    photo.view = d.image;
    photo.scale = d.scale;
    const detect::DetectionResult found = detector_->detect(photo.view);
    const float to_photo = static_cast<float>(1.0 / d.scale);
    for (const detect::Detection& face : found.faces) {
      photo.faces.push_back(transformed(face, 0.0f, 0.0f, to_photo));
    }
    photo.too_small = found.too_small.size();
  }

  DetectedPhoto detect(const std::filesystem::path& path) const override {
    DetectedPhoto photo = read(path);
    detect_read(photo, path);
    return photo;
  }

  match::FaceDescription describe(const DetectedPhoto& photo, std::size_t index) const override {
    match::FaceDescription description;
    with_face_pixels(photo, index, [&](const Image& image, const detect::Detection& face) {
      description = recognizer_->describe(image, face);
    });
    return description;
  }

  AnalyzedFace analyze(const DetectedPhoto& photo, std::size_t index) const override {
    AnalyzedFace analyzed;
    with_face_pixels(photo, index, [&](const Image& image, const detect::Detection& face) {
      analyzed = analyze_pixels(image, face);
    });
    return analyzed;
  }

  std::vector<AnalyzedFace> analyze_all(const DetectedPhoto& photo,
                                        const std::atomic<bool>* stop) const override {
    return for_each_face<AnalyzedFace>(photo, stop,
                                       [&](const Image& image, const detect::Detection& face) {
                                         return analyze_pixels(image, face);
                                       });
  }

  std::vector<match::FaceDescription> describe_all(const DetectedPhoto& photo) const override {
    return for_each_face<match::FaceDescription>(
        photo, nullptr, [&](const Image& image, const detect::Detection& face) {
          return recognizer_->describe(image, face);
        });
  }

  // Loaded on first use, so that callers that only describe faces (search by
  // photo) neither pay for nor depend on the attribute models.
  const attributes::AttributeEstimator* attribute_estimator() const override {
    if (!options_.analytics) return nullptr;
    std::call_once(attributes_loaded_, [&] {
      attributes::AttributeOptions attribute_options = options_.attributes;
      attribute_options.input.threads = options_.threads;
      attributes_ = attributes::AttributeEstimator::create(store_, attribute_options);
    });
    return attributes_.get();
  }

 private:
  // what(image, face) for every face of the photo, in order, with the
  // full-resolution surroundings of all its small faces decoded in one pass:
  // a JPEG's entropy-coded data, most of its decoding cost, is then read once
  // down to the lowest small face instead of once per face. Stops early once
  // *stop is set.
  template <typename Result, typename What>
  std::vector<Result> for_each_face(const DetectedPhoto& photo, const std::atomic<bool>* stop,
                                    What&& what) const {
    std::vector<std::optional<std::size_t>> region_of(photo.faces.size());
    std::vector<cv::Rect> regions;
    for (std::size_t i = 0; i < photo.faces.size(); ++i) {
      if (const std::optional<cv::Rect> region = full_resolution_region(photo, i)) {
        region_of[i] = regions.size();
        regions.push_back(*region);
      }
    }
    std::vector<io::DecodeResult> decoded;
    if (!regions.empty()) {
      decoded = io::decode_image_regions_bytes(*photo.bytes, regions, region_decode_options());
    }
    std::vector<Result> results;
    results.reserve(photo.faces.size());
    for (std::size_t i = 0; i < photo.faces.size(); ++i) {
      if (stop != nullptr && stop->load()) break;
      const detect::Detection& face = photo.faces[i];
      if (region_of[i] && decoded[*region_of[i]].ok()) {
        const io::DecodedImage& crop = *decoded[*region_of[i]].value;
        results.push_back(what(crop.image, in_region(face, crop.region)));
      } else {
        results.push_back(what(photo.view, in_view(photo, face)));
      }
    }
    return results;
  }

  AnalyzedFace analyze_pixels(const Image& image, const detect::Detection& face) const {
    AnalyzedFace analyzed;
    analyzed.description = recognizer_->describe(image, face);
    if (const auto* estimator = attribute_estimator()) {
      analyzed.attributes = estimator->estimate(image, face);
    }
    return analyzed;
  }

  // The face in the detection view's pixels.
  static detect::Detection in_view(const DetectedPhoto& photo, const detect::Detection& face) {
    return transformed(face, 0.0f, 0.0f, static_cast<float>(photo.scale));
  }
  // The face in the pixels of a full-resolution region decode.
  static detect::Detection in_region(const detect::Detection& face, const cv::Rect& region) {
    return transformed(face, -static_cast<float>(region.x), -static_cast<float>(region.y), 1.0f);
  }

  // When photo.faces[index] is small in the reduced view: the surroundings to
  // decode at full resolution (one face width on every side, enough for
  // alignment and the quality crop). nullopt: describe it from the view.
  std::optional<cv::Rect> full_resolution_region(const DetectedPhoto& photo,
                                                 std::size_t index) const {
    const detect::Detection& face = photo.faces[index];
    const float scale = static_cast<float>(photo.scale);
    if (scale >= 1.0f || face.box.width * scale >= options_.describe_from_full_below ||
        !photo.bytes) {
      return std::nullopt;
    }
    const float margin = std::max(face.box.width, face.box.height);
    const cv::Rect wanted(static_cast<int>(std::floor(face.box.x - margin)),
                          static_cast<int>(std::floor(face.box.y - margin)),
                          static_cast<int>(std::ceil(face.box.width + 2 * margin)),
                          static_cast<int>(std::ceil(face.box.height + 2 * margin)));
    const cv::Rect region = wanted & cv::Rect(0, 0, photo.width, photo.height);
    if (region.empty()) return std::nullopt;
    return region;
  }

  io::DecodeOptions region_decode_options() const {
    io::DecodeOptions decode;
    decode.max_file_bytes = options_.max_file_bytes;
    return decode;
  }

  // Calls use(image, face) with the pixels a face is described from and the
  // face in those pixels' coordinates.
  template <typename Use>
  void with_face_pixels(const DetectedPhoto& photo, std::size_t index, Use&& use) const {
    if (index >= photo.faces.size()) {
      throw UsageError("face " + std::to_string(index) + " requested, the photo has " +
                       std::to_string(photo.faces.size()));
    }
    const detect::Detection& face = photo.faces[index];
    if (const std::optional<cv::Rect> region = full_resolution_region(photo, index)) {
      const io::DecodeResult crop =
          io::decode_image_region_bytes(*photo.bytes, *region, region_decode_options());
      if (crop.ok()) return use(crop.value->image, in_region(face, crop.value->region));
    }
    return use(photo.view, in_view(photo, face));
  }

  AnalyzerOptions options_;
  std::unique_ptr<detect::Detector> detector_;
  std::unique_ptr<match::Recognizer> recognizer_;
  infer::ModelStore store_;  // a copy: the analyzer may outlive the caller's store
  mutable std::once_flag attributes_loaded_;
  mutable std::unique_ptr<attributes::AttributeEstimator> attributes_;
};

}  // namespace

std::unique_ptr<PhotoAnalyzer> PhotoAnalyzer::create(const infer::ModelStore& store,
                                                     const AnalyzerOptions& options) {
  return std::make_unique<Analyzer>(store, options);
}

std::size_t largest_face(const std::vector<detect::Detection>& faces) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < faces.size(); ++i) {
    if (faces[i].box.area() > faces[best].box.area()) best = i;
  }
  return best;
}

}  // namespace likeness::library
