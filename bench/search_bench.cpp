// Search speed, recall and size of the vector index (store::VectorIndex) at
// library scale, on synthetic face vectors.
//
//   build/bench/search_bench --sizes 10000,100000 --ef-search 64,128,256
//   build/bench/search_bench --sizes 1000000 --threads 2 > search_1m.json
//   build/bench/search_bench --distribution uniform --sizes 10000,100000
//
// Vectors: by default "identity": identities with a random unit centre in an
// R-dimensional random subspace (--centre-dimension), each face = centre +
// gaussian noise in all dimensions, normalised, 5-20 faces per identity.
// Queries are new faces of the identities of random stored faces. The defaults
// copy the fused vectors of the LFW faces (ensemble of models/calibration.json,
// less their common mean, which does not change any ranking): two faces of one
// person have a cosine of 0.685 on average, of two people 0 with a standard
// deviation of 0.109, which centres in 40 dimensions give. With
// --centre-dimension 0 the centres span all dimensions: identities as unlike
// as random vectors (deviation 0.035), a needle-in-a-haystack case much harder
// for a graph index than real faces. "uniform" (random unit vectors, no
// identities) is the worst case.
//
// Per size: build time (add_batch with --threads; wall and CPU time of all
// threads), bytes per face on disk (index + stamp) and in memory (VmRSS growth
// over the build), then per --ef-search value: the saved index loaded with
// that ef_search, the latency of one query at a time (median and p95 in ms,
// one thread; wall and thread CPU time) and recall@k against an exact scan
// (multithreaded, not timed). Prints JSON on stdout, progress on stderr.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/store/vector_index.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;  // keys in the order written

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the calling thread or of the whole process, in ms: unlike wall
// time, not inflated while other processes on a shared machine hold the cores.
double cpu_ms(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

// Resident set size of this process in bytes (0 when /proc is unavailable).
std::uint64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
    status.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

// Runs body(begin, end) over [0, count) split in `threads` contiguous parts.
template <typename Body>
void parallel_ranges(std::size_t count, std::size_t threads, const Body& body) {
  std::vector<std::jthread> workers;
  const std::size_t part = (count + threads - 1) / threads;
  for (std::size_t begin = 0; begin < count; begin += part) {
    workers.emplace_back([&body, begin, end = std::min(count, begin + part)] { body(begin, end); });
  }
}

// Row-major vectors of one dimension.
struct Vectors {
  std::size_t dimension = 0;
  std::vector<float> values;
  std::size_t size() const { return values.size() / dimension; }
  const float* row(std::size_t i) const { return values.data() + i * dimension; }
  float* row(std::size_t i) { return values.data() + i * dimension; }
};

void normalise(float* v, std::size_t dimension) {
  double norm = 0.0;
  for (std::size_t i = 0; i < dimension; ++i) norm += double{v[i]} * v[i];
  const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (std::size_t i = 0; i < dimension; ++i) v[i] *= scale;
}

// Eight independent sums so that the compiler vectorises the exact scan.
float dot(const float* a, const float* b, std::size_t dimension) {
  std::array<float, 8> sums{};
  std::size_t i = 0;
  for (; i + 8 <= dimension; i += 8) {
    for (std::size_t j = 0; j < 8; ++j) sums[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (; i < dimension; ++i) sum += a[i] * b[i];
  for (const float s : sums) sum += s;
  return sum;
}

// The synthetic collection: stored faces, queries, and for "identity" the
// identity of each (-1 for "uniform").
struct Collection {
  Vectors faces, queries;
  std::vector<std::int64_t> face_identity, query_identity;
  std::size_t identities = 0;
};

struct GenerateOptions {
  std::string distribution;
  std::size_t dimension = 0, faces = 0, queries = 0, min_per_identity = 0, max_per_identity = 0;
  double identity_cosine = 0.0;
  std::size_t centre_dimension = 0;  // 0: the centres span all dimensions
  std::uint64_t seed = 0;
  std::size_t threads = 1;
};

// Fills rows [begin, end) with noise of `sigma` per unit of length around
// `centres` rows (or around 0 without centres), normalised. Each block of rows
// has its own generator, so the vectors do not depend on the thread count.
void fill(Vectors& out, const Vectors* centres, const std::vector<std::int64_t>& owner,
          double sigma, std::uint64_t seed, std::size_t threads) {
  constexpr std::size_t kBlock = 1024;
  const std::size_t blocks = (out.size() + kBlock - 1) / kBlock;
  const std::size_t d = out.dimension;
  const auto per_element = static_cast<float>(sigma / std::sqrt(static_cast<double>(d)));
  parallel_ranges(blocks, threads, [&](std::size_t first, std::size_t last) {
    for (std::size_t block = first; block < last; ++block) {
      std::mt19937_64 rng(seed * 1'000'003 + block);
      std::normal_distribution<float> normal(0.0f, per_element);
      for (std::size_t i = block * kBlock; i < std::min(out.size(), (block + 1) * kBlock); ++i) {
        float* v = out.row(i);
        const float* centre = centres ? centres->row(static_cast<std::size_t>(owner[i])) : nullptr;
        for (std::size_t j = 0; j < d; ++j) v[j] = (centre ? centre[j] : 0.0f) + normal(rng);
        normalise(v, d);
      }
    }
  });
}

Collection generate(const GenerateOptions& o) {
  Collection c;
  c.faces = {o.dimension, std::vector<float>(o.faces * o.dimension)};
  c.queries = {o.dimension, std::vector<float>(o.queries * o.dimension)};
  std::mt19937_64 rng(o.seed);
  if (o.distribution == "uniform") {
    c.face_identity.assign(o.faces, -1);
    c.query_identity.assign(o.queries, -1);
    fill(c.faces, nullptr, c.face_identity, 1.0, o.seed + 1, o.threads);
    fill(c.queries, nullptr, c.query_identity, 1.0, o.seed + 2, o.threads);
    return c;
  }
  std::uniform_int_distribution<std::size_t> per_identity(o.min_per_identity, o.max_per_identity);
  while (c.face_identity.size() < o.faces) {
    const std::size_t n = std::min(per_identity(rng), o.faces - c.face_identity.size());
    c.face_identity.insert(c.face_identity.end(), n, static_cast<std::int64_t>(c.identities++));
  }
  std::uniform_int_distribution<std::size_t> any_face(0, o.faces - 1);
  for (std::size_t q = 0; q < o.queries; ++q) {
    c.query_identity.push_back(c.face_identity[any_face(rng)]);
  }
  // A face is centre + noise of length sigma: the noises of two faces are
  // nearly orthogonal, so their cosine is about 1 / (1 + sigma^2).
  const double sigma = std::sqrt(1.0 / o.identity_cosine - 1.0);
  Vectors centres{o.dimension, std::vector<float>(c.identities * o.dimension)};
  if (o.centre_dimension == 0 || o.centre_dimension >= o.dimension) {
    fill(centres, nullptr, {}, 1.0, o.seed + 1, o.threads);
  } else {
    // Centres in a random subspace: some identities look alike, as in real
    // embeddings (their impostor cosines spread wider than random ones).
    Vectors basis{o.dimension, std::vector<float>(o.centre_dimension * o.dimension)};
    Vectors weights{o.centre_dimension, std::vector<float>(c.identities * o.centre_dimension)};
    fill(basis, nullptr, {}, 1.0, o.seed + 4, o.threads);
    fill(weights, nullptr, {}, 1.0, o.seed + 1, o.threads);
    parallel_ranges(c.identities, o.threads, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        float* centre = centres.row(i);
        for (std::size_t j = 0; j < o.centre_dimension; ++j) {
          const float w = weights.row(i)[j];
          for (std::size_t e = 0; e < o.dimension; ++e) centre[e] += w * basis.row(j)[e];
        }
        normalise(centre, o.dimension);
      }
    });
  }
  fill(c.faces, &centres, c.face_identity, sigma, o.seed + 2, o.threads);
  fill(c.queries, &centres, c.query_identity, sigma, o.seed + 3, o.threads);
  return c;
}

// Mean cosine of up to 2000 random pairs of faces of one identity and of two
// identities (and the spread of the latter): checks what the generator gives.
Json pair_cosines(const Collection& c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> any(0, c.faces.size() - 1);
  double same = 0.0, different = 0.0, different_squares = 0.0;
  std::size_t same_n = 0, different_n = 0;
  for (int t = 0; t < 2000; ++t) {
    const std::size_t a = any(rng);
    // The next face is of the same identity unless a is its identity's last.
    const std::size_t b = a + 1 < c.faces.size() ? a + 1 : a - 1;
    const std::size_t other = any(rng);
    const float ab = dot(c.faces.row(a), c.faces.row(b), c.faces.dimension);
    if (c.face_identity[a] >= 0 && c.face_identity[a] == c.face_identity[b]) {
      same += ab;
      ++same_n;
    }
    if (c.face_identity[a] < 0 || c.face_identity[a] != c.face_identity[other]) {
      const double cosine = dot(c.faces.row(a), c.faces.row(other), c.faces.dimension);
      different += cosine;
      different_squares += cosine * cosine;
      ++different_n;
    }
  }
  Json out;
  const auto mean = [](double sum, std::size_t count) {
    return count ? Json(sum / static_cast<double>(count)) : Json();
  };
  out["same_identity_cosine"] = mean(same, same_n);
  out["different_identity_cosine"] = mean(different, different_n);
  if (different_n > 0) {
    const double m = different / static_cast<double>(different_n);
    const double squares = different_squares / static_cast<double>(different_n);
    out["different_identity_cosine_sd"] = std::sqrt(std::max(0.0, squares - m * m));
  }
  return out;
}

// Exact top-k positions of every query, best first.
std::vector<std::vector<std::size_t>> exact_top_k(const Vectors& faces, const Vectors& queries,
                                                  std::size_t k, std::size_t threads) {
  using Hit = std::pair<float, std::size_t>;  // similarity, face position
  const auto better = [](const Hit& a, const Hit& b) { return a.first > b.first; };
  // Each thread scans its share of the faces in blocks that stay in cache
  // while every query passes over them; its best k per query are merged below.
  const std::size_t part = (faces.size() + threads - 1) / threads;
  std::vector<std::vector<std::vector<Hit>>> partial(threads);
  parallel_ranges(faces.size(), threads, [&](std::size_t begin, std::size_t end) {
    auto& best = partial[begin / part];
    best.assign(queries.size(), {});
    constexpr std::size_t kBlock = 64;
    for (std::size_t block = begin; block < end; block += kBlock) {
      for (std::size_t q = 0; q < queries.size(); ++q) {
        auto& heap = best[q];  // a min-heap on similarity under `better`
        for (std::size_t i = block; i < std::min(end, block + kBlock); ++i) {
          const float s = dot(queries.row(q), faces.row(i), faces.dimension);
          if (heap.size() < k) {
            heap.emplace_back(s, i);
            std::push_heap(heap.begin(), heap.end(), better);
          } else if (s > heap.front().first) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.back() = {s, i};
            std::push_heap(heap.begin(), heap.end(), better);
          }
        }
      }
    }
  });
  std::vector<std::vector<std::size_t>> top(queries.size());
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::vector<Hit> all;
    for (const auto& thread_best : partial) {
      if (!thread_best.empty()) all.insert(all.end(), thread_best[q].begin(), thread_best[q].end());
    }
    std::sort(all.begin(), all.end(), better);
    for (std::size_t i = 0; i < std::min(k, all.size()); ++i) top[q].push_back(all[i].second);
  }
  return top;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size()))) - 1;
  return values[std::min(at, values.size() - 1)];
}

std::int64_t id_of(std::size_t position) { return static_cast<std::int64_t>(position) + 1; }

struct RunOptions {
  GenerateOptions generate;
  std::size_t k = 10;
  store::VectorIndexOptions index;
  std::vector<int> ef_search;
  fs::path dir;
};

Json run_size(const RunOptions& o) {
  const std::size_t n = o.generate.faces, threads = o.generate.threads;
  auto start = Clock::now();
  const Collection c = generate(o.generate);
  std::cerr << "N=" << n << ": generated in " << seconds_since(start) << " s\n";
  start = Clock::now();
  const auto truth = exact_top_k(c.faces, c.queries, o.k, threads);
  std::cerr << "N=" << n << ": exact top-" << o.k << " in " << seconds_since(start) << " s\n";

  Json result = {{"faces", n}, {"identities", c.identities}};
  result.update(pair_cosines(c, o.generate.seed + 7));

  std::vector<std::int64_t> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = id_of(i);
  const fs::path file = o.dir / ("search_bench_" + std::to_string(n) + ".hnsw");
  {
    // Freed generator memory goes back to the system first, so that the index
    // cannot hide its growth by reusing it.
    malloc_trim(0);
    const std::uint64_t rss_before = resident_bytes();
    store::VectorIndexOptions options = o.index;
    options.dimension = o.generate.dimension;
    options.max_elements = n;
    start = Clock::now();
    const double cpu0 = cpu_ms(CLOCK_PROCESS_CPUTIME_ID);
    const auto index = store::VectorIndex::create(options);
    index->add_batch(ids, c.faces.values, threads);
    result["build_s"] = seconds_since(start);
    result["build_cpu_s"] = (cpu_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1e3;
    result["memory_bytes_per_face"] =
        (static_cast<double>(resident_bytes()) - static_cast<double>(rss_before)) /
        static_cast<double>(n);
    std::cerr << "N=" << n << ": built in " << result["build_s"] << " s\n";
    start = Clock::now();
    index->save(file);
    result["save_s"] = seconds_since(start);
  }
  fs::path stamp = file;
  stamp += ".stamp";
  result["disk_bytes_per_face"] =
      static_cast<double>(fs::file_size(file) + fs::file_size(stamp)) / static_cast<double>(n);

  Json rows = Json::array();
  for (const int ef : o.ef_search) {
    store::VectorIndexOptions options = o.index;
    options.dimension = o.generate.dimension;
    options.ef_search = ef;
    start = Clock::now();
    const auto index = store::VectorIndex::load(file, options);
    const double load_s = seconds_since(start);
    const auto query = [&](std::size_t q) {
      return std::span<const float>(c.queries.row(q), c.queries.dimension);
    };
    (void)index->search(query(0), o.k);  // warm-up: hnswlib allocates its visited list
    std::vector<double> ms, search_cpu_ms;
    std::size_t hits = 0, same_identity = 0, same_identity_hits = 0;
    for (std::size_t q = 0; q < c.queries.size(); ++q) {
      const auto t0 = Clock::now();
      const double cpu0 = cpu_ms(CLOCK_THREAD_CPUTIME_ID);
      const auto found = index->search(query(q), o.k);
      search_cpu_ms.push_back(cpu_ms(CLOCK_THREAD_CPUTIME_ID) - cpu0);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      for (const std::size_t position : truth[q]) {
        const bool hit = std::any_of(found.begin(), found.end(), [&](const store::Neighbour& f) {
          return f.face_id == id_of(position);
        });
        hits += hit;
        if (c.query_identity[q] >= 0 && c.face_identity[position] == c.query_identity[q]) {
          ++same_identity;
          same_identity_hits += hit;
        }
      }
    }
    Json row = {
        {"ef_search", ef},
        {"load_s", load_s},
        {"median_ms", percentile(ms, 0.5)},
        {"p95_ms", percentile(ms, 0.95)},
        {"cpu_median_ms", percentile(search_cpu_ms, 0.5)},
        {"cpu_p95_ms", percentile(search_cpu_ms, 0.95)},
        {"recall_at_k", static_cast<double>(hits) / static_cast<double>(c.queries.size() * o.k)}};
    // Of the exact top k, the faces of the query's own identity: the ones a
    // user looks for (the rest are near-random strangers).
    row["recall_same_identity"] =
        same_identity
            ? Json(static_cast<double>(same_identity_hits) / static_cast<double>(same_identity))
            : Json();
    std::cerr << "N=" << n << ": " << row.dump() << '\n';
    rows.push_back(row);
  }
  result["searches"] = rows;
  std::error_code ignored;
  fs::remove(file, ignored);
  fs::remove(stamp, ignored);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Search latency, recall@k and size of Likeness' vector index on synthetic faces"};
  const store::VectorIndexOptions defaults;
  RunOptions o;
  o.index = defaults;
  o.generate = {.distribution = "identity",
                .dimension = 832,
                .queries = 1000,
                .min_per_identity = 5,
                .max_per_identity = 20,
                .identity_cosine = 0.685,
                .centre_dimension = 40,
                .seed = 1,
                .threads = 2};
  std::vector<std::size_t> sizes{10'000, 100'000, 1'000'000};
  std::vector<std::size_t> per_identity{o.generate.min_per_identity, o.generate.max_per_identity};
  o.ef_search = {64, 128, 256};
  o.dir = fs::temp_directory_path();
  app.add_option("--sizes", sizes, "Stored faces, one run each")->delimiter(',');
  app.add_option("--dimension", o.generate.dimension, "Floats per vector")->capture_default_str();
  app.add_option("--queries", o.generate.queries, "Queries per run")->capture_default_str();
  app.add_option("--k", o.k, "Neighbours per query")->capture_default_str();
  app.add_option("--threads", o.generate.threads, "Threads to build and for the exact scan")
      ->capture_default_str();
  app.add_option("--seed", o.generate.seed, "Random seed")->capture_default_str();
  app.add_option("--distribution", o.generate.distribution, "identity or uniform")
      ->check(CLI::IsMember({"identity", "uniform"}))
      ->capture_default_str();
  app.add_option("--faces-per-identity", per_identity, "Range of faces per identity: MIN,MAX")
      ->delimiter(',')
      ->expected(2);
  app.add_option("--identity-cosine", o.generate.identity_cosine,
                 "Mean cosine of two faces of one identity, in (0, 1)")
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  app.add_option("--centre-dimension", o.generate.centre_dimension,
                 "Identity centres in a random subspace of this dimension (0: all)")
      ->capture_default_str();
  app.add_option("--ef-search", o.ef_search, "ef_search values, one row each")->delimiter(',');
  app.add_option("--m", o.index.m, "Graph links per node")->capture_default_str();
  app.add_option("--ef-construction", o.index.ef_construction, "Candidate list while inserting")
      ->capture_default_str();
  app.add_option("--dir", o.dir, "Folder for the saved index (removed after each size)");
  CLI11_PARSE(app, argc, argv);
  if (per_identity[0] < 1 || per_identity[0] > per_identity[1] || o.generate.threads < 1 ||
      o.generate.dimension < 1 || o.generate.queries < 1 || o.k < 1) {
    std::cerr << "search_bench: bad options (see --help)\n";
    return 1;
  }
  o.generate.min_per_identity = per_identity[0];
  o.generate.max_per_identity = per_identity[1];

  Json runs = Json::array();
  try {
    for (const std::size_t n : sizes) {
      o.generate.faces = n;
      runs.push_back(run_size(o));
    }
  } catch (const Error& e) {
    std::cerr << "search_bench: " << e.what() << '\n';
    return 1;
  }
  Json out = {{"distribution", o.generate.distribution},
              {"dimension", o.generate.dimension},
              {"queries", o.generate.queries},
              {"k", o.k},
              {"threads", o.generate.threads},
              {"m", o.index.m},
              {"ef_construction", o.index.ef_construction},
              {"seed", o.generate.seed},
              {"runs", runs}};
  if (o.generate.distribution == "identity") {
    out["faces_per_identity"] = per_identity;
    out["identity_cosine"] = o.generate.identity_cosine;
    out["centre_dimension"] = o.generate.centre_dimension;
  }
  std::cout << out.dump(2) << '\n';
  return 0;
}
