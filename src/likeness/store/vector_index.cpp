#include "likeness/store/vector_index.h"

// Debian's hnswlib 0.6.2 prefetches one entry past the end of a node's link
// list in its SSE path (searchBaseLayer: `*(datal + j + 1)` on the last j), a
// heap read overflow that AddressSanitizer reports on the first inserts. The
// plain C++ path reads only what it owns; its scalar distance loop is replaced
// by InnerProductSpace below.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "likeness/core/crash_points.h"
#include "likeness/core/error.h"

namespace likeness::store {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStampMagic = "likeness-vector-index";
constexpr int kStampVersion = 1;
// hnswlib 0.6's file header: 11 size_t / double fields and two 32-bit ints.
constexpr std::size_t kHnswHeaderBytes = 11 * 8 + 2 * 4;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a 64 of a whole file; nullopt when it cannot be read.
std::optional<std::uint64_t> file_checksum(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  std::array<char, 1 << 16> buffer{};
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    for (std::size_t i = 0; i < got; ++i) {
      hash ^= static_cast<unsigned char>(buffer[i]);
      hash *= 0x100000001b3ULL;
    }
  }
  if (in.bad()) return std::nullopt;
  return hash;
}

fs::path stamp_path(const fs::path& file) {
  fs::path p = file;
  p += ".stamp";
  return p;
}

fs::path temp_path(const fs::path& file) {
  std::random_device device;
  fs::path p = file;
  p += ".tmp" + std::to_string(device());
  return p;
}

struct StampFile {
  IndexStamp stamp;
  std::uint64_t index_bytes = 0;
  std::uint64_t index_checksum = 0;
};

std::optional<StampFile> read_stamp_file(const fs::path& file) {
  std::ifstream in(stamp_path(file));
  if (!in) return std::nullopt;
  std::string magic, key;
  int version = 0;
  StampFile s;
  if (!(in >> magic >> version) || magic != kStampMagic || version != kStampVersion) {
    return std::nullopt;
  }
  std::uint64_t dimension = 0, count = 0;
  // In the order write_stamp_file() writes them.
  const std::array<std::pair<const char*, std::uint64_t*>, 5> fields{{
      {"dimension", &dimension},
      {"count", &count},
      {"index_bytes", &s.index_bytes},
      {"index_fnv1a64", &s.index_checksum},
      {"id_hash", &s.stamp.id_hash},
  }};
  for (const auto& [name, value] : fields) {
    if (!(in >> key >> *value) || key != name) return std::nullopt;
  }
  s.stamp.dimension = static_cast<std::size_t>(dimension);
  s.stamp.count = static_cast<std::size_t>(count);
  return s;
}

void write_stamp_file(const fs::path& path, const StampFile& s) {
  std::ofstream out(path, std::ios::trunc);
  out << kStampMagic << ' ' << kStampVersion << '\n'
      << "dimension " << s.stamp.dimension << '\n'
      << "count " << s.stamp.count << '\n'
      << "index_bytes " << s.index_bytes << '\n'
      << "index_fnv1a64 " << s.index_checksum << '\n'
      << "id_hash " << s.stamp.id_hash << '\n';
  out.close();
  if (!out) throw StoreError("cannot write the vector index stamp " + path.string());
}

template <typename T>
T read_pod(const std::string& bytes, std::size_t& offset) {
  T value{};
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  offset += sizeof(T);
  return value;
}

// Checks hnswlib's header against the expected dimension before hnswlib reads
// the file: hnswlib trusts it and crashes on nonsense.
// A file in memory only (memfd), reachable by path through /proc/self/fd:
// hnswlib reads and writes indexes by file name only.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("likeness-index", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      throw StoreError(std::string("cannot make an in-memory file for the vector index: ") +
                       std::strerror(errno));
    }
  }
  ~MemoryFile() { close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  fs::path path() const { return "/proc/self/fd/" + std::to_string(fd_); }

  std::string read_all() const {
    const off_t size = lseek(fd_, 0, SEEK_END);
    std::string bytes(static_cast<std::size_t>(std::max<off_t>(size, 0)), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          pread(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) throw StoreError("cannot read the in-memory vector index");
      done += static_cast<std::size_t>(n);
    }
    return bytes;
  }

  void write_all(std::string_view bytes) const {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n =
          pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) throw StoreError("cannot fill the in-memory vector index (out of memory?)");
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
};

void check_hnsw_header(const fs::path& file, std::size_t dimension, std::uint64_t file_bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string header(kHnswHeaderBytes, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (static_cast<std::size_t>(in.gcount()) != header.size()) {
    throw StoreError("vector index " + file.string() + " is truncated; rebuild the index");
  }
  std::size_t at = 0;
  read_pod<std::size_t>(header, at);  // offsetLevel0_
  read_pod<std::size_t>(header, at);  // max_elements_
  const auto count = read_pod<std::size_t>(header, at);
  const auto per_element = read_pod<std::size_t>(header, at);
  const auto label_offset = read_pod<std::size_t>(header, at);
  const auto data_offset = read_pod<std::size_t>(header, at);
  const bool sane = label_offset > data_offset &&
                    label_offset - data_offset == dimension * sizeof(float) &&
                    per_element == label_offset + sizeof(hnswlib::labeltype) &&
                    (count == 0 || per_element <= file_bytes / count);
  if (!sane) {
    throw StoreError("vector index " + file.string() + " does not hold " +
                     std::to_string(dimension) + "-float vectors; rebuild the index");
  }
}

// Four floats, one SSE register on x86-64 (the baseline: no AVX assumed).
using Float4 = float __attribute__((vector_size(16)));

Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);  // unaligned: hnswlib packs vectors at 4-byte offsets
  return v;
}

// hnswlib's distance: 1 - dot(a, b) over *dimension_ptr floats. hnswlib's own
// loop is one chain of dependent scalar adds, which the compiler may not
// reorder (no -ffast-math): one multiply-add per add latency. Four
// independent 4-float accumulators keep SSE busy: at 832 floats about 8x
// faster per distance on cached vectors (two or eight accumulators were no
// faster), 2.5-3x on building and searching 10k faces, and 1.6x per distance
// on vectors read from memory, which dominates at library scale (see
// docs/benchmarks.md, "Search scale"). Named accumulators rather than an
// array: at -O2 (RelWithDebInfo) GCC keeps an array on the stack. The loops
// stop at the last whole block and the scalar tail reads the rest, so nothing
// past either vector is read.
float inner_product_distance(const void* a_ptr, const void* b_ptr, const void* dimension_ptr) {
  const auto* a = static_cast<const float*>(a_ptr);
  const auto* b = static_cast<const float*>(b_ptr);
  const std::size_t n = *static_cast<const std::size_t*>(dimension_ptr);
  Float4 s0 = {}, s1 = {}, s2 = {}, s3 = {};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 += load4(a + i) * load4(b + i);
    s1 += load4(a + i + 4) * load4(b + i + 4);
    s2 += load4(a + i + 8) * load4(b + i + 8);
    s3 += load4(a + i + 12) * load4(b + i + 12);
  }
  for (; i + 4 <= n; i += 4) s0 += load4(a + i) * load4(b + i);
  const Float4 s = (s0 + s1) + (s2 + s3);
  float sum = (s[0] + s[1]) + (s[2] + s[3]);
  for (; i < n; ++i) sum += a[i] * b[i];
  return 1.0f - sum;
}

class InnerProductSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit InnerProductSpace(std::size_t dimension) : dimension_(dimension) {}
  std::size_t get_data_size() override { return dimension_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return inner_product_distance; }
  void* get_dist_func_param() override { return &dimension_; }

 private:
  std::size_t dimension_;
};

void check_options(const VectorIndexOptions& options) {
  if (options.dimension == 0 || options.m <= 0 || options.ef_construction <= 0 ||
      options.ef_search <= 0) {
    throw UsageError(
        "VectorIndexOptions: dimension, m, ef_construction and ef_search must be positive");
  }
}

class HnswVectorIndex final : public VectorIndex {
 public:
  explicit HnswVectorIndex(const VectorIndexOptions& options)
      : options_(options), space_(options.dimension) {}

  void init_empty() {
    hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &space_, std::max<std::size_t>(options_.max_elements, 1),
        static_cast<std::size_t>(options_.m), static_cast<std::size_t>(options_.ef_construction));
    hnsw_->setEf(static_cast<std::size_t>(options_.ef_search));
  }

  void init_from(const fs::path& file) {
    auto hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_);
    // hnswlib 0.6's loading constructor leaves these uninitialised, and
    // loadIndex() counts deletions on top of num_deleted_.
    hnsw->num_deleted_ = 0;
    hnsw->cur_element_count = 0;
    hnsw->data_level0_memory_ = nullptr;
    hnsw->linkLists_ = nullptr;
    hnsw->visited_list_pool_ = nullptr;
    try {
      hnsw->loadIndex(file.string(), &space_, options_.max_elements);
    } catch (const std::exception& e) {
      // A half-loaded hnswlib object frees uninitialised pointers in its
      // destructor; leak it instead (only reachable with a file whose
      // checksum matched, i.e. practically never).
      (void)hnsw.release();
      throw StoreError("vector index " + file.string() + " is corrupt (" + e.what() +
                       "); rebuild the index");
    }
    hnsw_ = std::move(hnsw);
    hnsw_->setEf(static_cast<std::size_t>(options_.ef_search));
  }

  void add(std::int64_t face_id, std::span<const float> vector) override {
    check_dimension(vector.size(), "add");
    const auto label = static_cast<hnswlib::labeltype>(face_id);
    if (hnsw_->label_lookup_.find(label) == hnsw_->label_lookup_.end() &&
        hnsw_->cur_element_count >= hnsw_->max_elements_) {
      hnsw_->resizeIndex(std::max<std::size_t>(2 * hnsw_->max_elements_, 16));
    }
    hnsw_->addPoint(vector.data(), label);
  }

  void add_batch(std::span<const std::int64_t> ids, std::span<const float> vectors,
                 std::size_t threads) override {
    const std::size_t dimension = options_.dimension;
    if (vectors.size() != ids.size() * dimension) {
      throw UsageError("VectorIndex::add_batch: expected " + std::to_string(ids.size()) + " x " +
                       std::to_string(dimension) + " floats, got " +
                       std::to_string(vectors.size()));
    }
    const auto row = [&](std::size_t i) { return vectors.subspan(i * dimension, dimension); };
    // Only the last occurrence of an id is added: hnswlib must not see one new
    // label in two threads (the second would update a half-inserted node).
    std::unordered_map<std::int64_t, std::size_t> last;
    last.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) last[ids[i]] = i;
    std::vector<std::size_t> fresh;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (last[ids[i]] != i) continue;
      // Replacing a vector may revive a removed id, which updates hnswlib's
      // deletion count without a lock: replacements go one by one.
      if (hnsw_->label_lookup_.contains(static_cast<hnswlib::labeltype>(ids[i]))) {
        add(ids[i], row(i));
      } else {
        fresh.push_back(i);
      }
    }
    // Grown once up front: resizeIndex() must not run beside an insert.
    const std::size_t needed = hnsw_->cur_element_count + fresh.size();
    if (needed > hnsw_->max_elements_) {
      hnsw_->resizeIndex(std::max(needed, 2 * hnsw_->max_elements_));
    }
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    // hnswlib's inserts lock the link lists they touch; its Python binding
    // inserts in parallel the same way. They draw each node's level from one
    // generator without a lock: a data race that hnswlib's own parallel insert
    // has too, whose effect on x86-64 is at worst two nodes drawing one level.
    std::atomic<std::size_t> next{0};
    std::mutex error_mutex;
    std::exception_ptr error;
    const auto insert = [&] {
      try {
        for (std::size_t j = next++; j < fresh.size(); j = next++) {
          const std::size_t i = fresh[j];
          hnsw_->addPoint(row(i).data(), static_cast<hnswlib::labeltype>(ids[i]));
        }
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next = fresh.size();
      }
    };
    {
      std::vector<std::jthread> helpers;
      const std::size_t workers = std::min(threads, fresh.size());
      for (std::size_t t = 1; t < workers; ++t) helpers.emplace_back(insert);
      insert();
    }
    if (error) std::rethrow_exception(error);
  }

  void remove(std::int64_t face_id) override {
    const auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(face_id));
    if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return;
    hnsw_->markDelete(it->first);
  }

  std::vector<Neighbour> search(std::span<const float> query, std::size_t k) const override {
    check_dimension(query.size(), "search");
    std::vector<Neighbour> result;
    if (k == 0 || size() == 0) return result;
    auto found = hnsw_->searchKnn(query.data(), k);
    result.resize(found.size());
    // The queue pops the largest distance (1 - inner product) first.
    for (auto slot = result.rbegin(); slot != result.rend(); ++slot) {
      const auto& [distance, label] = found.top();
      *slot = {static_cast<std::int64_t>(label), 1.0f - distance};
      found.pop();
    }
    return result;
  }

  std::size_t size() const override { return hnsw_->cur_element_count - hnsw_->num_deleted_; }

  bool contains(std::int64_t face_id) const override {
    const auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(face_id));
    return it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second);
  }

  std::size_t dimension() const override { return options_.dimension; }

  IndexStamp stamp() const override {
    std::vector<std::int64_t> ids;
    ids.reserve(size());
    for (const auto& [label, internal] : hnsw_->label_lookup_) {
      if (!hnsw_->isMarkedDeleted(internal)) ids.push_back(static_cast<std::int64_t>(label));
    }
    return stamp_of(ids, options_.dimension);
  }

  std::string to_bytes() const override {
    MemoryFile memory;
    hnsw_->saveIndex(memory.path().string());
    std::string bytes = memory.read_all();
    if (bytes.size() != expected_file_bytes()) {
      throw StoreError("cannot serialise the vector index (out of memory?)");
    }
    return bytes;
  }

  void save(const fs::path& file) const override {
    const fs::path index_tmp = temp_path(file);
    const fs::path stamp_tmp = temp_path(stamp_path(file));
    try {
      hnsw_->saveIndex(index_tmp.string());
      // hnswlib does not report write errors: compare with the size it meant to write.
      std::error_code ec;
      const auto written = fs::file_size(index_tmp, ec);
      if (ec || written != expected_file_bytes()) {
        throw StoreError("cannot write the vector index " + index_tmp.string() +
                         " (disk full or not writable?)");
      }
      const auto checksum = file_checksum(index_tmp);
      if (!checksum) throw StoreError("cannot read back the vector index " + index_tmp.string());
      crash_point("index save: written");
      write_stamp_file(stamp_tmp, {stamp(), written, *checksum});
      crash_point("index save: stamp written");
      fs::rename(index_tmp, file);
      crash_point("index save: index replaced");
      fs::rename(stamp_tmp, stamp_path(file));
      crash_point("index save: stamp replaced");
    } catch (const fs::filesystem_error& e) {
      cleanup(index_tmp, stamp_tmp);
      throw StoreError("cannot save the vector index " + file.string() + ": " + e.what());
    } catch (...) {
      cleanup(index_tmp, stamp_tmp);
      throw;
    }
  }

 private:
  static void cleanup(const fs::path& a, const fs::path& b) {
    std::error_code ignored;
    fs::remove(a, ignored);
    fs::remove(b, ignored);
  }

  std::uint64_t expected_file_bytes() const {
    std::uint64_t bytes = kHnswHeaderBytes;
    bytes += hnsw_->cur_element_count * hnsw_->size_data_per_element_;
    for (std::size_t i = 0; i < hnsw_->cur_element_count; ++i) {
      const int level = hnsw_->element_levels_[i];
      bytes += sizeof(unsigned int);
      if (level > 0) bytes += hnsw_->size_links_per_element_ * static_cast<std::size_t>(level);
    }
    return bytes;
  }

  void check_dimension(std::size_t got, const char* what) const {
    if (got != options_.dimension) {
      throw UsageError(std::string("VectorIndex::") + what + ": expected a vector of " +
                       std::to_string(options_.dimension) + " floats, got " + std::to_string(got));
    }
  }

  VectorIndexOptions options_;
  InnerProductSpace space_;  // must outlive hnsw_
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
};

}  // namespace

IndexStamp stamp_of(std::span<const std::int64_t> ids, std::size_t dimension) {
  IndexStamp stamp{dimension, ids.size(), 0};
  // A sum of mixed ids: independent of order, unlike a hash of the sequence.
  for (const std::int64_t id : ids) stamp.id_hash += splitmix64(static_cast<std::uint64_t>(id));
  return stamp;
}

std::optional<IndexStamp> read_stamp(const fs::path& file) {
  const auto s = read_stamp_file(file);
  if (!s) return std::nullopt;
  return s->stamp;
}

std::unique_ptr<VectorIndex> VectorIndex::create(const VectorIndexOptions& options) {
  check_options(options);
  auto index = std::make_unique<HnswVectorIndex>(options);
  index->init_empty();
  return index;
}

std::unique_ptr<VectorIndex> VectorIndex::from_bytes(std::string_view bytes,
                                                     const VectorIndexOptions& options) {
  check_options(options);
  MemoryFile memory;
  memory.write_all(bytes);
  check_hnsw_header(memory.path(), options.dimension, bytes.size());
  auto index = std::make_unique<HnswVectorIndex>(options);
  index->init_from(memory.path());
  return index;
}

std::unique_ptr<VectorIndex> VectorIndex::load(const fs::path& file,
                                               const VectorIndexOptions& options) {
  check_options(options);
  const auto rebuild = "; rebuild the index";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw StoreError("vector index " + file.string() + " is missing" + rebuild);
  }
  const auto s = read_stamp_file(file);
  if (!s) {
    throw StoreError("vector index stamp " + stamp_path(file).string() +
                     " is missing or unreadable" + rebuild);
  }
  if (s->stamp.dimension != options.dimension) {
    throw StoreError("vector index " + file.string() + " holds " +
                     std::to_string(s->stamp.dimension) + "-float vectors, expected " +
                     std::to_string(options.dimension) + rebuild);
  }
  const auto bytes = fs::file_size(file, ec);
  const auto checksum = file_checksum(file);
  if (ec || !checksum || bytes != s->index_bytes || *checksum != s->index_checksum) {
    throw StoreError("vector index " + file.string() +
                     " is truncated, corrupt or does not match its stamp" + rebuild);
  }
  check_hnsw_header(file, options.dimension, bytes);
  auto index = std::make_unique<HnswVectorIndex>(options);
  index->init_from(file);
  if (index->stamp() != s->stamp) {
    throw StoreError("vector index " + file.string() + " does not match its stamp" + rebuild);
  }
  return index;
}

}  // namespace likeness::store
