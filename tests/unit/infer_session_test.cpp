#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// A one-node ONNX model, y = x * 2 for x of shape [1], written as protobuf by
// hand (field numbers from onnx.proto).
std::string doubling_model() {
  const auto varint = [](std::uint64_t v) {
    std::string out;
    do {
      out.push_back(static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0)));
      v >>= 7;
    } while (v != 0);
    return out;
  };
  const auto number = [&](int field, std::uint64_t v) {
    return varint(static_cast<std::uint64_t>(field) << 3) + varint(v);
  };
  const auto bytes = [&](int field, const std::string& b) {
    return varint((static_cast<std::uint64_t>(field) << 3) | 2) + varint(b.size()) + b;
  };
  // ValueInfoProto{name, type: TypeProto{tensor_type{elem_type FLOAT, shape{dim{1}}}}}.
  const auto float_1 = [&](const std::string& name) {
    const std::string shape = bytes(2, bytes(1, number(1, 1)));
    return bytes(1, name) + bytes(2, bytes(1, number(1, 1) + shape));
  };
  const float two = 2.0f;
  const std::string raw(reinterpret_cast<const char*>(&two), sizeof two);
  // TensorProto{dims 1, data_type FLOAT, name, raw_data}.
  const std::string initializer = number(1, 1) + number(2, 1) + bytes(8, "two") + bytes(9, raw);
  // NodeProto{input x, input two, output y, op_type Mul}.
  const std::string node = bytes(1, "x") + bytes(1, "two") + bytes(2, "y") + bytes(4, "Mul");
  const std::string graph = bytes(1, node) + bytes(2, "double") + bytes(5, initializer) +
                            bytes(11, float_1("x")) + bytes(12, float_1("y"));
  // ModelProto{ir_version 7, graph, opset_import{domain "", version 13}}.
  return number(1, 7) + bytes(7, graph) + bytes(8, bytes(1, "") + number(2, 13));
}

#if defined(__SSE2__)
// The face models run with denormals flushed whichever thread runs them:
// sessions loaded on helper threads (as the recognizer loads its members) and
// run on a thread that never had the setting still flush, and the thread's
// own setting is restored afterwards.
TEST(Session, FlushesDenormalsOnWhicheverThreadRunsIt) {
  const fs::path path = fs::temp_directory_path() / "likeness-doubling.onnx";
  std::ofstream(path, std::ios::binary) << doubling_model();
  std::unique_ptr<Session> flushing, precise;
  std::thread([&] {
    flushing = Session::create(path, {.threads = 1});
    precise = Session::create(path, {.threads = 1, .denormal_as_zero = false});
  }).join();
  constexpr unsigned kFlushBits = 0x8040;  // MXCSR FTZ | DAZ
  const float tiny = std::numeric_limits<float>::denorm_min() * 1000;
  float flushed = -1, kept = -1;
  unsigned before = 0, after = 0;
  std::thread([&] {
    _mm_setcsr(_mm_getcsr() & ~kFlushBits);
    before = _mm_getcsr();
    flushed = flushing->run({Tensor{{1}, {tiny}}})[0].data[0];
    kept = precise->run({Tensor{{1}, {tiny}}})[0].data[0];
    after = _mm_getcsr();
  }).join();
  EXPECT_EQ(flushed, 0.0f);
  EXPECT_EQ(kept, 2 * tiny);
  constexpr unsigned kStatusFlags = 0x3F;  // exceptions raised (sticky), not settings
  EXPECT_EQ(after & ~kStatusFlags, before & ~kStatusFlags);
  fs::remove(path);
}
#endif

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
