// Checks the TF.js -> ONNX converter (tools/tfjs2onnx) on real faces.
//
// For MobileFaceNet and FaceRes, 8 LFW faces of 8 different people are cropped
// (central 100x100 of the 150x150 image, resized to the model input) and
// normalised the way the model works best on LFW (docs/converter.md):
// MobileFaceNet RGB (v - 127.5) / 128, FaceRes BGR raw 0..255. The same float32 batch is evaluated
//   * by tools/tfjs2onnx/tfjs_reference.py: an independent numpy evaluation of
//     the ORIGINAL TF.js graph (model.json + .bin from the npm package cache),
//   * by the converted ONNX file in the models directory (made by
//     scripts/setup.sh), through likeness::infer::Session.
//
// Agreement, per output tensor, with a = ONNX, b = reference:
//   (1) max_i |a_i - b_i| / max_i |b_i|  < 1e-4          (relative to the tensor's scale)
//   (2) for every i: |a_i - b_i| <= 1e-3 * max(|b_i|, 1e-2 * max_j |b_j|)
//       (per-element relative error 1e-3, with a floor at 1% of the tensor's
//       largest magnitude so elements near zero do not blow the ratio up).
// Semantics: the embeddings of two different people must not be near-identical
// (cosine < 0.9; the damaged graph gives > 0.999 for every pair).
// This guards the known failure where a damaged TF.js graph gives the same
// embedding for every face (docs/converter.md).
//
// Missing model or package files FAIL (run scripts/setup.sh); a missing LFW
// dataset skips.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "likeness/infer/model_store.h"
#include "likeness/infer/session.h"
#include "support/test_env.h"

namespace fs = std::filesystem;

namespace {

// minus1_1_128: (v - 127.5) / 128; raw: v in 0..255 as float.
enum class Norm { minus1_1_128, raw };

struct ModelCase {
  std::string tfjs_json;  // file in the package's models/ folder
  std::string onnx_file;  // file in the models directory
  int size;               // square input size
  bool bgr;               // channel order fed to the model (false = RGB)
  Norm norm;
  std::vector<std::string> tfjs_nodes;    // reference nodes ...
  std::vector<std::string> onnx_outputs;  // ... and the matching ONNX outputs
};

// Keeps gtest/ctest test names readable (no byte dump of the parameter).
void PrintTo(const ModelCase& mc, std::ostream* os) { *os << mc.onnx_file; }

// Eight different people, one image each.
const std::vector<std::string> kPeople = {"Aaron_Eckhart",    "Aaron_Sorkin", "Abdullah_Gul",
                                          "Adrien_Brody",     "Al_Gore",      "Alan_Greenspan",
                                          "Alejandro_Toledo", "Ali_Naimi"};

fs::path lfw_image(const std::string& person, int index) {
  char file[64];
  std::snprintf(file, sizeof file, "_%04d.jpg", index);
  return likeness::testing::datasets_dir() / "lfw" / "images" / person / (person + file);
}

// Central 100x100 of the 150x150 LFW image, resized, RGB (or BGR), normalised, NHWC.
std::vector<float> face_crop(const fs::path& path, int size, bool bgr_order, Norm norm) {
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read " + path.string());
  const int c = 100 * std::min(bgr.cols, bgr.rows) / 150;
  cv::Mat roi = bgr(cv::Rect((bgr.cols - c) / 2, (bgr.rows - c) / 2, c, c));
  cv::Mat resized, rgb;
  cv::resize(roi, resized, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
  if (bgr_order) {
    rgb = resized;
  } else {
    cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  }
  std::vector<float> out(static_cast<size_t>(size) * size * 3);
  const unsigned char* p = rgb.ptr<unsigned char>(0);
  for (size_t i = 0; i < out.size(); ++i) {
    const float v = static_cast<float>(p[i]);
    out[i] = norm == Norm::minus1_1_128 ? (v - 127.5f) / 128.0f : v;
  }
  return out;
}

void write_f32(const fs::path& path, const std::vector<float>& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()),
          static_cast<std::streamsize>(data.size() * sizeof(float)));
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

std::vector<float> read_f32(const fs::path& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("cannot read " + path.string());
  const auto bytes = static_cast<size_t>(f.tellg());
  std::vector<float> data(bytes / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(bytes));
  return data;
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb + 1e-30);
}

class TfjsConverterTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(TfjsConverterTest, OnnxMatchesTfjsReferenceOnLfwFaces) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const ModelCase& mc = GetParam();

  const fs::path onnx = likeness::infer::ModelStore::default_models_dir() / mc.onnx_file;
  const fs::path tfjs = likeness::testing::human_models_dir() / mc.tfjs_json;
  ASSERT_TRUE(fs::exists(onnx))
      << "converted model " << onnx
      << " is missing: run scripts/setup.sh (it converts the TF.js models)";
  ASSERT_TRUE(fs::exists(tfjs)) << "TF.js model " << tfjs
                                << " is missing from the package cache: run scripts/setup.sh";

  // The batch: one face each of 8 different people.
  const int64_t n = static_cast<int64_t>(kPeople.size());
  std::vector<float> batch;
  for (const auto& person : kPeople) {
    const fs::path img = lfw_image(person, 1);
    ASSERT_TRUE(fs::exists(img)) << img;
    auto crop = face_crop(img, mc.size, mc.bgr, mc.norm);
    batch.insert(batch.end(), crop.begin(), crop.end());
  }

  const fs::path work = fs::temp_directory_path() /
                        ("likeness_tfjs_" + std::to_string(::getpid()) + "_" + mc.onnx_file);
  fs::create_directories(work);
  write_f32(work / "input.f32", batch);

  // Reference evaluation of the original TF.js graph.
  std::ostringstream cmd;
  cmd << "/usr/bin/python3 "
      << quote(likeness::testing::source_dir() / "tools" / "tfjs2onnx" / "tfjs_reference.py") << ' '
      << quote(tfjs) << " --repair-tfjs-prelu --input " << quote(work / "input.f32") << " --shape "
      << n << ',' << mc.size << ',' << mc.size << ",3 --output " << quote(work / "ref.f32");
  for (const auto& node : mc.tfjs_nodes) cmd << " --node '" << node << "'";
  cmd << " > " << quote(work / "ref.log") << " 2>&1";
  const int rc = std::system(cmd.str().c_str());
  ASSERT_EQ(rc, 0) << "reference evaluation failed: " << cmd.str();

  // The converted model through the project's ONNX Runtime wrapper.
  auto session = likeness::infer::Session::create(onnx, {.threads = 0});
  likeness::infer::Tensor input{{n, mc.size, mc.size, 3}, batch};
  const auto outputs = session->run({input}, mc.onnx_outputs);
  ASSERT_EQ(outputs.size(), mc.tfjs_nodes.size());

  for (size_t k = 0; k < outputs.size(); ++k) {
    const fs::path ref_file =
        mc.tfjs_nodes.size() == 1 ? work / "ref.f32" : work / ("ref.f32." + std::to_string(k));
    const std::vector<float> ref = read_f32(ref_file);
    const std::vector<float>& got = outputs[k].data;
    ASSERT_EQ(got.size(), ref.size()) << mc.onnx_outputs[k];
    ASSERT_EQ(outputs[k].shape.front(), n) << mc.onnx_outputs[k];

    double max_ref = 0, max_diff = 0, worst_elem = 0;
    for (size_t i = 0; i < ref.size(); ++i) max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    ASSERT_GT(max_ref, 0.0) << mc.onnx_outputs[k] << " is all zeros";
    for (size_t i = 0; i < ref.size(); ++i) {
      const double d = std::fabs(double(got[i]) - ref[i]);
      max_diff = std::max(max_diff, d);
      worst_elem = std::max(worst_elem, d / std::max(std::fabs(double(ref[i])), 1e-2 * max_ref));
    }
    EXPECT_LT(max_diff / max_ref, 1e-4) << mc.onnx_outputs[k] << ": max |onnx-ref| / max |ref|";
    EXPECT_LT(worst_elem, 1e-3) << mc.onnx_outputs[k] << ": worst per-element relative error";
    std::cout << "[          ] " << mc.onnx_file << " " << mc.onnx_outputs[k]
              << ": max|a-b|/max|b| = " << max_diff / max_ref
              << ", worst per-element rel = " << worst_elem << "\n";
  }

  // Different people must give clearly different embeddings.
  const std::vector<float>& emb = outputs[0].data;
  const size_t dim = emb.size() / static_cast<size_t>(n);
  double max_cos = -1;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      const double c = cosine(&emb[i * dim], &emb[j * dim], dim);
      max_cos = std::max(max_cos, c);
      EXPECT_LT(c, 0.9) << kPeople[i] << " vs " << kPeople[j] << ": embeddings nearly identical";
    }
  }
  std::cout << "[          ] " << mc.onnx_file
            << " max cosine between different people = " << max_cos << "\n";

  std::error_code ec;
  fs::remove_all(work, ec);
}

INSTANTIATE_TEST_SUITE_P(Models, TfjsConverterTest,
                         ::testing::Values(ModelCase{"mobilefacenet.json",
                                                     "mobilefacenet.onnx",
                                                     112,
                                                     false,
                                                     Norm::minus1_1_128,
                                                     {"embeddings"},
                                                     {"embedding"}},
                                           ModelCase{"faceres.json",
                                                     "faceres.onnx",
                                                     224,
                                                     true,
                                                     Norm::raw,
                                                     {"global_pooling/Mean", "gender_pred/Sigmoid",
                                                      "age_pred/Softmax"},
                                                     {"embedding", "gender", "age"}}),
                         [](const ::testing::TestParamInfo<ModelCase>& param_info) {
                           const std::string& file = param_info.param.onnx_file;
                           std::string name = file.substr(0, file.find('.'));
                           name.erase(std::remove_if(name.begin(), name.end(),
                                                     [](char ch) { return !std::isalnum(ch); }),
                                      name.end());
                           return name;
                         });

}  // namespace
