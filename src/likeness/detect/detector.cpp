#include "likeness/detect/detector.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <deque>
#include <memory>
#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "likeness/core/error.h"
#include "likeness/detect/backends.h"

namespace likeness::detect {

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

std::vector<Detection> non_max_suppression(std::vector<Detection> detections, float iou,
                                           bool drop_parts) {
  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (auto& d : detections) {
    const bool overlaps = std::any_of(
        kept.begin(), kept.end(), [&](const Detection& k) { return box_iou(k.box, d.box) > iou; });
    if (!overlaps) kept.push_back(std::move(d));
  }
  if (!drop_parts) return kept;
  // A box lying mostly inside a bigger one is a part of that face (an eye and
  // nose region seen by a fine tile), not a second face.
  std::vector<Detection> out;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const cv::Rect2f& b = kept[i].box;
    bool inside = false;
    for (std::size_t j = 0; j < kept.size() && !inside; ++j) {
      const cv::Rect2f& o = kept[j].box;
      inside = j != i && o.area() > 1.5f * b.area() && (o & b).area() > 0.7f * b.area();
    }
    if (!inside) out.push_back(std::move(kept[i]));
  }
  return out;
}

std::vector<Detection> fuse_detections(const std::vector<BackendDetections>& inputs,
                                       const FusionOptions& options) {
  struct Member {
    std::size_t input;
    const Detection* det;
  };
  struct Cluster {
    std::vector<Member> members;
    cv::Rect2f box;  // running weighted mean
    float weight_sum = 0.0f;
  };
  // All boxes, best weighted score first, so clusters grow around confident boxes.
  std::vector<Member> all;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    for (const auto& d : inputs[i].detections) all.push_back({i, &d});
  }
  std::stable_sort(all.begin(), all.end(), [&](const Member& a, const Member& b) {
    return inputs[a.input].weight * a.det->score > inputs[b.input].weight * b.det->score;
  });
  std::vector<Cluster> clusters;
  for (const Member& m : all) {
    Cluster* best = nullptr;
    float best_iou = options.iou;
    for (auto& c : clusters) {
      const bool same_backend = std::any_of(c.members.begin(), c.members.end(),
                                            [&](const Member& o) { return o.input == m.input; });
      if (same_backend) continue;
      const float iou = box_iou(c.box, m.det->box);
      if (iou > best_iou) {
        best_iou = iou;
        best = &c;
      }
    }
    const float w = std::max(1e-3f, inputs[m.input].weight * m.det->score);
    if (best == nullptr) {
      clusters.push_back({{m}, m.det->box, w});
      continue;
    }
    const float total = best->weight_sum + w;
    const cv::Rect2f& b = m.det->box;
    best->box = {(best->box.x * best->weight_sum + b.x * w) / total,
                 (best->box.y * best->weight_sum + b.y * w) / total,
                 (best->box.width * best->weight_sum + b.width * w) / total,
                 (best->box.height * best->weight_sum + b.height * w) / total};
    best->weight_sum = total;
    best->members.push_back(m);
  }
  std::vector<Detection> out;
  for (const auto& c : clusters) {
    float votes = 0.0f;
    float miss = 1.0f;
    for (const Member& m : c.members) {
      votes += inputs[m.input].weight * m.det->score;
      miss *= 1.0f - std::clamp(inputs[m.input].weight * m.det->score, 0.0f, 1.0f);
    }
    if (votes + 1e-4f < options.min_votes) continue;
    Detection d;
    d.box = c.box;
    d.score = 1.0f - miss;
    float best_weight = -1.0f;
    for (const Member& m : c.members) {
      d.backends.push_back(inputs[m.input].backend);
      if (m.det->has_landmarks && inputs[m.input].weight > best_weight) {
        best_weight = inputs[m.input].weight;
        d.landmarks = m.det->landmarks;
        d.has_landmarks = true;
      }
    }
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return out;
}

namespace internal {

namespace {

// The scales of the levels after level 0 (scale s0): steps of at most 3.5x up
// to `needed`. One tiled level sees faces from ~min_face_input up to the tile
// overlap whole, a range of ~3.5x.
std::vector<float> finer_scales(float s0, float needed) {
  std::vector<float> scales;
  float s = s0;
  while (s < needed * 0.999f) {
    const int steps = static_cast<int>(std::ceil(std::log(needed / s) / std::log(3.5f)));
    s = std::min(needed, s * std::pow(needed / s, 1.0f / static_cast<float>(std::max(1, steps))));
    scales.push_back(s);
  }
  return scales;
}

// Origins of tiles of length `tile` covering `total`, overlapping by at least
// `overlap` (a fraction of the tile), evenly spread.
std::vector<float> tile_positions(float total, float tile, float overlap) {
  if (tile >= total) return {0.0f};
  const int n = static_cast<int>(std::ceil((total - tile) / (tile * (1.0f - overlap)))) + 1;
  const float step = (total - tile) / static_cast<float>(n - 1);
  std::vector<float> p;
  for (int i = 0; i < n; ++i) p.push_back(static_cast<float>(i) * step);
  return p;
}

int align_up(int value, int align) { return (value + align - 1) / align * align; }

}  // namespace

std::vector<Region> pyramid_regions(cv::Size image, cv::Size input, bool stretch, float min_face,
                                    float min_face_input, float max_upscale) {
  std::vector<Region> regions;
  const auto W = static_cast<float>(image.width);
  const auto H = static_cast<float>(image.height);
  const auto iw = static_cast<float>(input.width);
  const auto ih = static_cast<float>(input.height);
  if (W <= 0 || H <= 0) return regions;
  // Level 0: the whole photo.
  const float s0 = std::min(iw / W, ih / H);
  if (stretch) {
    regions.push_back({{0, 0, W, H}, input, true, {}, 0.0f});
  } else {
    regions.push_back({{0, 0, iw / s0, ih / s0}, input, true, {}, 0.0f});
  }
  const float needed = std::min(max_upscale, min_face_input / std::max(1.0f, min_face));
  for (const float s : finer_scales(s0, needed)) {
    const float tw = iw / s;  // tile size in original pixels
    const float th = ih / s;
    const float max_box = 0.3f * std::min(tw, th);
    if (tw >= W && th >= H) {
      // One tile covers the photo: same as level 0 without stretching.
      regions.push_back({{0, 0, tw, th}, input, false, {0, 0, W, H}, max_box});
      continue;
    }
    for (float y : tile_positions(H, th, 0.25f)) {
      for (float x : tile_positions(W, tw, 0.25f)) {
        regions.push_back({{x, y, tw, th}, input, false, {0, 0, W, H}, max_box});
      }
    }
  }
  return regions;
}

std::vector<Region> level_tile_regions(cv::Size image, cv::Size base, float min_face,
                                       float min_face_input, float max_upscale,
                                       const LevelTiling& tiling) {
  assert(tiling.align > 0 && tiling.phase > 0 && tiling.overlap >= 0);
  std::vector<Region> regions;
  const auto W = static_cast<float>(image.width);
  const auto H = static_cast<float>(image.height);
  if (W <= 0 || H <= 0) return regions;
  const float s0 =
      std::min(static_cast<float>(base.width) / W, static_cast<float>(base.height) / H);
  regions.push_back({{0, 0, W, H}, base, true, {}, 0.0f});
  const float face = std::max(1.0f, min_face);
  float needed = std::min(max_upscale, min_face_input / face);
  if (s0 >= needed && s0 * face < tiling.whole_min_face_input) {
    needed = std::min(max_upscale, tiling.whole_min_face_input / face);
  }
  for (const float s : finer_scales(s0, needed)) {
    const cv::Size level(std::max(1, static_cast<int>(std::lround(W * s))),
                         std::max(1, static_cast<int>(std::lround(H * s))));
    // n tiles along a side of `length` level pixels: the smallest tile (a
    // multiple of align) whose origins, on multiples of phase, cover the side
    // with the required overlap.
    struct Axis {
      int n = 0, tile = 0, step = 0;
    };
    const auto axis = [&](int length, int n) -> std::optional<Axis> {
      if (n == 1) return Axis{1, align_up(length, tiling.align), 0};
      const int first = (length + (n - 1) * tiling.overlap + n - 1) / n;
      for (int t = align_up(first, tiling.align); t < length; t += tiling.align) {
        const int span = (n - 1) * tiling.phase;
        const int step = (length - t + span - 1) / span * tiling.phase;
        if (t - step >= tiling.overlap) return Axis{n, t, step};
      }
      return std::nullopt;
    };
    // The grid of least cost whose tiles stay within max_area; if none does,
    // the one of the smallest tiles.
    std::optional<std::pair<Axis, Axis>> best, smallest;
    double best_cost = 0.0;
    const auto area = [](const std::pair<Axis, Axis>& g) {
      return static_cast<double>(g.first.tile) * g.second.tile;
    };
    const int max_nx = level.width / std::max(1, tiling.overlap) + 1;
    const int max_ny = level.height / std::max(1, tiling.overlap) + 1;
    for (int nx = 1; nx <= max_nx; ++nx) {
      const auto x = axis(level.width, nx);
      if (!x) continue;
      for (int ny = 1; ny <= max_ny; ++ny) {
        const auto y = axis(level.height, ny);
        if (!y) continue;
        const std::pair<Axis, Axis> grid{*x, *y};
        if (!smallest || area(grid) < area(*smallest)) smallest = grid;
        if (tiling.max_area > 0 && area(grid) > tiling.max_area) continue;
        const double slowdown =
            tiling.slowdown_area > 0 ? 1.0 + area(grid) / tiling.slowdown_area : 1.0;
        const double cost = nx * ny * (tiling.run_cost + area(grid) * slowdown);
        if (!best || cost < best_cost) {
          best = grid;
          best_cost = cost;
        }
      }
    }
    const auto [gx, gy] = best ? *best : *smallest;    // n == 1 always gives a grid
    const float tw = static_cast<float>(gx.tile) / s;  // in original pixels
    const float th = static_cast<float>(gy.tile) / s;
    for (int j = 0; j < gy.n; ++j) {
      for (int i = 0; i < gx.n; ++i) {
        regions.push_back(
            {{static_cast<float>(i * gx.step) / s, static_cast<float>(j * gy.step) / s, tw, th},
             cv::Size(gx.tile, gy.tile),
             false,
             {0, 0, W, H},
             tiling.max_box / s});
      }
    }
  }
  return regions;
}

bool reject_in_tile(const cv::Rect2f& box, const Region& region) {
  if (region.whole) return false;
  if (region.max_box > 0.0f && std::max(box.width, box.height) > region.max_box) return true;
  const float margin = 0.01f * std::max(region.rect.width, region.rect.height);
  const cv::Rect2f& r = region.rect;
  const cv::Rect2f& img = region.interior;
  // An edge of the tile that lies inside the photo cuts faces.
  if (r.x > img.x + 0.5f && box.x <= r.x + margin) return true;
  if (r.y > img.y + 0.5f && box.y <= r.y + margin) return true;
  if (r.x + r.width < img.x + img.width - 0.5f && box.x + box.width >= r.x + r.width - margin)
    return true;
  if (r.y + r.height < img.y + img.height - 0.5f && box.y + box.height >= r.y + r.height - margin)
    return true;
  return false;
}

namespace {

// Writes n values of `value`.
void fill(float* out, std::size_t n, float value) { std::fill_n(out, n, value); }

// n interleaved RGB pixels at `src` into three planes, each byte v as
// table[v] == (float(v) - mean) * inv. The vector loop does the same two
// float operations, so the values are identical to the table's.
void pack_planar(const std::uint8_t* src, std::size_t n, const std::array<float, 256>& table,
                 float mean, float inv, float* r, float* g, float* b) {
  std::size_t x = 0;
#if CV_SIMD128
  const cv::v_float32x4 v_mean = cv::v_setall_f32(mean);
  const cv::v_float32x4 v_inv = cv::v_setall_f32(inv);
  const auto store = [&](const cv::v_uint8x16& bytes, float* out) {
    cv::v_uint16x8 lo, hi;
    cv::v_expand(bytes, lo, hi);
    cv::v_uint32x4 q0, q1, q2, q3;
    cv::v_expand(lo, q0, q1);
    cv::v_expand(hi, q2, q3);
    cv::v_store(out, (cv::v_cvt_f32(cv::v_reinterpret_as_s32(q0)) - v_mean) * v_inv);
    cv::v_store(out + 4, (cv::v_cvt_f32(cv::v_reinterpret_as_s32(q1)) - v_mean) * v_inv);
    cv::v_store(out + 8, (cv::v_cvt_f32(cv::v_reinterpret_as_s32(q2)) - v_mean) * v_inv);
    cv::v_store(out + 12, (cv::v_cvt_f32(cv::v_reinterpret_as_s32(q3)) - v_mean) * v_inv);
  };
  for (; x + 16 <= n; x += 16) {
    cv::v_uint8x16 vr, vg, vb;
    cv::v_load_deinterleave(src + 3 * x, vr, vg, vb);
    store(vr, r + x);
    store(vg, g + x);
    store(vb, b + x);
  }
#endif
  for (; x < n; ++x) {
    r[x] = table[src[3 * x]];
    g[x] = table[src[3 * x + 1]];
    b[x] = table[src[3 * x + 2]];
  }
}

}  // namespace

void pack_input(const cv::Mat& level, const cv::Rect& tile, const InputFormat& format,
                infer::Tensor& tensor) {
  assert(level.type() == CV_8UC3 && tile.width > 0 && tile.height > 0);
  const int h = tile.height;
  const int w = tile.width;
  tensor.shape = format.nchw ? std::vector<int64_t>{1, 3, h, w} : std::vector<int64_t>{1, h, w, 3};
  const auto uw = static_cast<std::size_t>(w);
  const std::size_t plane = static_cast<std::size_t>(h) * uw;
  tensor.data.resize(3 * plane);
  std::array<float, 256> table{};
  const float inv = 1.0f / format.scale;
  for (std::size_t v = 0; v < table.size(); ++v) {
    table[v] = (static_cast<float>(v) - format.mean) * inv;
  }
  const float black = table[0];
  // The tile's columns [x0, x1) and rows [y0, y1) that lie inside the level.
  const cv::Rect inside = tile & cv::Rect(0, 0, level.cols, level.rows);
  const auto x0 = static_cast<std::size_t>(inside.empty() ? 0 : inside.x - tile.x);
  const auto x1 = inside.empty() ? x0 : x0 + static_cast<std::size_t>(inside.width);
  const int y0 = inside.empty() ? h : inside.y - tile.y;
  const int y1 = inside.empty() ? h : y0 + inside.height;
  for (int y = 0; y < h; ++y) {
    const bool row_inside = y >= y0 && y < y1;
    const std::uint8_t* src =
        row_inside ? level.ptr<std::uint8_t>(tile.y + y) + 3 * static_cast<std::size_t>(inside.x)
                   : nullptr;
    if (format.nchw) {
      float* r = tensor.data.data() + static_cast<std::size_t>(y) * uw;
      float* g = r + plane;
      float* b = g + plane;
      for (float* channel : {r, g, b}) {
        if (!row_inside) {
          fill(channel, uw, black);
          continue;
        }
        fill(channel, x0, black);
        fill(channel + x1, uw - x1, black);
      }
      if (row_inside) pack_planar(src, x1 - x0, table, format.mean, inv, r + x0, g + x0, b + x0);
    } else {
      float* out = tensor.data.data() + static_cast<std::size_t>(y) * 3 * uw;
      if (!row_inside) {
        fill(out, 3 * uw, black);
        continue;
      }
      fill(out, 3 * x0, black);
      fill(out + 3 * x1, 3 * (uw - x1), black);
      for (std::size_t i = 0; i < 3 * (x1 - x0); ++i) out[3 * x0 + i] = table[src[i]];
    }
  }
}

namespace {

// Storage for an 8-bit RGB image that grows and is never shrunk, so that the
// same level of the next photo (usually as large) needs no allocation and no
// fresh pages (page faults were ~6% of a photo's time, docs/detection.md).
class ImageBuffer {
 public:
  // An image of `size` over this storage (valid until the next call).
  cv::Mat image(cv::Size size) {
    const std::size_t need =
        3 * static_cast<std::size_t>(size.width) * static_cast<std::size_t>(size.height);
    if (capacity_ < need) {
      data_ = std::make_unique_for_overwrite<std::uint8_t[]>(need);
      capacity_ = need;
    }
    return cv::Mat(size, CV_8UC3, data_.get());
  }
  std::size_t bytes() const { return capacity_; }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
};

// What detect_over_regions reuses from one call to the next on a thread: the
// level images, the two images of a pyrDown chain and the input tensors.
struct Scratch {
  // Kept after a call only while they total at most this much (at the
  // default minimum face, a 1920x1280 photo needs ~6.5 MB: levels of 1024x683
  // and 320x240, a pyrDown image, tensors of 560x384 and 320x240; a 4000x3000
  // one ~18 MB); bigger photos' buffers are freed after the call, as before,
  // so that a thread does not keep hundreds of MB.
  static constexpr std::size_t kRetainedBytes = 32u << 20;

  std::vector<ImageBuffer> levels;  // the n-th level built in a call uses levels[n]
  std::array<ImageBuffer, 2> halves;
  // Single-tensor inputs of the last two model input sizes (level 0, the
  // same 320x240 for every photo, and the tiles of the finer level): a tensor
  // of the right size is refilled without touching fresh memory. (Photos with
  // two finer levels, such as 4000x3000 ones, resize one tensor per level; a
  // third tensor would keep ~3 MB more per thread for every photo.)
  std::vector<std::vector<infer::Tensor>> inputs;
  std::vector<std::size_t> last_used;  // per input, a count of input_of calls
  std::size_t uses = 0;
  bool in_use = false;

  std::vector<infer::Tensor>& input_of(std::size_t values) {
    constexpr std::size_t kInputs = 2;
    ++uses;
    std::size_t pick = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].front().data.size() == values) {
        last_used[i] = uses;
        return inputs[i];
      }
      if (last_used[i] < last_used[pick]) pick = i;
    }
    if (inputs.size() < kInputs) {
      inputs.emplace_back(1);
      last_used.push_back(uses);
      return inputs.back();
    }
    last_used[pick] = uses;  // the least recently used size is replaced
    return inputs[pick];
  }

  std::size_t bytes() const {
    std::size_t total = halves[0].bytes() + halves[1].bytes();
    for (const auto& level : levels) total += level.bytes();
    for (const auto& input : inputs) total += input.front().data.capacity() * sizeof(float);
    return total;
  }
};

// The photo resized to each pyramid level, built on first use from the
// smallest level already built that is larger (regions arrive fine to coarse,
// so the first level is resized from the photo itself), in `scratch`'s
// buffers.
class LevelImages {
 public:
  LevelImages(const cv::Mat& rgb, Scratch& scratch) : rgb_(rgb), scratch_(scratch) {}

  // The level image for `region` and the tile of it that is the model input
  // (may extend past the level: black there), and the region snapped to the
  // level's pixels.
  std::tuple<const cv::Mat&, cv::Rect, Region> view(const Region& region) {
    const cv::Size input = region.input;
    const double sx = input.width / static_cast<double>(region.rect.width);
    const double sy = input.height / static_cast<double>(region.rect.height);
    const cv::Size size(std::max(1, static_cast<int>(std::lround(rgb_.cols * sx))),
                        std::max(1, static_cast<int>(std::lround(rgb_.rows * sy))));
    const cv::Mat& level = level_of(size);
    // Exact scale of the level image, then the tile origin in its pixels.
    const double ax = size.width / static_cast<double>(rgb_.cols);
    const double ay = size.height / static_cast<double>(rgb_.rows);
    const int ox = static_cast<int>(std::lround(region.rect.x * ax));
    const int oy = static_cast<int>(std::lround(region.rect.y * ay));
    Region snapped = region;
    snapped.rect =
        cv::Rect2f(static_cast<float>(ox / ax), static_cast<float>(oy / ay),
                   static_cast<float>(input.width / ax), static_cast<float>(input.height / ay));
    return {level, cv::Rect(ox, oy, input.width, input.height), snapped};
  }

 private:
  const cv::Mat& level_of(cv::Size size) {
    for (const auto& [s, m] : levels_) {
      if (s == size) return m;
    }
    // Resize from the smallest built level that is still larger (fewer
    // source pixels, same result as from the photo within rounding).
    const cv::Mat* source = &rgb_;
    for (const auto& [s, m] : levels_) {
      if (s.width >= size.width && s.height >= size.height && s.area() < source->size().area()) {
        source = &m;
      }
    }
    const std::size_t slot = levels_.size();
    if (scratch_.levels.size() <= slot) scratch_.levels.resize(slot + 1);
    // Halve with pyrDown (Gaussian, anti-aliased, fast at any size) while the
    // level is at most half the source, then bilinear for the last factor
    // below 2. INTER_AREA at non-integer ratios gave the same detections at
    // several times the cost (docs/detection.md).
    cv::Mat out = *source;  // a header: the pixels stay where they are
    std::size_t half = 0;   // the buffer of the next halving
    int halvings = 0;
    while (out.cols >= 2 * size.width && out.rows >= 2 * size.height) {
      cv::Mat smaller =
          scratch_.halves[half].image(cv::Size((out.cols + 1) / 2, (out.rows + 1) / 2));
      cv::pyrDown(out, smaller, smaller.size());
      out = smaller;
      half ^= 1;
      ++halvings;
    }
    cv::Mat level;
    if (out.size() != size) {
      level = scratch_.levels[slot].image(size);
      cv::resize(out, level, size, 0, 0, cv::INTER_LINEAR);
    } else if (halvings > 0) {
      // The last halving is the level: its buffer becomes the level's.
      std::swap(scratch_.levels[slot], scratch_.halves[half ^ 1]);
      level = out;
    } else {
      level = out;  // the source itself
    }
    levels_.emplace_back(size, level);
    return levels_.back().second;
  }

  const cv::Mat& rgb_;
  Scratch& scratch_;
  std::deque<std::pair<cv::Size, cv::Mat>> levels_;  // deque: references stay valid
};

// This thread's scratch buffers, or fresh ones when they are in use (a
// backend calling back into detect_over_regions).
class BorrowedScratch {
 public:
  BorrowedScratch() {
    thread_local Scratch mine;
    if (!mine.in_use) {
      scratch_ = &mine;
      mine.in_use = true;
    } else {
      own_ = std::make_unique<Scratch>();
      scratch_ = own_.get();
    }
  }
  ~BorrowedScratch() {
    if (own_) return;
    scratch_->in_use = false;
    if (scratch_->bytes() > Scratch::kRetainedBytes) *scratch_ = Scratch{};
  }
  BorrowedScratch(const BorrowedScratch&) = delete;
  BorrowedScratch& operator=(const BorrowedScratch&) = delete;
  Scratch& operator*() const { return *scratch_; }

 private:
  Scratch* scratch_ = nullptr;
  std::unique_ptr<Scratch> own_;
};

}  // namespace

std::vector<Detection> detect_over_regions(
    const cv::Mat& rgb, const std::vector<Region>& regions, const InputFormat& format,
    const std::function<std::vector<Detection>(const Region&, const std::vector<infer::Tensor>&)>&
        find_in,
    const BoxCalibration& calibration, std::string_view backend, const DetectorOptions& options) {
  std::vector<Detection> found;
  // Fine levels (more input pixels per photo pixel) first so coarse ones are
  // resized from them.
  std::vector<const Region*> order;
  for (const Region& region : regions) order.push_back(&region);
  const auto scale = [](const Region* r) {
    return static_cast<float>(r->input.width) / r->rect.width;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](const Region* a, const Region* b) { return scale(a) > scale(b); });
  const BorrowedScratch scratch;
  LevelImages levels(rgb, *scratch);
  for (const Region* original : order) {
    const auto [level, tile, region] = levels.view(*original);
    std::vector<infer::Tensor>& input = (*scratch).input_of(
        3 * static_cast<std::size_t>(tile.width) * static_cast<std::size_t>(tile.height));
    pack_input(level, tile, format, input.front());
    std::vector<Detection> here = find_in(region, input);
    std::erase_if(here, [&](const Detection& d) {
      return d.box.width <= 1.0f || d.box.height <= 1.0f || reject_in_tile(d.box, region);
    });
    here = non_max_suppression(std::move(here), options.nms_iou);
    found.insert(found.end(), here.begin(), here.end());
  }
  found = non_max_suppression(std::move(found), options.nms_iou);
  for (auto& d : found) {
    if (!options.raw_boxes) d.box = calibration.apply(d.box);
    d.backends = {std::string(backend)};
  }
  return found;
}

namespace {

// Adds landmarks, splits by min size, applies max_faces.
DetectionResult finish(std::vector<Detection> faces, const Image& image,
                       const align::LandmarkModel* landmarks, const DetectorOptions& options) {
  DetectionResult result;
  std::stable_sort(faces.begin(), faces.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  for (auto& d : faces) {
    if (landmarks != nullptr) {
      d.landmarks = landmarks->five_points(image, d.box);
      d.has_landmarks = true;
    }
    if (d.box.width < options.min_face_size) {
      result.too_small.push_back(std::move(d));
    } else if (options.max_faces <= 0 ||
               result.faces.size() < static_cast<std::size_t>(options.max_faces)) {
      result.faces.push_back(std::move(d));
    }
  }
  return result;
}

class SingleDetector final : public Detector {
 public:
  SingleDetector(std::unique_ptr<internal::Backend> backend,
                 std::unique_ptr<align::LandmarkModel> landmarks, DetectorOptions options)
      : backend_(std::move(backend)), landmarks_(std::move(landmarks)), options_(options) {}

  DetectionResult detect(const Image& image) const override {
    if (image.empty()) return {};
    return finish(backend_->find(image), image, landmarks_.get(), options_);
  }
  std::string_view name() const override { return backend_->name(); }

 private:
  std::unique_ptr<internal::Backend> backend_;
  std::unique_ptr<align::LandmarkModel> landmarks_;
  DetectorOptions options_;
};

class FusedDetector final : public Detector {
 public:
  struct Member {
    std::unique_ptr<internal::Backend> backend;
    float weight;
  };
  FusedDetector(std::vector<Member> members, std::unique_ptr<align::LandmarkModel> landmarks,
                DetectorOptions options)
      : members_(std::move(members)), landmarks_(std::move(landmarks)), options_(options) {}

  DetectionResult detect(const Image& image) const override {
    if (image.empty()) return {};
    std::vector<BackendDetections> lists;
    for (const auto& m : members_) {
      lists.push_back({std::string(m.backend->name()), m.weight, m.backend->find(image)});
    }
    return finish(fuse_detections(lists, {.iou = options_.nms_iou, .min_votes = 0.9f}), image,
                  landmarks_.get(), options_);
  }
  std::string_view name() const override { return "fused"; }

 private:
  std::vector<Member> members_;
  std::unique_ptr<align::LandmarkModel> landmarks_;
  DetectorOptions options_;
};

}  // namespace
}  // namespace internal

std::vector<std::string> Detector::names() {
  return {"ultraface", "blazeface", "blazeface-front", "opencv", "dlib-hog", "fused"};
}

std::string_view Detector::default_name() { return "ultraface"; }

std::unique_ptr<Detector> Detector::create(std::string_view name, const infer::ModelStore& store,
                                           const DetectorOptions& options) {
  if (name == "default") name = default_name();
  if (!(options.min_face_size >= 0.0f) || options.score_threshold > 1.0f ||
      !(options.nms_iou > 0.0f && options.nms_iou < 1.0f) || options.threads < 0 ||
      options.max_faces < 0) {
    throw UsageError(
        "bad detector options: need min_face_size >= 0, score_threshold <= 1, 0 < nms_iou < 1, "
        "threads >= 0, max_faces >= 0");
  }
  auto landmarks =
      options.landmarks ? align::LandmarkModel::create(options.landmark_model, store) : nullptr;
  using internal::SingleDetector;
  if (name == "ultraface") {
    return std::make_unique<SingleDetector>(internal::make_ultraface(store, options),
                                            std::move(landmarks), options);
  }
  if (name == "blazeface" || name == "blazeface-front") {
    return std::make_unique<SingleDetector>(
        internal::make_blazeface(store, options, name == "blazeface-front"), std::move(landmarks),
        options);
  }
  if (name == "opencv") {
    return std::make_unique<SingleDetector>(internal::make_haar(store, options),
                                            std::move(landmarks), options);
  }
  if (name == "dlib-hog") {
    return std::make_unique<SingleDetector>(internal::make_dlib_hog(options), std::move(landmarks),
                                            options);
  }
  if (name == "fused") {
    std::vector<internal::FusedDetector::Member> members;
    members.push_back({internal::make_ultraface(store, options), 1.0f});
    members.push_back({internal::make_blazeface(store, options, false), 1.0f});
    members.push_back({internal::make_dlib_hog(options), 0.6f});
    return std::make_unique<internal::FusedDetector>(std::move(members), std::move(landmarks),
                                                     options);
  }
  std::string known;
  for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown detector '" + std::string(name) + "' (known: " + known + ", default)");
}

}  // namespace likeness::detect
