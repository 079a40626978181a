#include "likeness/library/clustering.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "likeness/core/error.h"
#include "likeness/store/vector_index.h"

namespace likeness::library {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
// Probabilities are clamped to [this, 1 - this] before taking log-odds: a
// float probability of exactly 1 (log-odds beyond ~17) would be infinite.
constexpr double kMinProbability = 1e-7;

// fn(0) .. fn(count - 1) on `threads` threads; the first exception stops the
// others and is rethrown here (the scorer may throw).
template <typename Fn>
void parallel_for(std::size_t count, int threads, Fn fn) {
  if (threads <= 1 || count < 2) {
    for (std::size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex lock;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      try {
        for (std::size_t i; (i = next++) < count;) fn(i);
      } catch (...) {
        const std::lock_guard guard(lock);
        if (!failure) failure = std::current_exception();
        next = count;
      }
    });
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

bool usable(const match::FaceDescription& face) { return face.searchable && !face.fused.empty(); }

// Fused vectors, one row each, stored contiguously.
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<float> data;
  const float* row(std::size_t r) const { return data.data() + r * cols; }
};

// The fused vectors of `faces[rows]`; UsageError when lengths differ.
Matrix fused_matrix(std::span<const match::FaceDescription> faces,
                    const std::vector<std::size_t>& rows, std::size_t dimension) {
  Matrix m{rows.size(), dimension, {}};
  m.data.reserve(rows.size() * dimension);
  for (const auto r : rows) {
    const auto& v = faces[r].fused;
    if (v.size() != dimension) {
      throw UsageError("fused vectors differ in length: face " + std::to_string(r) + " has " +
                       std::to_string(v.size()) + ", others " + std::to_string(dimension));
    }
    m.data.insert(m.data.end(), v.begin(), v.end());
  }
  return m;
}

// Eight partial sums: the compiler vectorises them without -ffast-math.
float inner_product(const float* a, const float* b, std::size_t n) {
  std::array<float, 8> partial{};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t l = 0; l < 8; ++l) partial[l] += a[i + l] * b[i + l];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (const float p : partial) sum += p;
  return sum;
}

// For each row of `queries`, the (up to) k rows of `base` of highest inner
// product, best first, ties by lower row; exclude[q] is a base row never
// returned for query q (itself), or kNone; empty = none.
std::vector<std::vector<std::uint32_t>> exact_top_k(const Matrix& queries, const Matrix& base,
                                                    std::size_t k,
                                                    const std::vector<std::size_t>& exclude,
                                                    int threads) {
  std::vector<std::vector<std::uint32_t>> out(queries.rows);
  parallel_for(queries.rows, threads, [&](std::size_t q) {
    std::vector<float> similarity(base.rows);
    for (std::size_t b = 0; b < base.rows; ++b) {
      similarity[b] = inner_product(queries.row(q), base.row(b), base.cols);
    }
    const auto self = exclude.empty() ? kNone : exclude[q];
    std::vector<std::uint32_t> order;
    order.reserve(base.rows);
    for (std::size_t b = 0; b < base.rows; ++b) {
      if (b != self) order.push_back(static_cast<std::uint32_t>(b));
    }
    const auto better = [&similarity](std::uint32_t x, std::uint32_t y) {
      return similarity[x] != similarity[y] ? similarity[x] > similarity[y] : x < y;
    };
    const auto keep = static_cast<std::ptrdiff_t>(std::min(k, order.size()));
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), better);
    out[q].assign(order.begin(), order.begin() + keep);
  });
  return out;
}

// Same answer shape from an HNSW index (approximate; for large sets).
std::vector<std::vector<std::uint32_t>> approximate_top_k(const Matrix& vectors, std::size_t k,
                                                          int threads) {
  const auto index =
      store::VectorIndex::create({.dimension = vectors.cols, .max_elements = vectors.rows});
  // Inserted one by one in row order: hnswlib's levels come from its fixed
  // seed, so the same input builds the same graph.
  for (std::size_t r = 0; r < vectors.rows; ++r) {
    index->add(static_cast<std::int64_t>(r), {vectors.row(r), vectors.cols});
  }
  std::vector<std::vector<std::uint32_t>> out(vectors.rows);
  parallel_for(vectors.rows, threads, [&](std::size_t r) {
    for (const auto& found : index->search({vectors.row(r), vectors.cols}, k + 1)) {
      if (static_cast<std::size_t>(found.face_id) != r && out[r].size() < k) {
        out[r].push_back(static_cast<std::uint32_t>(found.face_id));
      }
    }
  });
  return out;
}

PairScorer recognizer_scorer(const match::Recognizer& recognizer) {
  return [&recognizer](const match::FaceDescription& a,
                       const match::FaceDescription& b) -> std::optional<double> {
    const match::Comparison c = recognizer.compare(a, b);
    if (!c.decided) return std::nullopt;
    return c.probability;
  };
}

// --- The rules, checked on groups of faces ---

struct Rules {
  std::vector<std::int64_t> photo;
  std::vector<std::int64_t> pinned;                 // per face, kNoPerson when not pinned
  std::vector<std::vector<std::int64_t>> rejected;  // per face, sorted persons

  bool rejects(std::size_t face, std::int64_t person) const {
    return person != kNoPerson &&
           std::binary_search(rejected[face].begin(), rejected[face].end(), person);
  }
};

Rules make_rules(std::size_t face_count, const ClusterConstraints& constraints) {
  if (constraints.photo_of_face.size() != face_count) {
    throw UsageError("photo_of_face has " + std::to_string(constraints.photo_of_face.size()) +
                     " entries for " + std::to_string(face_count) + " faces");
  }
  if (!constraints.pinned_person.empty() && constraints.pinned_person.size() != face_count) {
    throw UsageError("pinned_person has " + std::to_string(constraints.pinned_person.size()) +
                     " entries for " + std::to_string(face_count) +
                     " faces (give one per face, or none)");
  }
  Rules rules;
  rules.photo = constraints.photo_of_face;
  rules.pinned = constraints.pinned_person.empty()
                     ? std::vector<std::int64_t>(face_count, kNoPerson)
                     : constraints.pinned_person;
  rules.rejected.resize(face_count);
  for (const auto& r : constraints.rejections) {
    if (r.face >= face_count) {
      throw UsageError("rejection of face " + std::to_string(r.face) + ", out of range (" +
                       std::to_string(face_count) + " faces)");
    }
    if (r.person != kNoPerson && rules.pinned[r.face] == r.person) {
      throw UsageError("face " + std::to_string(r.face) + " is both pinned to and rejected from " +
                       "person " + std::to_string(r.person));
    }
    rules.rejected[r.face].push_back(r.person);
  }
  for (auto& persons : rules.rejected) {
    std::sort(persons.begin(), persons.end());
    persons.erase(std::unique(persons.begin(), persons.end()), persons.end());
  }
  return rules;
}

// A set of faces that will be one cluster, with what the rules need to know
// about it.
struct Group {
  std::vector<std::uint32_t> members;
  std::size_t in_graph = 0;  // members that have edges to count (the linkage's sizes)
  std::unordered_set<std::int64_t> photos;
  std::int64_t person = kNoPerson;     // of its pinned members (at most one person)
  std::vector<std::int64_t> rejected;  // persons some member was rejected from, sorted
};

bool contains(const std::vector<std::int64_t>& sorted, std::int64_t value) {
  return std::binary_search(sorted.begin(), sorted.end(), value);
}

bool compatible(const Group& a, const Group& b) {
  if (a.person != kNoPerson && b.person != kNoPerson && a.person != b.person) return false;
  if (contains(a.rejected, b.person) || contains(b.rejected, a.person)) return false;
  const auto& small = a.photos.size() <= b.photos.size() ? a.photos : b.photos;
  const auto& large = a.photos.size() <= b.photos.size() ? b.photos : a.photos;
  return std::none_of(small.begin(), small.end(),
                      [&large](std::int64_t p) { return large.count(p) > 0; });
}

void absorb(Group& into, Group& from) {
  into.members.insert(into.members.end(), from.members.begin(), from.members.end());
  into.in_graph += from.in_graph;
  into.photos.insert(from.photos.begin(), from.photos.end());
  if (into.person == kNoPerson) into.person = from.person;
  std::vector<std::int64_t> rejected;
  std::set_union(into.rejected.begin(), into.rejected.end(), from.rejected.begin(),
                 from.rejected.end(), std::back_inserter(rejected));
  into.rejected = std::move(rejected);
  from = Group{};
}

// The starting groups: one per pinned person (all their faces, the user's word
// over every rule), one per other face of the graph. group_of_face is -1 for
// faces in neither.
struct Groups {
  std::vector<Group> groups;
  std::vector<int> group_of_face;
};

Groups initial_groups(const SimilarityGraph& graph, const Rules& rules) {
  Groups g;
  g.group_of_face.assign(graph.face_count, -1);
  std::unordered_map<std::int64_t, int> group_of_person;
  for (std::size_t f = 0; f < graph.face_count; ++f) {
    const std::int64_t person = rules.pinned[f];
    if (person == kNoPerson && !graph.in_graph[f]) continue;
    int id = -1;
    if (person != kNoPerson) {
      const auto [it, inserted] =
          group_of_person.emplace(person, static_cast<int>(g.groups.size()));
      id = it->second;
      if (inserted) g.groups.emplace_back().person = person;
    } else {
      id = static_cast<int>(g.groups.size());
      g.groups.emplace_back();
    }
    Group& group = g.groups[static_cast<std::size_t>(id)];
    group.members.push_back(static_cast<std::uint32_t>(f));
    group.in_graph += graph.in_graph[f] ? 1 : 0;
    group.photos.insert(rules.photo[f]);
    std::vector<std::int64_t> rejected;
    std::set_union(group.rejected.begin(), group.rejected.end(), rules.rejected[f].begin(),
                   rules.rejected[f].end(), std::back_inserter(rejected));
    group.rejected = std::move(rejected);
    g.group_of_face[f] = id;
  }
  return g;
}

// The graph's edges above the threshold.
std::vector<GraphEdge> edges_above(const SimilarityGraph& graph, double threshold) {
  std::vector<GraphEdge> out;
  for (const auto& e : graph.edges) {
    if (e.probability > threshold) out.push_back(e);
  }
  return out;
}

// Per face the label of its group, or -1.
std::vector<int> labels_of(const Groups& g) {
  std::vector<int> label(g.group_of_face.size(), -1);
  for (std::size_t id = 0; id < g.groups.size(); ++id) {
    for (const auto f : g.groups[id].members) label[f] = static_cast<int>(id);
  }
  return label;
}

std::vector<int> single_linkage(const SimilarityGraph& graph, Groups g, double threshold) {
  auto edges = edges_above(graph, threshold);
  std::sort(edges.begin(), edges.end(), [](const GraphEdge& x, const GraphEdge& y) {
    if (x.probability != y.probability) return x.probability > y.probability;
    return x.a != y.a ? x.a < y.a : x.b < y.b;
  });
  std::vector<int> parent(g.groups.size());
  for (std::size_t i = 0; i < parent.size(); ++i) parent[i] = static_cast<int>(i);
  const auto find = [&parent](int x) {
    while (parent[static_cast<std::size_t>(x)] != x) {
      x = parent[static_cast<std::size_t>(x)] =
          parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(x)])];
    }
    return x;
  };
  for (const auto& e : edges) {
    int a = find(g.group_of_face[e.a]);
    int b = find(g.group_of_face[e.b]);
    if (a == b) continue;
    auto& ga = g.groups[static_cast<std::size_t>(a)];
    auto& gb = g.groups[static_cast<std::size_t>(b)];
    if (!compatible(ga, gb)) continue;
    if (ga.members.size() < gb.members.size()) {
      absorb(gb, ga);
      parent[static_cast<std::size_t>(a)] = b;
    } else {
      absorb(ga, gb);
      parent[static_cast<std::size_t>(b)] = a;
    }
  }
  return labels_of(g);
}

struct Link {
  double sum = 0.0;  // of the probabilities of the edges between two groups
  std::size_t count = 0;
};

// Edges per face of the smaller group that the average needs before it is
// believed (fewer count as missing pairs of probability 0).
constexpr double kLinkSupport = 3.0;

double average_linkage_value(const Link& link, const Group& a, const Group& b) {
  const double na = static_cast<double>(a.in_graph), nb = static_cast<double>(b.in_graph);
  const double support = std::min(na, nb) * std::min(std::max(na, nb), kLinkSupport);
  return link.sum / std::max({static_cast<double>(link.count), support, 1.0});
}

std::vector<int> average_linkage(const SimilarityGraph& graph, Groups g, double threshold) {
  const std::size_t n = g.groups.size();
  std::vector<std::unordered_map<int, Link>> links(n);
  for (const auto& e : graph.edges) {
    const int a = g.group_of_face[e.a], b = g.group_of_face[e.b];
    if (a == b) continue;
    for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
      Link& l = links[static_cast<std::size_t>(x)][y];
      l.sum += e.probability;
      ++l.count;
    }
  }
  struct Candidate {
    double value;
    int a, b;  // a < b
    std::uint32_t version_a, version_b;
  };
  // Best value first; ties by lower ids, so the order never depends on hashing.
  const auto worse = [](const Candidate& x, const Candidate& y) {
    if (x.value != y.value) return x.value < y.value;
    return x.a != y.a ? x.a > y.a : x.b > y.b;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(worse);
  std::vector<std::uint32_t> version(n, 0);
  const auto push = [&](int a, int b, const Link& link) {
    const double value = average_linkage_value(link, g.groups[static_cast<std::size_t>(a)],
                                               g.groups[static_cast<std::size_t>(b)]);
    if (value <= threshold) return;
    if (a > b) std::swap(a, b);
    queue.push(
        {value, a, b, version[static_cast<std::size_t>(a)], version[static_cast<std::size_t>(b)]});
  };
  for (std::size_t a = 0; a < n; ++a) {
    for (const auto& [b, link] : links[a]) {
      if (static_cast<int>(a) < b) push(static_cast<int>(a), b, link);
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const auto ua = static_cast<std::size_t>(top.a), ub = static_cast<std::size_t>(top.b);
    if (version[ua] != top.version_a || version[ub] != top.version_b) continue;  // stale
    if (!compatible(g.groups[ua], g.groups[ub])) {
      // Groups only grow, so they stay incompatible: forget the link.
      links[ua].erase(top.b);
      links[ub].erase(top.a);
      continue;
    }
    // The group with more links absorbs the other (cheaper to merge).
    int into = top.a, from = top.b;
    if (links[ua].size() < links[ub].size()) std::swap(into, from);
    const auto ui = static_cast<std::size_t>(into), uf = static_cast<std::size_t>(from);
    for (const auto& [c, link] : links[uf]) {
      if (c == into) continue;
      Link& mine = links[ui][c];
      mine.sum += link.sum;
      mine.count += link.count;
      auto& theirs = links[static_cast<std::size_t>(c)];
      theirs.erase(from);
      theirs[into] = mine;
    }
    links[ui].erase(from);
    links[uf].clear();
    absorb(g.groups[ui], g.groups[uf]);
    ++version[ui];
    ++version[uf];
    for (const auto& [c, link] : links[ui]) push(into, c, link);
  }
  return labels_of(g);
}

// Fisher-Yates with the engine's raw output: the same order on every standard
// library (std::shuffle's is implementation-defined).
void shuffle(std::vector<std::uint32_t>& items, std::mt19937_64& engine) {
  for (std::size_t i = items.size(); i > 1; --i) {
    std::swap(items[i - 1], items[static_cast<std::size_t>(engine() % i)]);
  }
}

std::vector<int> chinese_whispers(const SimilarityGraph& graph, const Groups& g, const Rules& rules,
                                  double threshold, const ClusterOptions& options) {
  const std::size_t n = graph.face_count;
  // Adjacency of the edges above the threshold (compressed rows).
  const auto edges = edges_above(graph, threshold);
  std::vector<std::size_t> start(n + 1, 0);
  for (const auto& e : edges) {
    ++start[e.a + 1];
    ++start[e.b + 1];
  }
  for (std::size_t i = 0; i < n; ++i) start[i + 1] += start[i];
  std::vector<std::pair<std::uint32_t, float>> adjacent(start[n]);
  {
    auto fill = start;
    // Weight = the edge's log-odds above the threshold's: an edge barely over
    // the line counts little, so a few doubtful edges cannot outvote a
    // face's confident ones (with the probability as weight, LFW's pairwise
    // precision at the calibration's threshold was 0.67 instead of 0.96).
    const auto log_odds = [](double p) {
      p = std::clamp(p, kMinProbability, 1.0 - kMinProbability);
      return std::log(p / (1.0 - p));
    };
    const double floor = log_odds(threshold);
    for (const auto& e : edges) {
      const auto weight = static_cast<float>(log_odds(e.probability) - floor);
      adjacent[fill[e.a]++] = {e.b, weight};
      adjacent[fill[e.b]++] = {e.a, weight};
    }
  }
  // A starting group's label is its lowest face; pinned faces never move, so
  // a person's label stays theirs.
  std::vector<int> label(n, -1);
  std::vector<std::int64_t> person_of_label(n, kNoPerson);
  for (const auto& group : g.groups) {
    const auto first = *std::min_element(group.members.begin(), group.members.end());
    for (const auto f : group.members) label[f] = static_cast<int>(first);
    person_of_label[first] = group.person;
  }
  struct LabelPhoto {
    int label;
    std::int64_t photo;
    bool operator==(const LabelPhoto&) const = default;
  };
  struct Hash {
    std::size_t operator()(const LabelPhoto& k) const {
      return std::hash<std::uint64_t>()(static_cast<std::uint64_t>(k.photo) * 1000003u +
                                        static_cast<std::uint32_t>(k.label));
    }
  };
  std::unordered_map<LabelPhoto, int, Hash> photo_count;
  std::vector<std::uint32_t> movable;
  for (std::size_t f = 0; f < n; ++f) {
    if (label[f] < 0) continue;
    ++photo_count[{label[f], rules.photo[f]}];
    if (rules.pinned[f] == kNoPerson && start[f + 1] > start[f]) {
      movable.push_back(static_cast<std::uint32_t>(f));
    }
  }
  std::mt19937_64 engine(options.seed);
  std::vector<std::pair<int, double>> votes;
  for (int pass = 0; pass < options.max_iterations; ++pass) {
    shuffle(movable, engine);
    bool changed = false;
    for (const auto f : movable) {
      votes.clear();
      for (std::size_t i = start[f]; i < start[f + 1]; ++i) {
        votes.emplace_back(label[adjacent[i].first], adjacent[i].second);
      }
      std::sort(votes.begin(), votes.end());
      int best = label[f];
      double best_weight = -1.0, current_weight = 0.0;
      for (std::size_t i = 0; i < votes.size();) {
        const int candidate = votes[i].first;
        double weight = 0.0;
        for (; i < votes.size() && votes[i].first == candidate; ++i) weight += votes[i].second;
        if (candidate == label[f]) current_weight = weight;
        if (weight <= best_weight) continue;  // ties: the lower label (seen first) wins
        const bool allowed =
            candidate == label[f] ||
            (photo_count.count({candidate, rules.photo[f]}) == 0 &&
             !rules.rejects(f, person_of_label[static_cast<std::size_t>(candidate)]));
        if (allowed) {
          best = candidate;
          best_weight = weight;
        }
      }
      // A face stays where it is on a tie, so that passes settle.
      if (best == label[f] || best_weight <= current_weight) continue;
      const auto old = photo_count.find({label[f], rules.photo[f]});
      if (--old->second == 0) photo_count.erase(old);
      ++photo_count[{best, rules.photo[f]}];
      label[f] = best;
      changed = true;
    }
    if (!changed) break;
  }
  return label;
}

// Clusters from raw labels: the small ones dropped (unless pinned), numbered
// by their lowest face.
Clustering number_clusters(const std::vector<int>& raw, const Rules& rules,
                           std::size_t min_cluster_size) {
  std::unordered_map<int, std::size_t> size;
  std::unordered_map<int, std::int64_t> person;
  for (std::size_t f = 0; f < raw.size(); ++f) {
    if (raw[f] < 0) continue;
    ++size[raw[f]];
    if (rules.pinned[f] != kNoPerson) person[raw[f]] = rules.pinned[f];
  }
  Clustering out;
  out.cluster_of_face.assign(raw.size(), kUnclustered);
  std::unordered_map<int, int> number;
  for (std::size_t f = 0; f < raw.size(); ++f) {
    if (raw[f] < 0) continue;
    const auto p = person.find(raw[f]);
    if (size[raw[f]] < min_cluster_size && p == person.end()) continue;
    const auto [it, inserted] = number.emplace(raw[f], out.cluster_count());
    if (inserted) out.person_of_cluster.push_back(p == person.end() ? kNoPerson : p->second);
    out.cluster_of_face[f] = it->second;
  }
  return out;
}

}  // namespace

SimilarityGraph build_similarity_graph(std::span<const match::FaceDescription> faces,
                                       const PairScorer& scorer, const GraphOptions& options) {
  if (options.neighbours == 0) throw UsageError("GraphOptions::neighbours must be at least 1");
  if (options.threads < 1) throw UsageError("GraphOptions::threads must be at least 1");
  if (faces.size() >= std::numeric_limits<std::uint32_t>::max()) {
    throw UsageError("too many faces for one similarity graph: " + std::to_string(faces.size()));
  }
  SimilarityGraph graph;
  graph.face_count = faces.size();
  graph.in_graph.assign(faces.size(), false);
  std::vector<std::size_t> rows;  // graph face of each matrix row
  for (std::size_t f = 0; f < faces.size(); ++f) {
    if (usable(faces[f])) {
      rows.push_back(f);
      graph.in_graph[f] = true;
    }
  }
  if (rows.size() < 2) return graph;
  const Matrix vectors = fused_matrix(faces, rows, faces[rows.front()].fused.size());
  std::vector<std::size_t> self(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) self[r] = r;
  const auto nearest =
      rows.size() <= options.exact_up_to
          ? exact_top_k(vectors, vectors, options.neighbours, self, options.threads)
          : approximate_top_k(vectors, options.neighbours, options.threads);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (const auto other : nearest[r]) {
      const auto a = static_cast<std::uint32_t>(rows[r]),
                 b = static_cast<std::uint32_t>(rows[other]);
      pairs.emplace_back(std::min(a, b), std::max(a, b));
    }
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  std::vector<std::optional<double>> scores(pairs.size());
  parallel_for(pairs.size(), options.threads, [&](std::size_t i) {
    scores[i] = scorer(faces[pairs[i].first], faces[pairs[i].second]);
  });
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (scores[i]) {
      graph.edges.push_back({pairs[i].first, pairs[i].second, static_cast<float>(*scores[i])});
    }
  }
  return graph;
}

SimilarityGraph build_similarity_graph(std::span<const match::FaceDescription> faces,
                                       const match::Recognizer& recognizer,
                                       const GraphOptions& options) {
  return build_similarity_graph(faces, recognizer_scorer(recognizer), options);
}

Clustering cluster_faces(const SimilarityGraph& graph, const ClusterConstraints& constraints,
                         const ClusterOptions& options) {
  const double threshold = options.threshold;
  if (!(threshold >= 0.0 && threshold <= 1.0)) {
    throw UsageError("cluster threshold must be in [0, 1], got " + std::to_string(threshold));
  }
  if (options.min_cluster_size == 0) throw UsageError("min_cluster_size must be at least 1");
  if (options.max_iterations < 1) throw UsageError("max_iterations must be at least 1");
  if (graph.in_graph.size() != graph.face_count) {
    throw UsageError("similarity graph: in_graph does not have one entry per face");
  }
  const Rules rules = make_rules(graph.face_count, constraints);
  Groups groups = initial_groups(graph, rules);
  std::vector<int> raw;
  switch (options.method) {
    case ClusterMethod::kAverageLinkage:
      raw = average_linkage(graph, std::move(groups), threshold);
      break;
    case ClusterMethod::kChineseWhispers:
      raw = chinese_whispers(graph, groups, rules, threshold, options);
      break;
    case ClusterMethod::kSingleLinkage:
      raw = single_linkage(graph, std::move(groups), threshold);
      break;
  }
  return number_clusters(raw, rules, options.min_cluster_size);
}

std::vector<Assignment> assign_new_faces(std::span<const match::FaceDescription> faces,
                                         std::span<const std::int64_t> person_of_face,
                                         std::span<const std::size_t> new_faces,
                                         const ClusterConstraints& constraints,
                                         const PairScorer& scorer, const AssignOptions& options) {
  const double accept = options.threshold;
  if (!(accept >= 0.0 && accept <= 1.0)) {
    throw UsageError("assignment threshold must be in [0, 1], got " + std::to_string(accept));
  }
  if (!(options.margin >= 0.0 && options.margin <= 1.0)) {
    throw UsageError("AssignOptions::margin must be in [0, 1]");
  }
  if (options.faces_per_person == 0 || options.candidates == 0) {
    throw UsageError("AssignOptions::faces_per_person and candidates must be at least 1");
  }
  if (person_of_face.size() != faces.size()) {
    throw UsageError("person_of_face has " + std::to_string(person_of_face.size()) +
                     " entries for " + std::to_string(faces.size()) + " faces");
  }
  const Rules rules =
      make_rules(faces.size(), {constraints.photo_of_face, {}, constraints.rejections});
  std::vector<bool> listed(faces.size(), false);
  for (const auto f : new_faces) {
    if (f >= faces.size()) {
      throw UsageError("new face " + std::to_string(f) + " out of range (" +
                       std::to_string(faces.size()) + " faces)");
    }
    if (person_of_face[f] != kNoPerson) {
      throw UsageError("new face " + std::to_string(f) + " already belongs to person " +
                       std::to_string(person_of_face[f]));
    }
    if (listed[f]) throw UsageError("new face " + std::to_string(f) + " listed twice");
    listed[f] = true;
  }

  // Every face of a person counts for the photo rule; only the searchable
  // ones are compared (a poor face is weak evidence either way).
  std::unordered_map<std::int64_t, std::unordered_set<std::int64_t>> photos_of_person;
  std::vector<std::size_t> known;
  for (std::size_t f = 0; f < faces.size(); ++f) {
    if (person_of_face[f] == kNoPerson) continue;
    photos_of_person[person_of_face[f]].insert(rules.photo[f]);
    if (usable(faces[f])) known.push_back(f);
  }
  std::vector<std::size_t> queries;
  for (const auto f : new_faces) {
    if (usable(faces[f])) queries.push_back(f);
  }
  if (known.empty() || queries.empty()) return {};
  const std::size_t dimension = faces[known.front()].fused.size();
  const auto nearest =
      exact_top_k(fused_matrix(faces, queries, dimension), fused_matrix(faces, known, dimension),
                  options.candidates, {}, 1);

  std::vector<Assignment> proposals;
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const std::size_t face = queries[q];
    // People in order of their most similar face; each with their closest faces.
    std::vector<std::int64_t> people;
    std::unordered_map<std::int64_t, std::vector<std::size_t>> closest;
    for (const auto row : nearest[q]) {
      const std::size_t other = known[row];
      const std::int64_t person = person_of_face[other];
      if (rules.rejects(face, person) || photos_of_person[person].count(rules.photo[face])) {
        continue;  // a person this face can never join is no competitor either
      }
      auto& list = closest[person];
      if (list.empty()) people.push_back(person);
      if (list.size() < options.faces_per_person) list.push_back(other);
    }
    Assignment best{.face = face};
    double second = 0.0;
    for (const auto person : people) {
      double sum = 0.0;
      int decided = 0;
      for (const auto other : closest[person]) {
        if (const auto p = scorer(faces[face], faces[other])) {
          sum += *p;
          ++decided;
        }
      }
      if (decided == 0) continue;
      const double score = sum / decided;
      if (best.person == kNoPerson || score > best.score) {
        if (best.person != kNoPerson) second = best.score;
        best.person = person;
        best.score = score;
      } else {
        second = std::max(second, score);
      }
    }
    if (best.person != kNoPerson && best.score > accept && best.score - second >= options.margin) {
      proposals.push_back(best);
    }
  }
  std::sort(proposals.begin(), proposals.end(), [](const Assignment& x, const Assignment& y) {
    return x.score != y.score ? x.score > y.score : x.face < y.face;
  });
  std::vector<Assignment> out;
  for (const auto& a : proposals) {
    if (photos_of_person[a.person].insert(rules.photo[a.face]).second) out.push_back(a);
  }
  return out;
}

std::vector<Assignment> assign_new_faces(std::span<const match::FaceDescription> faces,
                                         std::span<const std::int64_t> person_of_face,
                                         std::span<const std::size_t> new_faces,
                                         const ClusterConstraints& constraints,
                                         const match::Recognizer& recognizer,
                                         const AssignOptions& options) {
  return assign_new_faces(faces, person_of_face, new_faces, constraints,
                          recognizer_scorer(recognizer), options);
}

}  // namespace likeness::library
