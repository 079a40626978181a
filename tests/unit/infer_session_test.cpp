#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include "likeness/core/error.h"
#include "likeness/infer/model_store.h"
#include "likeness/infer/session.h"
#include "support/random_tensor.h"

namespace likeness::infer {
namespace {

namespace fs = std::filesystem;

using likeness::testing::random_tensor;

float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    session_ = ModelStore::open().open_session("faceplugin_feature", {.threads = 1});
  }
  std::unique_ptr<Session> session_;
};

TEST_F(SessionTest, DescribesInputsAndOutputsFromTheModel) {
  ASSERT_EQ(session_->inputs().size(), 1u);
  EXPECT_EQ(session_->inputs()[0].name, "input");
  EXPECT_EQ(session_->inputs()[0].shape, (std::vector<int64_t>{1, 3, 112, 112}));
  ASSERT_EQ(session_->outputs().size(), 1u);
  EXPECT_EQ(session_->outputs()[0].shape, (std::vector<int64_t>{1, 512}));
  EXPECT_FALSE(session_->accepts_batches());
}

TEST_F(SessionTest, RunsAndIsDeterministic) {
  const Tensor input = random_tensor({1, 3, 112, 112}, 7);
  const auto first = session_->run({input});
  const auto second = session_->run({input}, {"output"});
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].shape, (std::vector<int64_t>{1, 512}));
  EXPECT_EQ(first[0].data, second[0].data);
  double norm = 0;
  for (float v : first[0].data) norm += double(v) * v;
  EXPECT_GT(norm, 0.0);
}

TEST_F(SessionTest, WrongShapeNamesBothShapes) {
  try {
    session_->run({Tensor::zeros({1, 3, 100, 100})});
    FAIL() << "a wrong shape was accepted";
  } catch (const UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("[1,3,112,112]"), std::string::npos) << message;
    EXPECT_NE(message.find("[1,3,100,100]"), std::string::npos) << message;
  }
  Tensor short_data{{1, 3, 112, 112}, std::vector<float>(10)};
  EXPECT_THROW(session_->run({short_data}), UsageError);
  EXPECT_THROW(session_->run({}), UsageError);
  EXPECT_THROW(session_->run({random_tensor({1, 3, 112, 112}, 1)}, {"no_such_output"}), UsageError);
}

TEST_F(SessionTest, FixedBatchModelRunsBatchesItemByItem) {
  Tensor batch = random_tensor({3, 3, 112, 112}, 11);
  const auto outputs = session_->run_batch({batch});
  ASSERT_EQ(outputs[0].shape, (std::vector<int64_t>{3, 512}));
  const size_t per_item = 3 * 112 * 112;
  for (size_t item = 0; item < 3; ++item) {
    Tensor single{{1, 3, 112, 112},
                  std::vector<float>(batch.data.begin() + long(item * per_item),
                                     batch.data.begin() + long((item + 1) * per_item))};
    const auto expected = session_->run({single});
    const std::vector<float> got(outputs[0].data.begin() + long(item * 512),
                                 outputs[0].data.begin() + long((item + 1) * 512));
    EXPECT_EQ(got, expected[0].data) << "item " << item;
  }
}

TEST_F(SessionTest, ConcurrentRunsAgree) {
  const Tensor input = random_tensor({1, 3, 112, 112}, 3);
  const auto expected = session_->run({input});
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = session_->run({input})[0].data; });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_LT(max_abs_difference(result, expected[0].data), 1e-6f);
}

TEST_F(SessionTest, DenormalFlushingKeepsResults) {
  auto precise = Session::create(session_->path(), {.threads = 1, .denormal_as_zero = false});
  const Tensor input = random_tensor({1, 3, 112, 112}, 5);
  EXPECT_LT(max_abs_difference(precise->run({input})[0].data, session_->run({input})[0].data),
            1e-4f);
}

TEST(Session, MissingFileIsAModelErrorWithRepairHint) {
  try {
    Session::create("/nonexistent/model.onnx");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.onnx"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("setup.sh"), std::string::npos);
  }
}

TEST(Session, GarbageFileIsAModelError) {
  const fs::path path = fs::temp_directory_path() / "likeness-garbage.onnx";
  std::ofstream(path, std::ios::binary) << "this is not a protobuf";
  try {
    Session::create(path);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("likeness models verify"), std::string::npos);
  }
  fs::remove(path);
}

TEST(Session, NonOnnxModelIsRefusedByTheStore) {
  EXPECT_THROW(ModelStore::open().open_session("dlib_landmarks_5"), UsageError);
}

}  // namespace
}  // namespace likeness::infer

namespace likeness::infer {
namespace {

// A converted model keeps TF.js's dynamic batch: one call runs the whole batch,
// and each item's result equals running it alone.
TEST(Session, DynamicBatchModelRunsWholeBatchesAtOnce) {
  auto session = ModelStore::open().open_session("mobilefacenet", {.threads = 1});
  ASSERT_TRUE(session->accepts_batches());
  Tensor batch = random_tensor({4, 112, 112, 3}, 21);
  const auto outputs = session->run_batch({batch});
  ASSERT_EQ(outputs[0].shape, (std::vector<int64_t>{4, 192}));
  const size_t per_item = 112 * 112 * 3;
  for (size_t item = 0; item < 4; ++item) {
    Tensor single{{1, 112, 112, 3},
                  std::vector<float>(batch.data.begin() + long(item * per_item),
                                     batch.data.begin() + long((item + 1) * per_item))};
    const auto expected = session->run({single})[0].data;
    const std::vector<float> got(outputs[0].data.begin() + long(item * 192),
                                 outputs[0].data.begin() + long((item + 1) * 192));
    EXPECT_LT(max_abs_difference(got, expected), 1e-5f) << "item " << item;
  }
  EXPECT_THROW(session->run_batch({Tensor::zeros({0})}), UsageError);
}

}  // namespace
}  // namespace likeness::infer
