// UltraFace RFB-320 and MediaPipe BlazeFace through ONNX Runtime.
#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "likeness/core/error.h"
#include "likeness/detect/backends.h"

namespace likeness::detect::internal {
namespace {

// Each backend's own box -> common (dlib HOG) convention, measured on LFW
// (docs/detection.md, "Box calibration").
constexpr BoxCalibration kUltraFaceCalibration{-0.041f, 0.183f, 1.109f, 0.776f};
constexpr BoxCalibration kBlazeFaceCalibration{0.016f, -0.025f, 0.99f, 0.99f};

// Input conventions (models/manifest.json).
constexpr InputFormat kUltraFaceInput{.nchw = true, .mean = 127.0f, .scale = 128.0f};
constexpr InputFormat kBlazeFaceInput{.nchw = false, .mean = 127.5f, .scale = 127.5f};

float threshold_or(const DetectorOptions& options, float fallback) {
  return options.score_threshold >= 0.0f ? options.score_threshold : fallback;
}

// How finer pyramid levels find small faces cheaply (docs/detection.md,
// "Small faces: candidates, then a closer look"). A finer level shows a face
// of min_face_size at kFineFaceInput px, where UltraFace is often unsure of
// it (scores well below 0.7) but rarely misses it altogether: every box
// scoring kCandidateThreshold or more there is a candidate. A candidate that
// scored below the detector's threshold, or is smaller than
// kReliableFaceInput in its input, is looked at again in a kLookInput-px
// square crop of the photo in which it is kLookFace px wide, and kept only if
// that look finds a face over it scoring halfway between the detector's
// threshold and 1 (0.85 for 0.7; its box and score are then the look's).
// Showing min_face_size at 16 px instead and trusting scores of 0.7 costs
// 1.8x the model input for about as many faces (measured on camera-size
// photos and on LFW canvases).
constexpr float kFineFaceInput = 12.0f;
constexpr float kCandidateThreshold = 0.15f;
constexpr float kReliableFaceInput = 16.0f;
constexpr int kLookInput = 96;
constexpr float kLookFace = 24.0f;
constexpr float kLookMaxUpscale = 3.0f;
// A box of the closer look belongs to the candidate when it overlaps it this
// much (the candidate's box, from a 12-px view, is rough).
constexpr float kLookMinIou = 0.3f;

// UltraFace RFB-320 through its dynamic-input variant (model
// ultraface_rfb320_dynamic, made by tools/ultraface/dynamic_ultraface.py; it
// returns the raw regression, decoded here with UltraFacePriors). Level 0 is
// the photo stretched to the 320x240 the model was trained at (the box
// calibration was measured there); finer levels are covered by a few larger
// tiles (ultraface_tiling()) instead of many overlapping 320x240 ones, and
// their unsure or tiny boxes get a closer look (above).
class UltraFace final : public Backend {
 public:
  UltraFace(const infer::ModelStore& store, const DetectorOptions& options)
      : session_(store.open_session("ultraface_rfb320_dynamic", {.threads = options.threads})),
        options_(options),
        threshold_(threshold_or(options, 0.7f)),
        candidate_threshold_(std::min(kCandidateThreshold, threshold_)),
        look_threshold_(threshold_ + (1.0f - threshold_) / 2.0f) {}

  std::vector<Detection> find(const Image& image) const override {
    auto find_in = [&](const Region& region, const std::vector<infer::Tensor>& inputs) {
      std::vector<Detection> here =
          boxes(region, inputs, region.whole ? threshold_ : candidate_threshold_);
      if (region.whole) return here;
      // Cut faces and duplicates go before the looks (detect_over_regions
      // would drop them after), so that none is looked at for nothing. Boxes
      // inside bigger ones stay: an unsure big box around a small face must
      // not drop it as a face part before the look.
      std::erase_if(here, [&](const Detection& d) { return reject_in_tile(d.box, region); });
      here = non_max_suppression(std::move(here), options_.nms_iou, /*drop_parts=*/false);
      const float input_scale = static_cast<float>(region.input.width) / region.rect.width;
      std::vector<Detection> kept;
      for (const Detection& d : here) {
        const float side = std::max(d.box.width, d.box.height) * input_scale;
        if (d.score >= threshold_ && side >= kReliableFaceInput) {
          kept.push_back(d);
        } else if (auto looked = look_closer(image.rgb, d.box)) {
          kept.push_back(std::move(*looked));
        }
      }
      return kept;
    };
    return detect_over_regions(image.rgb,
                               ultraface_regions(image.rgb.size(), options_.min_face_size),
                               kUltraFaceInput, find_in, kUltraFaceCalibration, name(), options_);
  }
  std::string_view name() const override { return "ultraface"; }

 private:
  // The model's boxes scoring at least min_score in `region`, in original
  // pixels (raw, uncalibrated).
  std::vector<Detection> boxes(const Region& region, const std::vector<infer::Tensor>& inputs,
                               float min_score) const {
    const auto out = session_->run(inputs);
    const std::vector<float>& scores = out[0].data;
    const std::vector<float>& locations = out[1].data;
    const UltraFacePriors priors(region.input.width, region.input.height);
    if (scores.size() != 2 * priors.size() || locations.size() != 4 * priors.size()) {
      throw ModelError("ultraface_rfb320_dynamic gave " + std::to_string(scores.size() / 2) +
                       " priors for a " + std::to_string(region.input.width) + "x" +
                       std::to_string(region.input.height) + " input where " +
                       std::to_string(priors.size()) +
                       " were expected; run scripts/setup.sh models");
    }
    std::vector<Detection> found;
    for (std::size_t i = 0; i < priors.size(); ++i) {
      const float score = scores[2 * i + 1];
      if (score < min_score) continue;
      const auto b = priors.decode(i, &locations[4 * i]);
      Detection d;
      d.box = {region.rect.x + b[0] * region.rect.width, region.rect.y + b[1] * region.rect.height,
               (b[2] - b[0]) * region.rect.width, (b[3] - b[1]) * region.rect.height};
      d.score = score;
      found.push_back(std::move(d));
    }
    return found;
  }

  // The closer look at a candidate box (original pixels): the best box
  // scoring look_threshold_ over it in a kLookInput-px crop of the photo
  // around it, scaled so the candidate is kLookFace px wide; none if the look
  // finds no face there.
  std::optional<Detection> look_closer(const cv::Mat& rgb, const cv::Rect2f& candidate) const {
    const float side = std::max(candidate.width, candidate.height);
    const float scale = std::min(kLookMaxUpscale, kLookFace / std::max(1.0f, side));
    // The crop, in whole photo pixels; parts outside the photo stay black,
    // as the tiles' padding.
    const int crop_side = std::max(1, static_cast<int>(std::lround(kLookInput / scale)));
    const float half = static_cast<float>(crop_side) / 2.0f;
    const cv::Rect crop(static_cast<int>(std::lround(candidate.x + candidate.width / 2 - half)),
                        static_cast<int>(std::lround(candidate.y + candidate.height / 2 - half)),
                        crop_side, crop_side);
    const cv::Rect inside = crop & cv::Rect(0, 0, rgb.cols, rgb.rows);
    if (inside.empty()) return std::nullopt;
    cv::Mat patch(crop.size(), CV_8UC3, cv::Scalar::all(0));
    rgb(inside).copyTo(patch(inside - crop.tl()));
    cv::Mat look;
    cv::resize(patch, look, cv::Size(kLookInput, kLookInput), 0, 0,
               crop_side > kLookInput ? cv::INTER_AREA : cv::INTER_LINEAR);
    std::vector<infer::Tensor> input(1);
    pack_input(look, cv::Rect(0, 0, kLookInput, kLookInput), kUltraFaceInput, input.front());
    Region region;
    region.rect = cv::Rect2f(crop);
    region.input = look.size();
    std::optional<Detection> best;
    for (Detection& d : boxes(region, input, look_threshold_)) {
      if (box_iou(d.box, candidate) < kLookMinIou) continue;
      if (!best || d.score > best->score) best = std::move(d);
    }
    return best;
  }

  std::unique_ptr<infer::Session> session_;
  DetectorOptions options_;
  float threshold_;
  float candidate_threshold_;
  float look_threshold_;
};

// MediaPipe BlazeFace (front 128 or back 256). Both have 896 anchors: a 16x16
// grid with 2 anchors per cell then an 8x8 grid with 6, centred in the cells;
// offsets are in input pixels.
class BlazeFace final : public Backend {
 public:
  BlazeFace(const infer::ModelStore& store, const DetectorOptions& options, bool front)
      : session_(store.open_session(front ? "blazeface_front" : "blazeface_back",
                                    {.threads = options.threads})),
        options_(options),
        size_(front ? 128 : 256),
        front_(front),
        threshold_(threshold_or(options, 0.75f)) {
    for (int grid : {16, 8}) {
      const int per_cell = grid == 16 ? 2 : 6;
      for (int y = 0; y < grid; ++y) {
        for (int x = 0; x < grid; ++x) {
          for (int k = 0; k < per_cell; ++k) {
            anchors_.emplace_back((static_cast<float>(x) + 0.5f) / static_cast<float>(grid),
                                  (static_cast<float>(y) + 0.5f) / static_cast<float>(grid));
          }
        }
      }
    }
  }

  std::vector<Detection> find(const Image& image) const override {
    const cv::Size input(size_, size_);
    const auto fsize = static_cast<float>(size_);
    const auto regions = pyramid_regions(image.rgb.size(), input, /*stretch=*/false,
                                         options_.min_face_size, front_ ? 20.0f : 24.0f, 3.0f);
    const std::vector<std::string> names = {"Identity:0", "Identity_1:0", "Identity_2:0",
                                            "Identity_3:0"};
    auto find_in = [&](const Region& region, const std::vector<infer::Tensor>& inputs) {
      const auto out = session_->run(inputs, names);
      std::vector<Detection> here;
      std::size_t anchor = 0;
      for (int part = 0; part < 2; ++part) {
        const std::vector<float>& logits = out[static_cast<std::size_t>(part)].data;
        const std::vector<float>& raw = out[static_cast<std::size_t>(part) + 2].data;
        for (std::size_t i = 0; i < logits.size(); ++i, ++anchor) {
          const float logit = std::clamp(logits[i], -100.0f, 100.0f);
          const float score = 1.0f / (1.0f + std::exp(-logit));
          if (score < threshold_) continue;
          const float* r = &raw[16 * i];
          const cv::Point2f a = anchors_[anchor];
          const float cx = r[0] / fsize + a.x;
          const float cy = r[1] / fsize + a.y;
          const float w = r[2] / fsize;
          const float h = r[3] / fsize;
          Detection d;
          d.box = {region.rect.x + (cx - w / 2) * region.rect.width,
                   region.rect.y + (cy - h / 2) * region.rect.height, w * region.rect.width,
                   h * region.rect.height};
          d.score = score;
          here.push_back(std::move(d));
        }
      }
      return here;
    };
    return detect_over_regions(image.rgb, regions, kBlazeFaceInput, find_in, kBlazeFaceCalibration,
                               name(), options_);
  }
  std::string_view name() const override { return front_ ? "blazeface-front" : "blazeface"; }

 private:
  std::unique_ptr<infer::Session> session_;
  DetectorOptions options_;
  int size_;
  bool front_;
  float threshold_;
  std::vector<cv::Point2f> anchors_;
};

}  // namespace

namespace {
constexpr std::array<int, 4> kUltraFaceStrides{8, 16, 32, 64};
constexpr std::array<std::array<int, 3>, 4> kUltraFaceMinBoxes{
    {{10, 16, 24}, {32, 48, 0}, {64, 96, 0}, {128, 192, 256}}};
constexpr std::array<int, 4> kUltraFaceBoxesPerCell{3, 2, 2, 3};
constexpr float kCenterVariance = 0.1f;
constexpr float kSizeVariance = 0.2f;
}  // namespace

UltraFacePriors::UltraFacePriors(int width, int height) : width_(width), height_(height) {
  for (std::size_t k = 0; k < kUltraFaceStrides.size(); ++k) {
    const int stride = kUltraFaceStrides[k];
    cols_[k] = (width + stride - 1) / stride;
    rows_[k] = (height + stride - 1) / stride;
    first_[k] = total_;
    total_ += static_cast<std::size_t>(cols_[k]) * static_cast<std::size_t>(rows_[k]) *
              static_cast<std::size_t>(kUltraFaceBoxesPerCell[k]);
  }
  first_[kUltraFaceStrides.size()] = total_;
}

std::array<float, 4> UltraFacePriors::prior(std::size_t index) const {
  assert(index < total_);
  std::size_t k = 0;
  while (index >= first_[k + 1]) ++k;
  const auto per_cell = static_cast<std::size_t>(kUltraFaceBoxesPerCell[k]);
  const std::size_t local = index - first_[k];
  const std::size_t cell = local / per_cell;
  const auto cols = static_cast<std::size_t>(cols_[k]);
  const auto col = static_cast<double>(cell % cols);
  const auto row = static_cast<double>(cell / cols);
  const auto min_box = static_cast<double>(kUltraFaceMinBoxes[k][local % per_cell]);
  // As the original generator (double precision, then float32, clamped).
  auto clamp01 = [](double v) { return static_cast<float>(std::clamp(v, 0.0, 1.0)); };
  return {clamp01((col + 0.5) / cols_[k]), clamp01((row + 0.5) / rows_[k]),
          clamp01(min_box / width_), clamp01(min_box / height_)};
}

std::array<float, 4> UltraFacePriors::decode(std::size_t index, const float* location) const {
  const auto p = prior(index);
  // The original graph's order of float operations.
  const float cx = location[0] * kCenterVariance * p[2] + p[0];
  const float cy = location[1] * kCenterVariance * p[3] + p[1];
  const float w = std::exp(location[2] * kSizeVariance) * p[2];
  const float h = std::exp(location[3] * kSizeVariance) * p[3];
  return {cx - w / 2.0f, cy - h / 2.0f, cx + w / 2.0f, cy + h / 2.0f};
}

LevelTiling ultraface_tiling() {
  LevelTiling tiling;
  // Tile sides on multiples of 16 and tile origins on multiples of 16 level
  // pixels: the stride-8 and stride-16 priors (faces up to ~60 px) then sit
  // where the trained 320x240 geometry puts them, and every tile samples the
  // level on the same grid (origins off that grid lost 4 of 480 faces of
  // 30 px, docs/detection.md).
  tiling.align = 16;
  tiling.phase = 16;
  // Measured (docs/detection.md): ONNX Runtime's time per input pixel grows
  // with the input as the activations leave the caches, ~28 ns up to
  // 320x240, ~1.2x that at 0.2 Mpx, ~1.75x at 0.75 Mpx; a run costs ~0.1 ms
  // besides its pixels. A 1024x683 level in one run cost about as much as in
  // 16 overlapping 320x240 tiles, and least in four tiles of ~0.2 Mpx.
  tiling.slowdown_area = 1 << 20;
  tiling.run_cost = 4096;
  // Bounds the memory of one run (the cost above never picks such a tile for
  // levels up to ~2 Mpx anyway).
  tiling.max_area = 1 << 20;
  // As the 320x240 tiles did: a finer level keeps boxes up to 0.3 x 240 px of
  // its input (bigger faces are found whole by a coarser level), so tiles
  // overlap by a bit more than that.
  tiling.max_box = 72.0f;
  tiling.overlap = 80;
  // Level 0's boxes get no closer look: there a face must be 16 px.
  tiling.whole_min_face_input = kReliableFaceInput;
  return tiling;
}

std::vector<Region> ultraface_regions(cv::Size image, float min_face) {
  // Finer levels show min_face at kFineFaceInput px; their unsure boxes get a
  // closer look (UltraFace::find).
  return level_tile_regions(image, cv::Size(320, 240), min_face, kFineFaceInput, 3.0f,
                            ultraface_tiling());
}

std::unique_ptr<Backend> make_ultraface(const infer::ModelStore& store,
                                        const DetectorOptions& options) {
  return std::make_unique<UltraFace>(store, options);
}

std::unique_ptr<Backend> make_blazeface(const infer::ModelStore& store,
                                        const DetectorOptions& options, bool front) {
  return std::make_unique<BlazeFace>(store, options, front);
}

}  // namespace likeness::detect::internal
