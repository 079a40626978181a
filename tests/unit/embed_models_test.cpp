// Recognition models on real LFW faces: dimension, unit norm, and fixed pairs
// from pairs.txt (same person scores above the model's threshold, different
// people below). Needs the installed models and ../shared/datasets; skips with
// a message when either is absent.
#include <gtest/gtest.h>

#include <cmath>

#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/embed/embedder.h"
#include "likeness/io/image.h"
#include "likeness/match/embedded_calibration.h"
#include "support/test_env.h"

namespace likeness::embed {
namespace {

namespace fs = std::filesystem;

struct Face {
  Image image;
  detect::Detection face;
};

// The detected face nearest the centre of an LFW image.
Face lfw_face(const detect::Detector& detector, const std::string& name, int index) {
  char file[256];
  std::snprintf(file, sizeof file, "%s/%s_%04d.jpg", name.c_str(), name.c_str(), index);
  const auto decoded =
      io::decode_image_file(::likeness::testing::datasets_dir() / "lfw" / "images" / file);
  EXPECT_TRUE(decoded.ok()) << decoded.message;
  Face out;
  if (!decoded.ok()) return out;
  out.image = decoded.value->image;
  const auto found = detector.detect(out.image);
  EXPECT_FALSE(found.faces.empty()) << file;
  float best = 1e9f;
  for (const auto& d : found.faces) {
    const float dx = d.box.x + d.box.width / 2 - static_cast<float>(out.image.width()) / 2;
    const float dy = d.box.y + d.box.height / 2 - static_cast<float>(out.image.height()) / 2;
    if (std::hypot(dx, dy) < best) {
      best = std::hypot(dx, dy);
      out.face = d;
    }
  }
  return out;
}

struct ModelCase {
  const char* name;
  int dimension;
  bool strict;  // accurate enough on LFW to assert same > threshold > different
  // The cosine threshold at FAR 1e-3 for a strict model that is not an
  // ensemble member (measured by bench/lfw_bench, docs/benchmarks.md); 0 =
  // the member's threshold in the shipped calibration.
  double threshold = 0.0;
};

class EmbedderModels : public ::testing::TestWithParam<ModelCase> {};

TEST_P(EmbedderModels, EmbedsLfwPairsSensibly) {
  LIKENESS_REQUIRE_DATASET("lfw");
  const auto store = infer::ModelStore::open();
  const ModelCase& c = GetParam();
  for (const char* model : {"ultraface_rfb320", "dlib_landmarks_68", "dlib_landmarks_5"}) {
    if (store.check(model).status != infer::ModelStatus::ok) {
      GTEST_SKIP() << "model " << model << " is not installed (scripts/setup.sh models)";
    }
  }
  if (store.check(c.name).status != infer::ModelStatus::ok) {
    GTEST_SKIP() << "model " << c.name << " is not installed (scripts/setup.sh models)";
  }
  const auto detector = detect::Detector::create("default", store, {});
  const auto embedder = Embedder::create(c.name, store, {});
  EXPECT_EQ(embedder->name(), c.name);
  EXPECT_EQ(embedder->dimension(), c.dimension);
  // Only dlib's network has a second alignment, on by default.
  EXPECT_EQ(embedder->alignment_tta(), std::string_view(c.name) == "dlib_resnet");
  EXPECT_FALSE(Embedder::create(c.name, store, {.alignment_tta = false})->alignment_tta());

  // Fixed pairs from pairs.txt (fold 1) that every good model gets right.
  const Face a1 = lfw_face(*detector, "Akhmed_Zakayev", 1);
  const Face a2 = lfw_face(*detector, "Akhmed_Zakayev", 3);
  const Face b1 = lfw_face(*detector, "Abdel_Madi_Shabneh", 1);
  const Face b2 = lfw_face(*detector, "Dean_Barker", 1);
  std::vector<Embedding> e;
  for (const Face* f : {&a1, &a2, &b1, &b2}) {
    auto got = embedder->embed(f->image, f->face);
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->values.size(), static_cast<std::size_t>(c.dimension));
    EXPECT_EQ(got->model, c.name);
    double norm = 0;
    for (float v : got->values) norm += static_cast<double>(v) * v;
    EXPECT_NEAR(norm, 1.0, 1e-4);
    e.push_back(std::move(*got));
  }
  const float same = cosine_similarity(e[0], e[1]);
  const float different = cosine_similarity(e[2], e[3]);
  EXPECT_GT(same, different);
  if (c.strict) {
    // The model's threshold at FAR 1e-3 from the shipped calibration.
    const auto& calibration = match::embedded_calibration();
    const auto member = calibration.member_index(c.name);
    ASSERT_TRUE(member.has_value() || c.threshold > 0)
        << c.name << " is not in models/calibration.json";
    const double threshold = member ? calibration.members()[*member].cosine_threshold : c.threshold;
    EXPECT_GT(same, threshold);
    EXPECT_LT(different, threshold);
  }

  // The batch path gives the same vectors as one face at a time.
  const std::vector<detect::Detection> faces{a1.face, a1.face};
  const auto batch = embedder->embed_batch(a1.image, faces);
  ASSERT_EQ(batch.size(), 2u);
  ASSERT_TRUE(batch[0] && batch[1]);
  EXPECT_GT(cosine_similarity(*batch[1], e[0]), 0.9999f);

  // A face without landmarks cannot be aligned for the template models.
  if (std::string_view(c.name) != "dlib_resnet") {
    detect::Detection bare = a1.face;
    bare.has_landmarks = false;
    EXPECT_FALSE(embedder->embed(a1.image, bare).has_value());
  }
}

INSTANTIATE_TEST_SUITE_P(AllModels, EmbedderModels,
                         ::testing::Values(ModelCase{"faceplugin_feature", 512, true},
                                           ModelCase{"dlib_resnet", 128, true},
                                           ModelCase{"mobilefacenet", 192, true, 0.439},
                                           ModelCase{"faceres", 1024, false},
                                           ModelCase{"mobileface", 256, false}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(Embedder, UnknownNameIsAUsageError) {
  const auto store = infer::ModelStore::open();
  EXPECT_THROW(Embedder::create("no_such_model", store, {}), UsageError);
  EXPECT_THROW(Embedder::create("faceplugin_feature", store, {.channel_order = "GBR"}), UsageError);
}

TEST(Embedder, CosineOfDifferentModelsIsZero) {
  const Embedding a{{1.0f, 0.0f}, "x"}, b{{1.0f, 0.0f}, "y"};
  EXPECT_EQ(cosine_similarity(a, b), 0.0f);
  EXPECT_FLOAT_EQ(cosine_similarity(a, Embedding{{1.0f, 0.0f}, "x"}), 1.0f);
}

}  // namespace
}  // namespace likeness::embed
