// The detector's per-call overhead work: packing a tile of a pyramid level
// into the model's input tensor (straight from the level, padding included)
// gives exactly the values of the former copy into a zero-padded tile packed
// through a table, and the buffers reused from call to call (per thread)
// change no result, repeated or from several threads at once. The detector
// tests need the installed models and ../shared/datasets; they skip with a
// message when either is absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <opencv2/imgproc.hpp>
#include <random>
#include <thread>

#include "likeness/detect/backends.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "support/test_env.h"

namespace likeness::detect::internal {
namespace {

namespace fs = std::filesystem;

// The former way: the tile copied into a zeroed image, then every byte v
// packed as table[v] = (v - mean) * (1 / scale).
infer::Tensor reference_pack(const cv::Mat& level, const cv::Rect& tile, const InputFormat& f) {
  cv::Mat padded = cv::Mat::zeros(tile.size(), CV_8UC3);
  const cv::Rect inside = tile & cv::Rect(0, 0, level.cols, level.rows);
  if (!inside.empty()) level(inside).copyTo(padded(inside - tile.tl()));
  std::array<float, 256> table{};
  const float inv = 1.0f / f.scale;
  for (std::size_t v = 0; v < table.size(); ++v) {
    table[v] = (static_cast<float>(v) - f.mean) * inv;
  }
  infer::Tensor t;
  const int h = tile.height, w = tile.width;
  t.shape = f.nchw ? std::vector<int64_t>{1, 3, h, w} : std::vector<int64_t>{1, h, w, 3};
  const auto plane = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  t.data.resize(3 * plane);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const auto& p = padded.at<cv::Vec3b>(y, x);
      const auto i =
          static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
      for (std::size_t c = 0; c < 3; ++c) {
        const float value = table[p[static_cast<int>(c)]];
        if (f.nchw) {
          t.data[c * plane + i] = value;
        } else {
          t.data[3 * i + c] = value;
        }
      }
    }
  }
  return t;
}

bool same_bits(const infer::Tensor& a, const infer::Tensor& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0;
}

TEST(DetectPack, MatchesAZeroPaddedTilePackedThroughATable) {
  std::mt19937 rng(7);
  cv::Mat level(53, 77, CV_8UC3);
  cv::randu(level, cv::Scalar::all(0), cv::Scalar::all(256));
  // Every byte value occurs (the vector loop and the table must agree on each).
  for (int i = 0; i < 256; ++i)
    level.at<cv::Vec3b>(i / 77, i % 77) = cv::Vec3b::all(static_cast<uchar>(i));
  const std::vector<InputFormat> formats = {{true, 127.0f, 128.0f}, {false, 127.5f, 127.5f}};
  // Inside, over each edge, past a corner, wholly outside, larger than the level;
  // widths around the 16-pixel vector step.
  std::vector<cv::Rect> tiles = {{0, 0, 77, 53},   {5, 3, 16, 9},    {3, 1, 33, 20},
                                 {60, 40, 32, 32}, {-7, -5, 20, 11}, {70, 0, 17, 53},
                                 {0, 50, 77, 9},   {80, 60, 10, 10}, {-10, -10, 100, 80},
                                 {16, 16, 1, 1},   {76, 52, 1, 1}};
  std::uniform_int_distribution<int> origin(-20, 80), side(1, 70);
  for (int i = 0; i < 40; ++i) tiles.emplace_back(origin(rng), origin(rng), side(rng), side(rng));
  infer::Tensor reused;  // one tensor for every call, as the detector does
  for (const auto& format : formats) {
    for (const auto& tile : tiles) {
      pack_input(level, tile, format, reused);
      EXPECT_TRUE(same_bits(reused, reference_pack(level, tile, format)))
          << "tile " << tile << (format.nchw ? " NCHW" : " NHWC");
    }
  }
}

TEST(DetectPack, ReusesTheTensorStorage) {
  cv::Mat level(240, 320, CV_8UC3, cv::Scalar(10, 20, 30));
  infer::Tensor tensor;
  pack_input(level, cv::Rect(0, 0, 320, 240), {true, 127.0f, 128.0f}, tensor);
  const float* storage = tensor.data.data();
  pack_input(level, cv::Rect(16, 16, 320, 240), {true, 127.0f, 128.0f}, tensor);
  EXPECT_EQ(tensor.data.data(), storage);
  EXPECT_EQ(tensor.data.size(), 3u * 320u * 240u);
}

bool same(const DetectionResult& a, const DetectionResult& b) {
  const auto same_list = [](const std::vector<Detection>& x, const std::vector<Detection>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (x[i].box != y[i].box || x[i].score != y[i].score || x[i].landmarks != y[i].landmarks ||
          x[i].has_landmarks != y[i].has_landmarks) {
        return false;
      }
    }
    return true;
  };
  return same_list(a.faces, b.faces) && same_list(a.too_small, b.too_small);
}

// Photos of different sizes one after the other reuse (and grow) the same
// buffers; a result must not depend on what ran before it or beside it.
TEST(DetectScratch, RepeatedAndConcurrentCallsGiveIdenticalResults) {
  LIKENESS_REQUIRE_DATASET("group_photos");
  const auto store = infer::ModelStore::open();
  LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320_dynamic");
  LIKENESS_REQUIRE_MODEL(store, "faceplugin_landmark_68");
  const auto detector = Detector::create("ultraface", store, {.min_face_size = 20.0f});
  std::vector<Image> photos;
  for (const char* name : {"facenet-pytorch_multiface.jpg", "deepface_couple.jpg",
                           "face_recognition_two_people.jpg"}) {
    auto decoded = io::decode_image_file(testing::datasets_dir() / "group_photos" / name);
    ASSERT_TRUE(decoded.ok()) << decoded.message;
    photos.push_back(decoded.value->image);
  }
  // A crop of odd size: tiles padded on other sides than the photos'.
  Image crop;
  crop.rgb = photos[0].rgb(cv::Rect(3, 5, photos[0].rgb.cols - 11, photos[0].rgb.rows - 6)).clone();
  photos.push_back(crop);
  std::vector<DetectionResult> first;
  for (const auto& photo : photos) first.push_back(detector->detect(photo));
  std::size_t faces = 0;
  for (const auto& result : first) faces += result.faces.size();
  EXPECT_GE(faces, 8u);  // the three photos' 6 + 2 + 2 faces, at least
  // Again in reverse order on this thread.
  for (std::size_t i = photos.size(); i-- > 0;) {
    EXPECT_TRUE(same(detector->detect(photos[i]), first[i])) << "photo " << i << ", repeated";
  }
  // Two threads at once, each through every photo in its own order.
  std::array<std::vector<bool>, 2> ok;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2; ++round) {
        for (std::size_t k = 0; k < photos.size(); ++k) {
          const std::size_t i = t == 0 ? k : photos.size() - 1 - k;
          ok[t].push_back(same(detector->detect(photos[i]), first[i]));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (std::size_t t = 0; t < 2; ++t) {
    EXPECT_EQ(std::count(ok[t].begin(), ok[t].end(), true), static_cast<long>(ok[t].size()))
        << "thread " << t;
  }
}

}  // namespace
}  // namespace likeness::detect::internal
