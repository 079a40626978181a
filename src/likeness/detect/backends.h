// Internal to likeness/detect: the backends behind Detector::create and the
// helpers they share. Not part of the public API.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "likeness/align/landmarks.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/session.h"

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

// One region of the original image that a model looks at.
struct Region {
  cv::Rect2f rect;      // in original pixels; may extend past the image (padded)
  cv::Size input;       // model input for it, pixels (rect resized to this)
  bool whole = false;   // the level-0 view of the whole photo
  cv::Rect2f interior;  // tile edges that are inside the photo (for cut faces)
  // Boxes larger than this (original pixels, either side) are left to a
  // coarser level; 0 = no limit (level 0).
  float max_box = 0.0f;
};

// For fixed-input models. Level 0 covers the whole photo (stretched when
// stretch, else letterboxed into a square-ish input), then finer tiles until a
// face of min_face pixels appears at least min_face_input pixels large in the
// model input (upscaling at most max_upscale).
std::vector<Region> pyramid_regions(cv::Size image, cv::Size input, bool stretch, float min_face,
                                    float min_face_input, float max_upscale);

// How a model that takes any input size covers a finer pyramid level.
struct LevelTiling {
  int align = 16;         // input sides are multiples of this (padded with black)
  int phase = 16;         // tile origins on multiples of this, level pixels
  int max_area = 0;       // largest input, pixels (0 = no limit); bigger levels are tiled
  int overlap = 80;       // least overlap of neighbouring tiles, input pixels
  float max_box = 72.0f;  // finer levels keep boxes up to this size, input pixels
  // The tile grid is the one of least cost: per tile run_cost + area * (1 +
  // area / slowdown_area) (the model's time per pixel grows with the input).
  int run_cost = 0;       // cost of one model run, in input pixels
  int slowdown_area = 0;  // 0: time per pixel independent of the input size
  // Level 0 alone covers the photo only when it shows a face of min_face at
  // least this large (0: min_face_input). When it shows it smaller but still
  // at min_face_input or more, one finer level showing it this large follows
  // (UltraFace looks closer at the unsure boxes of finer levels only).
  float whole_min_face_input = 0.0f;
};

// For models that take any input size (UltraFace, dynamic). The same pyramid
// scales as pyramid_regions with `base` as the level-0 input; level 0 is the
// photo stretched to `base`. Each finer level is the photo at that level's
// scale, covered by the grid of equal tiles (each at most tiling.max_area
// pixels, sides multiples of tiling.align, overlapping by at least
// tiling.overlap) of least cost (see LevelTiling). Pure function; thread-safe.
std::vector<Region> level_tile_regions(cv::Size image, cv::Size base, float min_face,
                                       float min_face_input, float max_upscale,
                                       const LevelTiling& tiling);

// How the ultraface backend covers finer pyramid levels (its inputs are at
// most max_area pixels), and the regions it runs its model on for a photo of
// `image` pixels and a minimum face size (DetectorOptions::min_face_size).
LevelTiling ultraface_tiling();
std::vector<Region> ultraface_regions(cv::Size image, float min_face);

// True when a box (original pixels) found in a region must be dropped: it
// touches a tile edge inside the photo (a cut face), or it is larger than
// region.max_box (a big face is found whole by a coarser level; a big box in a
// tile is usually a part of such a face).
bool reject_in_tile(const cv::Rect2f& box, const Region& region);

// How a model takes its input: 8-bit RGB values v as floats (v - mean) /
// scale, planar (NCHW) or interleaved (NHWC).
struct InputFormat {
  bool nchw = true;
  float mean = 0.0f;
  float scale = 1.0f;
};

// Packs the pixels of `tile` (in pixels of the 8-bit RGB image `level`; the
// parts of the tile outside the level are black, value 0) into `tensor`:
// shape {1, 3, h, w} or {1, h, w, 3}, each value exactly (float(v) - mean) *
// (1 / scale) in float arithmetic. The tensor's storage is reused (no
// allocation when it already holds as many values). Thread-safe for distinct
// tensors.
void pack_input(const cv::Mat& level, const cv::Rect& tile, const InputFormat& format,
                infer::Tensor& tensor);

// The loop every ONNX backend shares: runs `find_in` on each region with that
// region's model input (the region.input-sized RGB pixels packed as `format`
// into the one tensor of `inputs`) and the region as finally used (snapped to
// whole pixels of its pyramid level, so that boxes map back exactly);
// find_in returns boxes in original pixels with scores. The photo is resized
// once per pyramid level, finest first, and the tiles are crops of that level
// (resizing each tile from the full photo cost several times more,
// docs/detection.md), packed into the tensor straight from the level. Then it
// drops degenerate boxes and boxes rejected by reject_in_tile, suppresses
// duplicates within each region and then across regions, and finally maps the
// boxes to the common convention (unless options.raw_boxes) and labels them
// with `backend`. The level images and input tensors live in per-thread
// buffers reused from call to call (up to a bound, see detector.cpp), so the
// function is thread-safe and may be re-entered.
std::vector<Detection> detect_over_regions(
    const cv::Mat& rgb, const std::vector<Region>& regions, const InputFormat& format,
    const std::function<std::vector<Detection>(const Region&, const std::vector<infer::Tensor>&)>&
        find_in,
    const BoxCalibration& calibration, std::string_view backend, const DetectorOptions& options);

// UltraFace RFB-320's priors (SSD anchors) for any input size, in the order of
// the model's outputs: strides 8, 16, 32, 64; for each, rows, columns, then
// min boxes {10,16,24}, {32,48}, {64,96}, {128,192,256} px. Feature maps are
// ceil(size / stride); a prior is (centre x, centre y, width, height) relative
// to the input, clamped to [0, 1], as the original model's constants (which
// these reproduce at 320x240; tools/ultraface/dynamic_ultraface.py).
// Computed on demand from the index (only the few priors above the score
// threshold are ever decoded), so there is nothing to cache. Thread-safe.
class UltraFacePriors {
 public:
  UltraFacePriors(int width, int height);
  std::size_t size() const { return total_; }
  std::array<float, 4> prior(std::size_t index) const;
  // Corner-form box (x1, y1, x2, y2) relative to the input from the model's
  // raw regression `location` (4 values) of prior `index`: centre = prior +
  // 0.1 * d * size, size = prior size * exp(0.2 * d).
  std::array<float, 4> decode(std::size_t index, const float* location) const;

 private:
  int width_, height_;
  std::array<int, 4> cols_{}, rows_{};
  std::array<std::size_t, 5> first_{};  // index of each stride's first prior, then total
  std::size_t total_ = 0;
};

}  // namespace likeness::detect::internal
