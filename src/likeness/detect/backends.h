// Internal to likeness/detect: the backends behind Detector::create and the
// helpers they share. Not part of the public API.
#pragma once

#include <functional>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "likeness/align/landmarks.h"
#include "likeness/detect/detector.h"

namespace likeness::detect::internal {

// Maps a backend's own box to the common convention (dlib HOG box):
// common = (x + dx*w, y + dy*h, w*sw, h*sh). Measured on LFW (docs/detection.md).
struct BoxCalibration {
  float dx = 0.0f, dy = 0.0f, sw = 1.0f, sh = 1.0f;
  cv::Rect2f apply(const cv::Rect2f& b) const {
    return {b.x + dx * b.width, b.y + dy * b.height, b.width * sw, b.height * sh};
  }
};

// A backend finds faces; landmarks, min-size split and max_faces are applied
// by the wrapper (finish()).
class Backend {
 public:
  virtual ~Backend() = default;
  // Boxes in the backend's common convention (calibrated unless raw_boxes).
  virtual std::vector<Detection> find(const Image& image) const = 0;
  virtual std::string_view name() const = 0;
};

std::unique_ptr<Backend> make_ultraface(const infer::ModelStore& store,
                                        const DetectorOptions& options);
std::unique_ptr<Backend> make_blazeface(const infer::ModelStore& store,
                                        const DetectorOptions& options, bool front);
std::unique_ptr<Backend> make_haar(const infer::ModelStore& store, const DetectorOptions& options);
std::unique_ptr<Backend> make_dlib_hog(const DetectorOptions& options);

// One region of the original image that a fixed-input model looks at.
struct Region {
  cv::Rect2f rect;      // in original pixels; may extend past the image (padded)
  bool whole = false;   // the level-0 view of the whole photo
  cv::Rect2f interior;  // tile edges that are inside the photo (for cut faces)
};

// Level 0 covers the whole photo (stretched when stretch, else letterboxed
// into a square-ish input), then finer tiles until a face of min_face pixels
// appears at least min_face_input pixels large in the model input (upscaling
// at most max_upscale).
std::vector<Region> pyramid_regions(cv::Size image, cv::Size input, bool stretch, float min_face,
                                    float min_face_input, float max_upscale);

// True when a box (original pixels) found in a tile must be dropped: it
// touches a tile edge inside the photo (a cut face), or it is larger than the
// tile overlap (a big face is found whole by a coarser level; a big box in a
// tile is usually a part of such a face).
bool reject_in_tile(const cv::Rect2f& box, const Region& region);

// The tiling loop every fixed-input backend shares: runs `find_in` on each
// region with that region's model input (`input`-sized RGB pixels) and the
// region as finally used (snapped to whole pixels of its pyramid level, so
// that boxes map back exactly); find_in returns boxes in original pixels with
// scores. The photo is resized once per pyramid level and the tiles are crops
// of that level (resizing each tile from the full photo cost several times
// more, docs/detection.md). Then it drops degenerate
// boxes and boxes cut by a tile edge, suppresses duplicates within each
// region and then across regions, and finally maps the boxes to the common
// convention (unless options.raw_boxes) and labels them with `backend`.
std::vector<Detection> detect_over_regions(
    const cv::Mat& rgb, cv::Size input, const std::vector<Region>& regions,
    const std::function<std::vector<Detection>(const Region&, const cv::Mat&)>& find_in,
    const BoxCalibration& calibration, std::string_view backend, const DetectorOptions& options);

}  // namespace likeness::detect::internal
