// UltraFace's dynamic-input model: the priors generated in C++ reproduce the
// original model's in-graph decoding, the model gives one output per prior at
// any size, and the tiling of big photos keeps every model input bounded while
// still finding faces anywhere. Tests that need the models or LFW skip with a
// message when they are absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "likeness/detect/backends.h"
#include "likeness/detect/detector.h"
#include "likeness/infer/session.h"
#include "likeness/io/image.h"
#include "support/test_env.h"

namespace likeness::detect::internal {
namespace {

namespace fs = std::filesystem;
using infer::ModelStore;

// RGB (x - 127) / 128, NCHW: UltraFace's input convention (models/manifest.json).
infer::Tensor ultraface_input(const cv::Mat& rgb) {
  infer::Tensor t;
  t.shape = {1, 3, rgb.rows, rgb.cols};
  t.data.resize(static_cast<std::size_t>(3 * rgb.rows * rgb.cols));
  const auto plane = static_cast<std::size_t>(rgb.rows * rgb.cols);
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x = 0; x < rgb.cols; ++x) {
      const auto& p = rgb.at<cv::Vec3b>(y, x);
      for (std::size_t c = 0; c < 3; ++c) {
        t.data[c * plane + static_cast<std::size_t>(y * rgb.cols + x)] =
            (static_cast<float>(p[static_cast<int>(c)]) - 127.0f) / 128.0f;
      }
    }
  }
  return t;
}

Image load(const fs::path& file) {
  auto decoded = io::decode_image_file(file);
  EXPECT_TRUE(decoded.ok()) << decoded.message;
  return decoded.ok() ? decoded.value->image : Image{};
}

TEST(UltraFacePriors, FollowTheRfb320Configuration) {
  const UltraFacePriors priors(320, 240);
  // 40x30 cells x 3 + 20x15 x 2 + 10x8 x 2 + 5x4 x 3 (feature maps ceil(size / stride)).
  ASSERT_EQ(priors.size(), 4420u);
  const auto expect = [&](std::size_t i, float cx, float cy, float w, float h) {
    const auto p = priors.prior(i);
    EXPECT_NEAR(p[0], cx, 1e-6f) << "prior " << i;
    EXPECT_NEAR(p[1], cy, 1e-6f) << "prior " << i;
    EXPECT_NEAR(p[2], w, 1e-6f) << "prior " << i;
    EXPECT_NEAR(p[3], h, 1e-6f) << "prior " << i;
  };
  expect(0, 0.5f / 40, 0.5f / 30, 10.0f / 320, 10.0f / 240);
  expect(2, 0.5f / 40, 0.5f / 30, 24.0f / 320, 24.0f / 240);
  expect(3, 1.5f / 40, 0.5f / 30, 10.0f / 320, 10.0f / 240);          // next column
  expect(3 * 40, 0.5f / 40, 1.5f / 30, 10.0f / 320, 10.0f / 240);     // next row
  expect(3600, 0.5f / 20, 0.5f / 15, 32.0f / 320, 32.0f / 240);       // stride 16
  expect(3600 + 600, 0.5f / 10, 0.5f / 8, 64.0f / 320, 64.0f / 240);  // stride 32
  // Last: stride 64, cell (4, 3), 256 px: its height (256/240) is clamped to 1.
  expect(4419, 4.5f / 5, 3.5f / 4, 256.0f / 320, 1.0f);
  // Odd sizes: ceil(size / stride) cells.
  EXPECT_EQ(UltraFacePriors(333, 201).size(),
            42u * 26 * 3 + 21u * 13 * 2 + 11u * 7 * 2 + 6u * 4 * 3);

  // Zero regression: the prior itself, in corner form.
  const float zero[4] = {0, 0, 0, 0};
  const auto b = priors.decode(4419, zero);
  EXPECT_NEAR(b[0], 4.5f / 5 - 0.4f, 1e-6f);
  EXPECT_NEAR(b[2], 4.5f / 5 + 0.4f, 1e-6f);
  EXPECT_NEAR(b[1], 3.5f / 4 - 0.5f, 1e-6f);
  // SSD form: centre moves by 0.1 * d * size, size scales by exp(0.2 * d).
  const float moved[4] = {1.0f, -2.0f, 0.5f, std::log(2.0f) / 0.2f};
  const auto p = priors.prior(0);
  const auto m = priors.decode(0, moved);
  const float cx = p[0] + 0.1f * p[2];
  const float w = p[2] * std::exp(0.1f);
  EXPECT_NEAR(m[0], cx - w / 2, 1e-6f);
  EXPECT_NEAR(m[2], cx + w / 2, 1e-6f);
  EXPECT_NEAR(m[3] - m[1], 2.0f * p[3], 1e-6f);
}

// The dynamic model plus the C++ decoding reproduce fr_detect.onnx (constant
// priors decoded inside the graph) on a real photo at 320x240.
TEST(UltraFaceDynamic, MatchesTheFixedModelAt320x240) {
  LIKENESS_REQUIRE_DATASET("group_photos");
  const ModelStore store = ModelStore::open();
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320");
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320_dynamic");
  const auto fixed = store.open_session("ultraface_rfb320", {.threads = 1});
  const auto dynamic = store.open_session("ultraface_rfb320_dynamic", {.threads = 1});
  const Image photo =
      load(::likeness::testing::datasets_dir() / "group_photos" / "facenet-pytorch_multiface.jpg");
  cv::Mat small;
  cv::resize(photo.rgb, small, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
  const infer::Tensor input = ultraface_input(small);
  const auto want = fixed->run({input}, {"scores", "boxes"});
  const auto got = dynamic->run({input}, {"scores", "locations"});
  const UltraFacePriors priors(320, 240);
  ASSERT_EQ(want[1].data.size(), 4 * priors.size());
  ASSERT_EQ(got[1].data.size(), 4 * priors.size());
  ASSERT_EQ(got[0].data.size(), want[0].data.size());
  float score_error = 0.0f;
  for (std::size_t i = 0; i < want[0].data.size(); ++i) {
    score_error = std::max(score_error, std::abs(got[0].data[i] - want[0].data[i]));
  }
  EXPECT_LT(score_error, 1e-5f);
  float box_error = 0.0f;
  std::size_t faces = 0;
  for (std::size_t i = 0; i < priors.size(); ++i) {
    const auto box = priors.decode(i, &got[1].data[4 * i]);
    for (std::size_t k = 0; k < 4; ++k) {
      box_error = std::max(box_error, std::abs(box[k] - want[1].data[4 * i + k]));
    }
    if (want[0].data[2 * i + 1] > 0.7f) ++faces;
  }
  EXPECT_LT(box_error, 1e-4f) << "over all " << priors.size() << " priors";
  EXPECT_GE(faces, 6u) << "the photo's faces should be among the compared boxes";
}

TEST(UltraFaceDynamic, GivesOneOutputPerPriorAtAnySize) {
  const ModelStore store = ModelStore::open();
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320_dynamic");
  const auto session = store.open_session("ultraface_rfb320_dynamic", {.threads = 1});
  for (const cv::Size size : {cv::Size(320, 240), cv::Size(333, 201), cv::Size(560, 384),
                              cv::Size(64, 64), cv::Size(17, 9), cv::Size(1000, 70)}) {
    const cv::Mat grey(size, CV_8UC3, cv::Scalar(127, 127, 127));
    const auto out = session->run({ultraface_input(grey)});
    const std::size_t n = UltraFacePriors(size.width, size.height).size();
    EXPECT_EQ(out[0].shape, (std::vector<int64_t>{1, static_cast<int64_t>(n), 2}))
        << size.width << "x" << size.height;
    EXPECT_EQ(out[1].shape, (std::vector<int64_t>{1, static_cast<int64_t>(n), 4}))
        << size.width << "x" << size.height;
  }
}

// Every model input stays within the tiling's limit, and every face that the
// next coarser level cannot see (under 16 px there, so under 56 px of a level
// at most 3.5x finer) lies wholly inside one tile, clear of its cut edges.
TEST(UltraFaceTiling, BoundsEveryInputAndCoversThePhoto) {
  const LevelTiling tiling = ultraface_tiling();
  ASSERT_GT(tiling.max_area, 0);
  struct Case {
    cv::Size photo;
    float min_face;
  };
  for (const Case& c :
       {Case{{1920, 1280}, 30.0f}, Case{{4000, 3000}, 30.0f}, Case{{640, 405}, 8.0f},
        Case{{12000, 9000}, 8.0f}, Case{{4000, 300}, 10.0f}, Case{{150, 150}, 30.0f}}) {
    const std::string what = std::to_string(c.photo.width) + "x" + std::to_string(c.photo.height) +
                             " min " + std::to_string(c.min_face);
    const auto regions = ultraface_regions(c.photo, c.min_face);
    ASSERT_FALSE(regions.empty()) << what;
    EXPECT_TRUE(regions[0].whole) << what;
    EXPECT_EQ(regions[0].input, cv::Size(320, 240)) << what;
    // Finer levels, by scale.
    std::vector<std::vector<const Region*>> levels;
    for (std::size_t i = 1; i < regions.size(); ++i) {
      const Region& r = regions[i];
      EXPECT_LE(r.input.area(), tiling.max_area) << what;
      EXPECT_EQ(r.input.width % tiling.align, 0) << what;
      EXPECT_EQ(r.input.height % tiling.align, 0) << what;
      const float scale = static_cast<float>(r.input.width) / r.rect.width;
      if (levels.empty() || std::abs(static_cast<float>(levels.back()[0]->input.width) /
                                         levels.back()[0]->rect.width -
                                     scale) > 1e-4f * scale) {
        levels.emplace_back();
      }
      levels.back().push_back(&r);
    }
    for (const auto& level : levels) {
      const float face = level[0]->max_box * 56.0f / tiling.max_box;
      // The tiles of a level form a grid, so each axis can be checked alone:
      // along x with one tile per column (a face at the middle of its rows),
      // along y with one tile per row.
      for (const bool along_x : {true, false}) {
        std::vector<const Region*> lines;
        for (const Region* r : level) {
          const float at = along_x ? r->rect.x : r->rect.y;
          if (std::none_of(lines.begin(), lines.end(), [&](const Region* o) {
                return (along_x ? o->rect.x : o->rect.y) == at;
              })) {
            lines.push_back(r);
          }
        }
        const auto length = static_cast<float>(along_x ? c.photo.width : c.photo.height);
        for (float p = 0; p + face <= length; p += std::max(1.0f, face / 8.0f)) {
          const bool inside = std::any_of(lines.begin(), lines.end(), [&](const Region* r) {
            const cv::Rect2f box =
                along_x ? cv::Rect2f(p, r->rect.y + r->rect.height / 2 - face / 2, face, face)
                        : cv::Rect2f(r->rect.x + r->rect.width / 2 - face / 2, p, face, face);
            return (r->rect & box).area() >= box.area() * 0.999f && !reject_in_tile(box, *r);
          });
          ASSERT_TRUE(inside) << what << ": a " << face << " px face at " << (along_x ? "x" : "y")
                              << " = " << p << " is whole in no tile of its level";
        }
      }
    }
  }
  // The demo photos' size: one 320x240 pass, then the 768x512 level that
  // shows 30-px faces at 12 px (UltraFace looks closer at its unsure boxes)
  // in two tiles, 0.44 Mpx of model input (it was 0.86 Mpx when that level
  // showed them at 16 px, docs/detection.md).
  const auto demo = ultraface_regions({1920, 1280}, 30.0f);
  ASSERT_EQ(demo.size(), 3u);
  EXPECT_EQ(demo[1].input, cv::Size(432, 512));
  EXPECT_NEAR(static_cast<float>(demo[1].input.width) / demo[1].rect.width, 0.4f, 1e-4f);
  // A 640x405 photo: level 0 (0.5x) shows 30-px faces at 15 px, enough for a
  // finer level but not for level 0, whose boxes get no closer look: one
  // finer level at 16 px (16/30 = 0.533x) follows.
  const auto small = ultraface_regions({640, 405}, 30.0f);
  ASSERT_EQ(small.size(), 2u);
  EXPECT_NEAR(static_cast<float>(small[1].input.width) / small[1].rect.width, 16.0f / 30.0f, 1e-3f);
  // A 150x150 LFW photo: level 0 (1.6x) shows them at 48 px; nothing finer.
  EXPECT_EQ(ultraface_regions({150, 150}, 30.0f).size(), 1u);
}

// A 4000x3000 photo with LFW faces pasted at several sizes, some across the
// tile edges: found with every model input bounded (the test above checks the
// regions this photo gets).
TEST(UltraFaceTiling, FindsFacesAllOverABigPhoto) {
  LIKENESS_REQUIRE_DATASET("lfw/images");
  const ModelStore store = ModelStore::open();
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320_dynamic");
  const std::vector<fs::path> lfw = ::likeness::testing::lfw_images();
  ASSERT_GE(lfw.size(), 1000u);
  Image canvas;
  canvas.rgb = cv::Mat(3000, 4000, CV_8UC3, cv::Scalar(120, 120, 120));
  // LFW photos are 150 px with the face ~60 px wide in the middle: pasted at
  // 1x to 4x, faces of ~60 to ~240 px; 6 columns x 4 rows, shifted so that
  // several straddle the edges of the 0.53x level's tiles.
  std::vector<cv::Point2f> centres;
  std::vector<cv::Rect> photos;
  std::size_t next = 0;
  for (int row = 0; row < 4; ++row) {
    for (int col = 0; col < 6; ++col) {
      const Image face = load(lfw[(next++) * 397 % lfw.size()]);
      const int side = 150 * (1 + (row + col) % 4);
      cv::Mat scaled;
      cv::resize(face.rgb, scaled, cv::Size(side, side), 0, 0, cv::INTER_LINEAR);
      const int x = 80 + col * 650 + (row % 2) * 130;
      const int y = 60 + row * 730;
      const cv::Rect where(x, y, side, side);
      ASSERT_TRUE((where & cv::Rect(0, 0, 4000, 3000)) == where);
      scaled.copyTo(canvas.rgb(where));
      photos.push_back(where);
      centres.emplace_back(static_cast<float>(x) + static_cast<float>(side) / 2.0f,
                           static_cast<float>(y) + static_cast<float>(side) / 2.0f);
    }
  }
  const auto detector = Detector::create("ultraface", store, {.landmarks = false});
  const DetectionResult result = detector->detect(canvas);
  std::size_t found = 0;
  for (const auto& centre : centres) {
    found += std::any_of(result.faces.begin(), result.faces.end(),
                         [&](const Detection& d) { return d.box.contains(centre); });
  }
  EXPECT_GE(found, centres.size() - 1) << "of " << centres.size() << " pasted faces";
  // LFW frames show other people at their edges, so there may be more faces,
  // but none on the plain background. (A face cut by a frame's edge, as at
  // the bottom left of Choi_Sung-hong_0004, gets a box reaching past the
  // frame: at least a quarter of every box lies on a pasted photo.)
  for (const auto& d : result.faces) {
    EXPECT_TRUE(std::any_of(
        photos.begin(), photos.end(),
        [&](const cv::Rect& r) { return (cv::Rect2f(r) & d.box).area() >= d.box.area() / 4; }))
        << "a face on the background: " << d.box << ", score " << d.score;
  }
}

// Faces of 30 px (the default minimum) on a 1920x1280 photo: the finer level
// shows them at ~12 px, where UltraFace scores many below its threshold; the
// closer look at those candidates finds them (without it ~91% were found,
// docs/detection.md). 160 LFW photos on a grey canvas, as detect_bench
// --small-faces.
TEST(UltraFaceTiling, FindsThirtyPixelFacesByLookingCloserAtUnsureOnes) {
  LIKENESS_REQUIRE_DATASET("lfw/images");
  const ModelStore store = ModelStore::open();
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320_dynamic");
  const std::vector<fs::path> lfw = ::likeness::testing::lfw_images();
  ASSERT_GE(lfw.size(), 1200u);
  Image canvas;
  canvas.rgb = cv::Mat(1280, 1920, CV_8UC3, cv::Scalar(128, 128, 128));
  // An LFW photo's face spans ~42% of its width (105 of 250 px): a photo
  // scaled to 71 px shows it 30 px wide.
  const int side = 71;
  std::vector<cv::Point2f> centres;
  std::vector<cv::Rect> photos;
  for (int row = 0; row < 10; ++row) {
    for (int col = 0; col < 16; ++col) {
      const Image photo = load(lfw[static_cast<std::size_t>(7 * (row * 16 + col))]);
      cv::Mat scaled;
      cv::resize(photo.rgb, scaled, cv::Size(side, side), 0, 0, cv::INTER_AREA);
      const cv::Rect where(col * 120 + (120 - side) / 2, row * 128 + (128 - side) / 2, side, side);
      scaled.copyTo(canvas.rgb(where));
      photos.push_back(where);
      centres.emplace_back(static_cast<float>(where.x) + side / 2.0f,
                           static_cast<float>(where.y) + side / 2.0f);
    }
  }
  const auto detector = Detector::create("ultraface", store, {.landmarks = false});
  const DetectionResult result = detector->detect(canvas);
  std::vector<Detection> all = result.faces;
  all.insert(all.end(), result.too_small.begin(), result.too_small.end());
  std::size_t found = 0;
  for (const auto& centre : centres) {
    found += std::any_of(all.begin(), all.end(),
                         [&](const Detection& d) { return d.box.contains(centre); });
  }
  EXPECT_GE(found, 156u) << "of " << centres.size() << " faces of 30 px";
  for (const auto& d : all) {
    const cv::Point2f centre(d.box.x + d.box.width / 2, d.box.y + d.box.height / 2);
    EXPECT_TRUE(std::any_of(photos.begin(), photos.end(),
                            [&](const cv::Rect& r) { return r.contains(centre); }))
        << "a face on the background at (" << centre.x << ", " << centre.y << ")";
  }
}

}  // namespace
}  // namespace likeness::detect::internal
