// dlib's face recognition network converted to ONNX (tools/dlib2onnx) against
// dlib's own forward pass.
//
// The reference is the native path the dlib_resnet backend used before the
// conversion: the network type of dlib's dnn_face_recognition_ex.cpp
// (anet_type below), deserialized from the original .dat in the package cache
// (~/.cache/likeness/packages, filled by scripts/setup.sh), run by dlib's DNN.
// The chips are cut exactly as the backend cuts them: dlib's 5-point model on
// the detector's box, and FacePlugin's 68 points on the same box (the second
// alignment), each through get_face_chip_details(shape, 150, 0.25) and
// extract_image_chip.
//
// Checks, on one LFW face of each of 20 different people:
//   * the raw network (infer::Session on the converted file, the same chips as
//     one batch): every unnormalised 128-d output within 1e-4 (relative L2) of
//     dlib's, norms included;
//   * the backend (Embedder "dlib_resnet") with one alignment: plain and
//     mirrored vectors with cosine > 0.9999 to dlib's normalised descriptors
//     of the 5-point chip and of its mirror image, and the mirror-TTA vector
//     to dlib's normalised sum;
//   * with both alignments (the default): plain and mirrored vectors to the
//     normalised sums of dlib's descriptors of the two chips, and the TTA
//     vector to the normalised sum of those two (the chips differ enough for
//     this to fail if either were left out).
// And the converter itself: it reproduces the manifest's sha256 byte for byte
// and refuses a truncated file.
//
// Skips with a message when LFW, the installed models or the package cache
// are absent (scripts/setup.sh models).
#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "likeness/align/landmarks.h"
#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/embed/embedder.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/hash.h"
#include "likeness/io/image.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::embed {
namespace {

namespace fs = std::filesystem;

// The network definition of dlib's dnn_face_recognition_ex.cpp (a ResNet with
// 29 conv layers); the .dat file holds its weights and must match it exactly.
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = dlib::add_prev2<
    dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block =
    BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET>
using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET>
using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET>
using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET>
using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET>
using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET>
using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using anet_type = dlib::loss_metric<dlib::fc_no_bias<
    128, dlib::avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<dlib::max_pool<
             3, 3, 2, 2,
             dlib::relu<dlib::affine<
                 dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

// sha256 of dlib_face_recognition_resnet_model_v1.dat in face-recognition-models@0.0.0
// (the manifest's sha256 of dlib_resnet before the conversion).
constexpr const char* kDatSha256 =
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30";

// The unpacked package folder scripts/fetch_models.py uses (its tarball_name()).
fs::path package_file(const infer::ModelSpec& spec) {
  fs::path cache;
  if (const char* env = std::getenv("LIKENESS_CACHE"); env && *env) {
    cache = env;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    cache = fs::path(xdg) / "likeness";
  } else {
    const char* home = std::getenv("HOME");
    cache = fs::path(home && *home ? home : ".") / ".cache" / "likeness";
  }
  std::string name = spec.source_package;
  const auto at = name.rfind('@');
  std::string base = name.substr(0, at);
  if (!base.empty() && base.front() == '@') base.erase(0, 1);
  std::replace(base.begin(), base.end(), '/', '-');
  return cache / "packages" / (base + "-" + name.substr(at + 1)) / spec.source_path;
}

// The original .dat, or empty (with the reason in `why`) when it is unusable.
fs::path dlib_dat(const infer::ModelStore& store, std::string& why) {
  const fs::path dat = package_file(store.spec("dlib_resnet"));
  if (!fs::exists(dat)) {
    why = "the original " + dat.string() +
          " is absent from the package cache (scripts/setup.sh models)";
    return {};
  }
  const auto hash = io::sha256_file(dat);
  if (hash.hex != kDatSha256) {
    why = dat.string() + " is not the expected file (sha256 " + hash.hex + ")";
    return {};
  }
  return dat;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::vector<float> normalised(std::vector<float> v) {
  l2_normalize(v);
  return v;
}

std::vector<float> to_vector(const dlib::matrix<float, 0, 1>& m) {
  return std::vector<float>(m.begin(), m.end());
}

struct Chip {
  std::string person;
  Image image;
  detect::Detection face;
  dlib::matrix<dlib::rgb_pixel> chip;    // from dlib's 5 points
  dlib::matrix<dlib::rgb_pixel> chip68;  // from FacePlugin's 68 points
};

// One LFW face of each of `count` people spread over the alphabet, each with
// dlib's chip cut as the backend cuts it.
std::vector<Chip> lfw_chips(const detect::Detector& detector, const dlib::shape_predictor& shape,
                            const align::LandmarkModel& landmarks, std::size_t count) {
  const fs::path images = ::likeness::testing::datasets_dir() / "lfw" / "images";
  std::vector<std::string> people;
  for (const auto& entry : fs::directory_iterator(images)) {
    people.push_back(entry.path().filename().string());
  }
  std::sort(people.begin(), people.end());
  std::vector<Chip> out;
  const std::size_t step = std::max<std::size_t>(1, people.size() / count);
  for (std::size_t i = 0; i < people.size() && out.size() < count; i += step) {
    const fs::path file = images / people[i] / (people[i] + "_0001.jpg");
    auto decoded = io::decode_image_file(file);
    if (!decoded.ok()) continue;
    Chip c{people[i], decoded.value->image, {}, {}, {}};
    const auto found = detector.detect(c.image);
    if (found.faces.empty()) continue;
    c.face = found.faces.front();
    const dlib::cv_image<dlib::rgb_pixel> view(c.image.rgb);
    const dlib::rectangle rect(std::lround(c.face.box.x), std::lround(c.face.box.y),
                               std::lround(c.face.box.x + c.face.box.width) - 1,
                               std::lround(c.face.box.y + c.face.box.height) - 1);
    dlib::extract_image_chip(view, dlib::get_face_chip_details(shape(view, rect), 150, 0.25),
                             c.chip);
    const std::vector<cv::Point2f> points = landmarks.points(c.image, c.face.box);
    if (points.size() != 68) continue;
    std::vector<dlib::point> parts;
    for (const auto& p : points) parts.emplace_back(std::lround(p.x), std::lround(p.y));
    dlib::extract_image_chip(
        view, dlib::get_face_chip_details(dlib::full_object_detection(rect, parts), 150, 0.25),
        c.chip68);
    out.push_back(std::move(c));
  }
  return out;
}

class DlibOnnx : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    dat_ = dlib_dat(store_, why);
    if (dat_.empty()) GTEST_SKIP() << why;
  }

  const infer::ModelStore store_ = infer::ModelStore::open();
  fs::path dat_;
};

TEST_F(DlibOnnx, MatchesDlibsNetworkOnLfwChips) {
  LIKENESS_REQUIRE_DATASET("lfw");
  for (const char* model : {"dlib_resnet", "dlib_landmarks_5"}) {
    if (store_.check(model).status != infer::ModelStatus::ok) {
      GTEST_SKIP() << "model " << model << " is not installed (scripts/setup.sh models)";
    }
  }
  std::unique_ptr<detect::Detector> detector;
  try {
    detector = detect::Detector::create("default", store_, {});
  } catch (const ModelError& e) {
    GTEST_SKIP() << "the default detector is not installed: " << e.what();
  }
  dlib::shape_predictor shape;
  dlib::deserialize(store_.require("dlib_landmarks_5").string()) >> shape;
  anet_type net;
  dlib::deserialize(dat_.string()) >> net;

  const auto landmarks = align::LandmarkModel::create("faceplugin68", store_);
  const std::vector<Chip> chips = lfw_chips(*detector, shape, *landmarks, 20);
  ASSERT_EQ(chips.size(), 20u);

  // dlib's descriptors of every chip and of its mirror image: per face the
  // 5-point chip, its mirror, the 68-point chip, its mirror.
  std::vector<dlib::matrix<dlib::rgb_pixel>> batch;
  for (const auto& c : chips) {
    for (const auto* chip : {&c.chip, &c.chip68}) {
      batch.push_back(*chip);
      dlib::matrix<dlib::rgb_pixel> mirrored;
      dlib::flip_image_left_right(*chip, mirrored);
      batch.push_back(mirrored);
    }
  }
  const std::vector<dlib::matrix<float, 0, 1>> reference = net(batch);
  ASSERT_EQ(reference.size(), batch.size());

  // 1. The converted network alone, unnormalised, the chips as one batch.
  const auto session = store_.open_session("dlib_resnet", {.threads = 1});
  const auto n = static_cast<int64_t>(batch.size());
  infer::Tensor input{{n, 3, 150, 150}, {}};
  input.data.reserve(static_cast<std::size_t>(n) * 3 * 150 * 150);
  for (const auto& chip : batch) {
    for (int channel = 0; channel < 3; ++channel) {
      for (long r = 0; r < 150; ++r) {
        for (long c = 0; c < 150; ++c) {
          const dlib::rgb_pixel& p = chip(r, c);
          input.data.push_back(channel == 0 ? p.red : channel == 1 ? p.green : p.blue);
        }
      }
    }
  }
  const auto outputs = session->run({input}, {"descriptor"});
  ASSERT_EQ(outputs[0].shape, (std::vector<int64_t>{n, 128}));
  double worst_relative = 0;
  for (std::size_t k = 0; k < batch.size(); ++k) {
    const std::vector<float> want = to_vector(reference[k]);
    const std::vector<float> got(
        outputs[0].data.begin() + static_cast<std::ptrdiff_t>(k * 128),
        outputs[0].data.begin() + static_cast<std::ptrdiff_t>(k * 128 + 128));
    double diff = 0;
    for (std::size_t i = 0; i < 128; ++i) diff += std::pow(double(got[i]) - want[i], 2);
    const double relative = std::sqrt(diff / dot(want, want));
    worst_relative = std::max(worst_relative, relative);
    EXPECT_LT(relative, 1e-4) << chips[k / 4].person << (k % 2 ? " (mirrored)" : "");
  }

  // 2. The backend: plain, mirrored and mirror-TTA vectors, with one alignment
  // and with both.
  auto sum_of = [](const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> out(a.size());
    for (std::size_t j = 0; j < a.size(); ++j) out[j] = a[j] + b[j];
    l2_normalize(out);
    return out;
  };
  const auto one =
      Embedder::create("dlib_resnet", store_, {.flip_tta = true, .alignment_tta = false});
  const auto both = Embedder::create("dlib_resnet", store_, {.flip_tta = true});
  ASSERT_TRUE(both->alignment_tta());
  double worst_cosine = 1;
  int distinct_alignments = 0;  // faces whose two chips' vectors differ enough, below
  for (std::size_t i = 0; i < chips.size(); ++i) {
    const auto plain5 = normalised(to_vector(reference[4 * i]));
    const auto mirrored5 = normalised(to_vector(reference[4 * i + 1]));
    const auto plain68 = normalised(to_vector(reference[4 * i + 2]));
    const auto mirrored68 = normalised(to_vector(reference[4 * i + 3]));
    // Leaving one alignment out puts the vector at sqrt((1 + c) / 2) from the
    // sum, c the cosine between the two: below the 0.9999 checked here when
    // c < 0.9996.
    distinct_alignments += dot(plain5, plain68) < 0.9996;
    const auto plain_both = sum_of(plain5, plain68);
    const auto mirrored_both = sum_of(mirrored5, mirrored68);
    const struct {
      const Embedder& embedder;
      std::vector<float> plain, mirrored;
    } cases[] = {{*one, plain5, mirrored5}, {*both, plain_both, mirrored_both}};
    for (const auto& c : cases) {
      const auto views = c.embedder.embed_views(chips[i].image, chips[i].face);
      const auto tta = c.embedder.embed(chips[i].image, chips[i].face);
      ASSERT_TRUE(views && tta) << chips[i].person;
      for (const double cosine : {dot(views->plain, c.plain), dot(views->mirrored, c.mirrored),
                                  dot(tta->values, sum_of(c.plain, c.mirrored))}) {
        worst_cosine = std::min(worst_cosine, cosine);
        EXPECT_GT(cosine, 0.9999) << chips[i].person
                                  << (&c.embedder == one.get() ? " (one alignment)" : "");
      }
    }
  }
  // Different people stay different, and on most faces leaving an alignment
  // out would fail the checks above (the comparison is not vacuous).
  EXPECT_LT(dot(normalised(to_vector(reference[0])), normalised(to_vector(reference[4]))), 0.95);
  EXPECT_GE(distinct_alignments, 15);
  std::cout << "[          ] " << chips.size() << " faces: worst relative L2 error of the raw "
            << "output " << worst_relative << ", worst 1 - cosine of the backend's vectors "
            << 1.0 - worst_cosine << ", faces whose alignments differ by cosine < 0.9996 "
            << distinct_alignments << "\n";
}

std::string quote(const fs::path& p) {
  std::string out(1, '\'');
  out += p.string();
  out += '\'';
  return out;
}

int run_converter(const fs::path& dat, const fs::path& out, const fs::path& log) {
  const std::string command =
      "/usr/bin/python3 " +
      quote(::likeness::testing::source_dir() / "tools" / "dlib2onnx" / "dlib_to_onnx.py") + " " +
      quote(dat) + " " + quote(out) + " > " + quote(log) + " 2>&1";
  return std::system(command.c_str());
}

std::string read_text(const fs::path& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST_F(DlibOnnx, ConverterIsReproducibleAndRefusesATruncatedFile) {
  const testing::TempDir temp("dlib2onnx");
  const fs::path out = temp.path() / "dlib.onnx";
  ASSERT_EQ(run_converter(dat_, out, temp.path() / "log"), 0) << read_text(temp.path() / "log");
  EXPECT_EQ(io::sha256_file(out).hex, store_.spec("dlib_resnet").sha256)
      << "the converter no longer reproduces the manifest's file byte for byte";

  // The first half of the network: the tool stops instead of writing a graph.
  const fs::path half = temp.path() / "half.dat";
  {
    std::ifstream in(dat_, std::ios::binary);
    std::vector<char> bytes(static_cast<std::size_t>(fs::file_size(dat_) / 2));
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(half, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const fs::path bad = temp.path() / "bad.onnx";
  EXPECT_NE(run_converter(half, bad, temp.path() / "bad.log"), 0);
  EXPECT_FALSE(fs::exists(bad));
  EXPECT_NE(read_text(temp.path() / "bad.log").find("unexpected end of file"), std::string::npos)
      << read_text(temp.path() / "bad.log");
}

}  // namespace
}  // namespace likeness::embed
