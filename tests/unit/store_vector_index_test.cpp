#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "likeness/store/vector_index.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using likeness::store::IndexStamp;
using likeness::store::Neighbour;
using likeness::store::StoreError;
using likeness::store::VectorIndex;
using likeness::store::VectorIndexOptions;

namespace {

constexpr std::size_t kDim = 64;
constexpr std::size_t kCount = 2000;

using likeness::testing::TempDir;

std::vector<float> random_unit(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(kDim);
  float norm = 0.0f;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  norm = std::sqrt(norm);
  for (float& x : v) x /= norm;
  return v;
}

float dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Ids 1001.. so that an off-by-one between id and position would show.
std::int64_t id_of(std::size_t i) { return static_cast<std::int64_t>(1001 + i); }

class StoreVectorIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(12345);
    vectors_.reserve(kCount);
    for (std::size_t i = 0; i < kCount; ++i) vectors_.push_back(random_unit(rng));
    index_ = VectorIndex::create({.dimension = kDim});
    for (std::size_t i = 0; i < kCount; ++i) index_->add(id_of(i), vectors_[i]);
  }

  std::vector<std::int64_t> brute_force(const std::vector<float>& query, std::size_t k) const {
    std::vector<std::pair<float, std::int64_t>> all;
    for (std::size_t i = 0; i < kCount; ++i) all.emplace_back(dot(query, vectors_[i]), id_of(i));
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < k; ++i) ids.push_back(all[i].second);
    return ids;
  }

  std::vector<std::int64_t> all_ids() const {
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < kCount; ++i) ids.push_back(id_of(i));
    return ids;
  }

  std::vector<std::vector<float>> vectors_;
  std::unique_ptr<VectorIndex> index_;
};

TEST_F(StoreVectorIndex, StoredVectorFindsItselfFirst) {
  EXPECT_EQ(index_->size(), kCount);
  for (std::size_t i = 0; i < kCount; i += 97) {
    const auto found = index_->search(vectors_[i], 5);
    ASSERT_EQ(found.size(), 5u);
    EXPECT_EQ(found[0].face_id, id_of(i));
    EXPECT_NEAR(found[0].similarity, 1.0f, 1e-4f);
    for (std::size_t j = 1; j < found.size(); ++j) {
      EXPECT_GE(found[j - 1].similarity, found[j].similarity);
      EXPECT_NEAR(found[j].similarity,
                  dot(vectors_[i], vectors_[static_cast<std::size_t>(found[j].face_id - 1001)]),
                  1e-4f);
    }
  }
}

TEST_F(StoreVectorIndex, RecallAt10AgainstBruteForce) {
  std::mt19937 rng(777);
  std::size_t hits = 0;
  constexpr std::size_t kQueries = 50, kK = 10;
  for (std::size_t q = 0; q < kQueries; ++q) {
    const auto query = random_unit(rng);
    const auto truth = brute_force(query, kK);
    const auto found = index_->search(query, kK);
    ASSERT_EQ(found.size(), kK);
    for (const Neighbour& n : found) {
      hits += static_cast<std::size_t>(std::count(truth.begin(), truth.end(), n.face_id));
    }
  }
  const double recall = static_cast<double>(hits) / static_cast<double>(kQueries * kK);
  EXPECT_GE(recall, 0.95) << "recall@10 " << recall;
}

TEST_F(StoreVectorIndex, RemoveHidesId) {
  const std::int64_t gone = id_of(42);
  ASSERT_TRUE(index_->contains(gone));
  index_->remove(gone);
  index_->remove(gone);         // twice: no-op
  index_->remove(999'999'999);  // absent: no-op
  EXPECT_FALSE(index_->contains(gone));
  EXPECT_EQ(index_->size(), kCount - 1);
  const auto found = index_->search(vectors_[42], 20);
  ASSERT_FALSE(found.empty());
  for (const Neighbour& n : found) EXPECT_NE(n.face_id, gone);
  // Adding it again makes it live again.
  index_->add(gone, vectors_[42]);
  EXPECT_TRUE(index_->contains(gone));
  EXPECT_EQ(index_->size(), kCount);
  EXPECT_EQ(index_->search(vectors_[42], 1).at(0).face_id, gone);
}

TEST_F(StoreVectorIndex, AddExistingIdReplacesVector) {
  const std::int64_t moved = id_of(7);
  index_->add(moved, vectors_[500]);  // now a twin of id_of(500)
  EXPECT_EQ(index_->size(), kCount);
  const auto found = index_->search(vectors_[500], 2);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_TRUE((found[0].face_id == moved && found[1].face_id == id_of(500)) ||
              (found[0].face_id == id_of(500) && found[1].face_id == moved));
  EXPECT_NEAR(found[1].similarity, 1.0f, 1e-4f);
  // Its old vector no longer finds it.
  for (const Neighbour& n : index_->search(vectors_[7], 5)) EXPECT_NE(n.face_id, moved);
}

TEST_F(StoreVectorIndex, SaveLoadRoundTrip) {
  TempDir dir;
  const fs::path file = dir.path() / "faces.hnsw";
  index_->remove(id_of(3));
  index_->save(file);
  EXPECT_TRUE(fs::exists(file));
  EXPECT_FALSE(fs::exists(dir.path() / "faces.hnsw.tmp"));
  const auto loaded = VectorIndex::load(file, {.dimension = kDim});
  EXPECT_EQ(loaded->size(), kCount - 1);
  EXPECT_FALSE(loaded->contains(id_of(3)));
  EXPECT_EQ(loaded->stamp(), index_->stamp());
  ASSERT_TRUE(likeness::store::read_stamp(file).has_value());
  EXPECT_EQ(*likeness::store::read_stamp(file), index_->stamp());
  std::mt19937 rng(99);
  for (int q = 0; q < 20; ++q) {
    const auto query = random_unit(rng);
    const auto a = index_->search(query, 10);
    const auto b = loaded->search(query, 10);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].face_id, b[i].face_id);
      EXPECT_FLOAT_EQ(a[i].similarity, b[i].similarity);
    }
  }
  // A loaded index can still grow and be saved over itself.
  loaded->add(5'000'000, vectors_[0]);
  loaded->save(file);
  EXPECT_EQ(VectorIndex::load(file, {.dimension = kDim})->size(), kCount);
}

TEST_F(StoreVectorIndex, BadFilesThrowStoreError) {
  TempDir dir;
  const fs::path file = dir.path() / "faces.hnsw";
  EXPECT_THROW(VectorIndex::load(file, {.dimension = kDim}), StoreError);  // missing
  index_->save(file);
  EXPECT_THROW(VectorIndex::load(file, {.dimension = 32}), StoreError);  // wrong dimension

  const auto size = fs::file_size(file);
  {  // one flipped byte in the middle
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.seekg(static_cast<std::streamoff>(size / 2));
    f.get(c);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  EXPECT_THROW(VectorIndex::load(file, {.dimension = kDim}), StoreError);

  index_->save(file);
  fs::resize_file(file, size / 3);  // truncated
  EXPECT_THROW(VectorIndex::load(file, {.dimension = kDim}), StoreError);

  index_->save(file);
  fs::remove(dir.path() / "faces.hnsw.stamp");  // stamp missing
  EXPECT_THROW(VectorIndex::load(file, {.dimension = kDim}), StoreError);

  index_->save(file);
  std::ofstream(dir.path() / "faces.hnsw.stamp") << "garbage\n";
  EXPECT_THROW(VectorIndex::load(file, {.dimension = kDim}), StoreError);

  index_->save(file);  // sanity: the intact pair loads
  EXPECT_EQ(VectorIndex::load(file, {.dimension = kDim})->size(), kCount);
}

TEST_F(StoreVectorIndex, WrongDimensionIsUsageError) {
  const std::vector<float> short_vector(kDim - 1, 0.1f);
  EXPECT_THROW(index_->add(1, short_vector), likeness::UsageError);
  EXPECT_THROW((void)index_->search(short_vector, 3), likeness::UsageError);
  EXPECT_THROW(VectorIndex::create({.dimension = 0}), likeness::UsageError);
}

TEST_F(StoreVectorIndex, GrowsPastMaxElements) {
  auto small = VectorIndex::create({.dimension = kDim, .max_elements = 10});
  for (std::size_t i = 0; i < 300; ++i) small->add(id_of(i), vectors_[i]);
  EXPECT_EQ(small->size(), 300u);
  for (std::size_t i = 0; i < 300; i += 37) {
    EXPECT_EQ(small->search(vectors_[i], 1).at(0).face_id, id_of(i));
  }
}

// The distance is summed in blocks of 16 and 4 floats and a scalar tail; an
// element lost at any of those edges would show in these dimensions.
TEST(StoreVectorIndexDistance, EveryElementCountsInAnyDimension) {
  std::mt19937 rng(4242);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const std::size_t dimension : {1u, 3u, 4u, 7u, 16u, 20u, 31u, 832u, 833u}) {
    SCOPED_TRACE("dimension " + std::to_string(dimension));
    auto index = VectorIndex::create({.dimension = dimension});
    // Twins but for the last element, which alone decides the order.
    std::vector<float> last_plus(dimension, 0.0f), last_minus(dimension, 0.0f);
    last_plus.back() = 1.0f;
    last_minus.back() = -1.0f;
    index->add(1, last_plus);
    index->add(2, last_minus);
    const auto found = index->search(last_plus, 2);
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].face_id, 1);
    EXPECT_FLOAT_EQ(found[0].similarity, 1.0f);
    EXPECT_EQ(found[1].face_id, 2);
    EXPECT_FLOAT_EQ(found[1].similarity, -1.0f);

    // Random vectors: the similarity is the inner product (in double here).
    std::vector<std::vector<float>> stored;
    for (std::int64_t id = 10; id < 20; ++id) {
      std::vector<float>& v = stored.emplace_back(dimension);
      for (float& x : v) x = normal(rng);
      index->add(id, v);
    }
    std::vector<float> query(dimension);
    for (float& x : query) x = normal(rng);
    for (const Neighbour& n : index->search(query, 12)) {
      double expected = 0.0;
      if (n.face_id >= 10) {
        const auto& v = stored[static_cast<std::size_t>(n.face_id - 10)];
        for (std::size_t i = 0; i < dimension; ++i) expected += double{query[i]} * v[i];
      } else {
        expected = (n.face_id == 1 ? 1.0 : -1.0) * query.back();
      }
      EXPECT_NEAR(n.similarity, expected, 1e-4 * std::sqrt(static_cast<double>(dimension)))
          << "id " << n.face_id;
    }
  }
}

TEST_F(StoreVectorIndex, AddBatchMatchesAddOneByOne) {
  std::vector<std::int64_t> ids = all_ids();
  std::vector<float> flat;
  for (const auto& v : vectors_) flat.insert(flat.end(), v.begin(), v.end());
  auto batch = VectorIndex::create({.dimension = kDim, .max_elements = 10});
  batch->add_batch(ids, flat, 2);
  EXPECT_EQ(batch->size(), kCount);
  EXPECT_EQ(batch->stamp(), index_->stamp());
  for (std::size_t i = 0; i < kCount; i += 97) {
    EXPECT_EQ(batch->search(vectors_[i], 1).at(0).face_id, id_of(i));
  }
  std::mt19937 rng(777);
  std::size_t hits = 0;
  constexpr std::size_t kQueries = 50, kK = 10;
  for (std::size_t q = 0; q < kQueries; ++q) {
    const auto query = random_unit(rng);
    const auto truth = brute_force(query, kK);
    for (const Neighbour& n : batch->search(query, kK)) {
      hits += static_cast<std::size_t>(std::count(truth.begin(), truth.end(), n.face_id));
    }
  }
  EXPECT_GE(static_cast<double>(hits) / (kQueries * kK), 0.95);

  // A second batch: a replaced id, a removed id revived, a new id given twice
  // (the last vector wins), on one thread per core.
  batch->remove(id_of(1));
  const std::vector<std::int64_t> more{id_of(0), id_of(1), 7'000'000, 7'000'000};
  std::vector<float> more_flat;
  for (const std::size_t i : {500u, 1u, 600u, 700u}) {
    more_flat.insert(more_flat.end(), vectors_[i].begin(), vectors_[i].end());
  }
  batch->add_batch(more, more_flat, 0);
  EXPECT_EQ(batch->size(), kCount + 1);
  EXPECT_TRUE(batch->contains(id_of(1)));
  const auto twins = batch->search(vectors_[500], 2);
  ASSERT_EQ(twins.size(), 2u);
  EXPECT_TRUE(twins[0].face_id == id_of(0) || twins[1].face_id == id_of(0));
  const auto last = batch->search(vectors_[700], 2);
  EXPECT_TRUE(last.at(0).face_id == 7'000'000 || last.at(1).face_id == 7'000'000);
  for (const Neighbour& n : batch->search(vectors_[600], 3)) EXPECT_NE(n.face_id, 7'000'000);

  EXPECT_THROW(batch->add_batch(more, std::vector<float>(kDim), 1), likeness::UsageError);
}

TEST_F(StoreVectorIndex, StampMatchesCatalogIds) {
  auto ids = all_ids();
  EXPECT_EQ(index_->stamp(), likeness::store::stamp_of(ids, kDim));
  std::reverse(ids.begin(), ids.end());  // order does not matter
  EXPECT_EQ(index_->stamp(), likeness::store::stamp_of(ids, kDim));
  EXPECT_NE(index_->stamp(), likeness::store::stamp_of(ids, kDim + 1));

  // Same count, one different id.
  ids.back() = 9'999'999;
  const IndexStamp other = likeness::store::stamp_of(ids, kDim);
  EXPECT_EQ(other.count, kCount);
  EXPECT_NE(index_->stamp(), other);

  // A removed id leaves the stamp.
  index_->remove(id_of(0));
  std::vector<std::int64_t> live;
  for (std::size_t i = 1; i < kCount; ++i) live.push_back(id_of(i));
  EXPECT_EQ(index_->stamp(), likeness::store::stamp_of(live, kDim));
  live.push_back(id_of(0));
  EXPECT_NE(index_->stamp(), likeness::store::stamp_of(live, kDim));
}

}  // namespace
