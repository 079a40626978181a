// GEAR (human-models gear.json) as converted by tools/tfjs2onnx: the ONNX file
// in the models directory agrees with tools/tfjs2onnx/tfjs_reference.py, an
// independent numpy evaluation of the original TF.js graph, on four LFW photos
// fed the way GEAR-Predictor was trained (198x198 RGB, x / 255); its three
// heads are softmaxes of the documented widths (age 7, gender 2, race 5).
// The same agreement criteria as tests/unit/tfjs_converter_test.cpp.
// A missing model or package cache skips (scripts/setup.sh models); so does a
// missing LFW.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "likeness/infer/model_store.h"
#include "likeness/infer/session.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness {
namespace {

namespace fs = std::filesystem;

fs::path gear_json() { return likeness::testing::human_models_dir() / "gear.json"; }

std::vector<float> read_f32(const fs::path& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  const auto bytes = static_cast<std::size_t>(f.tellg());
  std::vector<float> data(bytes / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes));
  return data;
}

TEST(AttributesGear, ConversionAgreesWithTheTfjsReferenceAndHeadsAreSoftmaxes) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  const infer::ModelCheck check = store.check("gear");
  if (check.status != infer::ModelStatus::ok || !fs::exists(gear_json())) {
    GTEST_SKIP() << "gear model or its package not installed (scripts/setup.sh models)";
  }
  // The central 100x100 of four LFW photos (the face), RGB, x / 255.
  constexpr int kSize = 198;
  const std::vector<std::string> people = {"Colin_Powell", "Serena_Williams", "Junichiro_Koizumi",
                                           "Laura_Bush"};
  std::vector<float> batch;
  for (const std::string& person : people) {
    const fs::path file =
        testing::datasets_dir() / "lfw" / "images" / person / (person + "_0001.jpg");
    cv::Mat bgr = cv::imread(file.string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(bgr.empty()) << file;
    cv::Mat resized, rgb;
    cv::resize(bgr(cv::Rect(25, 25, 100, 100)), resized, cv::Size(kSize, kSize));
    cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
    for (int i = 0; i < kSize * kSize * 3; ++i) batch.push_back(rgb.data[i] / 255.0f);
  }
  const auto n = static_cast<int64_t>(people.size());

  testing::TempDir work("gear_reference");
  {
    std::ofstream f(work.path() / "input.f32", std::ios::binary);
    f.write(reinterpret_cast<const char*>(batch.data()),
            static_cast<std::streamsize>(batch.size() * sizeof(float)));
  }
  const auto quote = [](const fs::path& p) { return "'" + p.string() + "'"; };
  const std::string command =
      "/usr/bin/python3 " +
      quote(testing::source_dir() / "tools" / "tfjs2onnx" / "tfjs_reference.py") + " " +
      quote(gear_json()) + " --input " + quote(work.path() / "input.f32") + " --shape " +
      std::to_string(n) + "," + std::to_string(kSize) + "," + std::to_string(kSize) +
      ",3 --output " + quote(work.path() / "ref.f32") +
      " --node Identity --node Identity_1 --node Identity_2 > " + quote(work.path() / "ref.log") +
      " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  const auto session = store.open_session("gear", {.threads = 1});
  const std::vector<infer::Tensor> outputs =
      session->run({infer::Tensor{{n, kSize, kSize, 3}, batch}}, {"age", "gender", "race"});
  ASSERT_EQ(outputs.size(), 3u);
  const std::size_t widths[] = {7, 2, 5};
  for (std::size_t k = 0; k < 3; ++k) {
    const std::vector<float> ref = read_f32(work.path() / ("ref.f32." + std::to_string(k)));
    const std::vector<float>& got = outputs[k].data;
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n) * widths[k]) << k;
    ASSERT_EQ(ref.size(), got.size()) << k;
    double max_ref = 0, max_diff = 0, worst = 0;
    for (float v : ref) max_ref = std::max(max_ref, std::fabs(double(v)));
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double d = std::fabs(double(got[i]) - ref[i]);
      max_diff = std::max(max_diff, d);
      worst = std::max(worst, d / std::max(std::fabs(double(ref[i])), 1e-2 * max_ref));
    }
    EXPECT_LT(max_diff / max_ref, 1e-4) << "output " << k;
    EXPECT_LT(worst, 1e-3) << "output " << k;
    // Each row a probability distribution (the decoding relies on it).
    for (int64_t row = 0; row < n; ++row) {
      double sum = 0;
      for (std::size_t c = 0; c < widths[k]; ++c) {
        const float v = got[static_cast<std::size_t>(row) * widths[k] + c];
        EXPECT_GE(v, 0.0f);
        sum += v;
      }
      EXPECT_NEAR(sum, 1.0, 1e-4) << "output " << k << " row " << row;
    }
  }
}

}  // namespace
}  // namespace likeness
