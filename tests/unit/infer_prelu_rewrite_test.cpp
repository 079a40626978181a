// The load-time PReLU fusion (infer/prelu_rewrite.h): which models it
// rewrites, and that the rewritten sessions compute what the original graphs do.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>

#include "likeness/infer/model_store.h"
#include "likeness/infer/prelu_rewrite.h"
#include "likeness/infer/session.h"
#include "support/random_tensor.h"

namespace likeness::infer {
namespace {

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using likeness::testing::random_tensor;

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

struct Case {
  const char* model;
  int activations;     // PReLUs in the graph
  bool bit_identical;  // static shapes: ONNX Runtime plans the same graph
};

class PReluRewriteTest : public ::testing::TestWithParam<Case> {};

TEST_P(PReluRewriteTest, FusesEveryActivationAndComputesTheSame) {
  const Case& c = GetParam();
  const ModelStore store = ModelStore::open();
  if (store.check(c.model).status != ModelStatus::ok) {
    GTEST_SKIP() << "model " << c.model << " is not installed (scripts/setup.sh models)";
  }
  const std::string bytes = file_bytes(store.require(c.model));
  for (const bool static_shapes : {true, false}) {
    const auto rewritten = internal::rewrite_prelu(bytes, static_shapes);
    ASSERT_TRUE(rewritten.has_value());
    EXPECT_EQ(rewritten->fused, c.activations);
    EXPECT_GE(rewritten->removed, 0);
    EXPECT_LT(rewritten->model.size(), bytes.size() + 64 * 1024);
  }

  const auto plain = store.open_session(c.model, {.threads = 1, .fuse_prelu = false});
  const auto fused = store.open_session(c.model, {.threads = 1, .fuse_prelu = true});
  std::vector<int64_t> shape = plain->inputs()[0].shape;
  shape[0] = 2;
  for (unsigned seed : {1u, 2u, 3u}) {
    // Random pixels in the models' input range, two items (batch or one by one).
    const Tensor input = random_tensor(shape, seed);
    const auto a = plain->run_batch({input});
    const auto b = fused->run_batch({input});
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a[0].shape, b[0].shape);
    if (c.bit_identical) {
      EXPECT_EQ(a[0].data, b[0].data);
    }
    const std::size_t per_item = a[0].data.size() / 2;
    for (std::size_t item = 0; item < 2; ++item) {
      const std::vector<float> va(a[0].data.begin() + item * per_item,
                                  a[0].data.begin() + (item + 1) * per_item);
      const std::vector<float> vb(b[0].data.begin() + item * per_item,
                                  b[0].data.begin() + (item + 1) * per_item);
      EXPECT_GT(cosine(va, vb), 0.999999) << c.model << " item " << item;
      float worst = 0;
      for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
      EXPECT_LT(worst, 1e-5f) << c.model;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, PReluRewriteTest,
                         ::testing::Values(Case{"faceplugin_feature", 33, true},
                                           Case{"mobilefacenet", 33, false}),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.model);
                         });

TEST(PReluRewrite, LeavesModelsWithoutPReluAndNonModelsAlone) {
  EXPECT_FALSE(internal::rewrite_prelu("", true).has_value());
  EXPECT_FALSE(internal::rewrite_prelu("not a protocol buffer \xff\xff\xff", true).has_value());
  const ModelStore store = ModelStore::open();
  for (const char* model : {"ultraface_rfb320", "dlib_resnet"}) {
    if (store.check(model).status != ModelStatus::ok) continue;
    EXPECT_FALSE(internal::rewrite_prelu(file_bytes(store.require(model)), true).has_value())
        << model;
  }
}

TEST(PReluRewrite, TruncatedModelIsNotRewritten) {
  const ModelStore store = ModelStore::open();
  if (store.check("faceplugin_feature").status != ModelStatus::ok) {
    GTEST_SKIP() << "model faceplugin_feature is not installed (scripts/setup.sh models)";
  }
  const std::string bytes = file_bytes(store.require("faceplugin_feature"));
  // Cut inside the graph: the reader must notice rather than write a model
  // with half a graph.
  EXPECT_FALSE(internal::rewrite_prelu(bytes.substr(0, bytes.size() / 2), true).has_value());
}

}  // namespace
}  // namespace likeness::infer
