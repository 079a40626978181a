// Grouping a library's faces into people, and attaching newly indexed faces to
// the people already found.
//
//   auto graph = likeness::library::build_similarity_graph(faces, *recognizer);
//   likeness::library::ClusterConstraints rules{.photo_of_face = photos,
//                                               .pinned_person = confirmed,
//                                               .rejections = rejected};
//   likeness::library::Clustering people = cluster_faces(graph, rules);
//   people.cluster_of_face[i];           // kUnclustered or 0 .. cluster_count() - 1
//   people.person_of_cluster[c];         // the confirmed person it holds, or kNoPerson
//   // later, for faces indexed since:
//   auto joined = assign_new_faces(faces, person_of_face, new_faces, rules, *recognizer);
//
// Two steps, so that the expensive one is done once: the similarity graph
// (candidate neighbours by the fused vectors, each candidate pair scored by
// the calibrated ensemble, match/recognizer.h) and the clustering of that
// graph under the rules:
//  - low-quality faces (FaceDescription::searchable false) and faces without a
//    fused vector are left out: they pollute clusters and cannot be searched;
//  - two faces of one photo are never one person (cannot-link);
//  - faces the user confirmed for a person ("pinned") stay together, and faces
//    pinned to different people never meet;
//  - a face the user rejected for a person never joins a face pinned to them.
// Which algorithm and threshold are the default was measured on five_celeb
// and LFW (bench/cluster_bench.cpp, docs/benchmarks.md "Clustering").
//
// Everything is deterministic: the same input gives the same output (ties are
// broken by face index; the one randomised method uses a fixed seed).
//
// Errors: misuse (sizes that do not match, an index out of range, fused
// vectors of different lengths, a bad option) is UsageError. Nothing else
// throws except what the scorer throws.
// Thread-safety: every function is pure and may be called concurrently; the
// scorer (or Recognizer::compare) is called from GraphOptions::threads threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "likeness/match/recognizer.h"

namespace likeness::library {

// Clustering::cluster_of_face of a face in no cluster.
inline constexpr int kUnclustered = -1;
// "No person": a face that is not pinned, a cluster without a confirmed face.
inline constexpr std::int64_t kNoPerson = -1;

// P(same person) of two faces in [0, 1], or nullopt when they cannot be
// compared (no recognition model described both). Must be symmetric and may
// be called from several threads at once. The Recognizer overloads use
// Recognizer::compare() (Comparison::probability when decided).
using PairScorer = std::function<std::optional<double>(const match::FaceDescription&,
                                                       const match::FaceDescription&)>;

struct GraphOptions {
  // Candidate neighbours per face, by the inner product of the fused vectors
  // (which approximates the ensemble's ranking); every candidate pair is then
  // scored. Measured on LFW (docs/benchmarks.md "Clustering"): 10 loses
  // recall (a person's photos split), 50 adds doubtful edges; 30 is best.
  std::size_t neighbours = 30;
  // Up to this many faces the neighbours are found exactly (every pair of
  // fused vectors: n^2 * d multiply-adds, ~1 s for 2,000 faces of 832 floats
  // on one core); above, by an HNSW index (store::VectorIndex: ~n log n). On
  // LFW's 5,929 faces both gave the same clusters; the index was faster.
  std::size_t exact_up_to = 2000;
  // Threads for the neighbour search and the scoring (>= 1).
  int threads = 1;
};

// One scored candidate pair.
struct GraphEdge {
  std::uint32_t a = 0, b = 0;  // face indexes, a < b
  float probability = 0.0f;    // P(same person) by the scorer
};

// Faces and scored candidate pairs. Cost of building it for n faces with k
// neighbours: the neighbour search (see GraphOptions::exact_up_to; the HNSW
// index is filled on one thread) plus up to n * k scorer calls
// (Recognizer::compare: ~10 us each on a busy 2-core machine) and up to
// n * k edges of 12 bytes. Measured with 100,000 synthetic faces of 832
// floats, k = 30, a dot product as scorer: ~10 CPU-minutes, nearly all of it
// filling the index; 1.7M edges (~20 MB; with compare() add ~20 s); the
// clustering then takes ~1 s (Chinese whispers, single linkage) to ~15 s
// (average linkage).
struct SimilarityGraph {
  std::size_t face_count = 0;
  // Per face: took part (searchable, with a fused vector). Faces left out
  // have no edges.
  std::vector<bool> in_graph;
  // Each candidate pair once, sorted by (a, b). Pairs the scorer could not
  // decide are absent.
  std::vector<GraphEdge> edges;
};

// The graph of `faces` (one entry per face of the library, in any order; the
// indexes are the graph's face indexes), scored by `scorer`. UsageError when
// fused vectors of the faces that take part differ in length, more than
// 2^32 - 2 faces, or options.neighbours or options.threads is 0.
SimilarityGraph build_similarity_graph(std::span<const match::FaceDescription> faces,
                                       const PairScorer& scorer, const GraphOptions& options = {});
// Scored by recognizer.compare().
SimilarityGraph build_similarity_graph(std::span<const match::FaceDescription> faces,
                                       const match::Recognizer& recognizer,
                                       const GraphOptions& options = {});

// The user's word about a face: it is NOT `person`.
struct Rejection {
  std::size_t face = 0;
  std::int64_t person = kNoPerson;
};

// What the clustering must respect. Face indexes are the graph's.
struct ClusterConstraints {
  // The photo of each face (one per face, required): faces of one photo are
  // never in one cluster (except as pinned below: the user's word wins).
  std::vector<std::int64_t> photo_of_face;
  // The person each face is confirmed as (kNoPerson when not confirmed), one
  // per face; empty = none. Faces pinned to one person form one cluster,
  // whatever their quality or similarity; faces pinned to different people
  // are never together.
  std::vector<std::int64_t> pinned_person;
  // A rejected face is never in a cluster that holds a face pinned to that
  // person. A person with no pinned face has no identity across clusterings
  // (its faces are re-grouped freely), so such a rejection binds nothing here.
  std::vector<Rejection> rejections;
};

// The three measured on five_celeb and LFW (docs/benchmarks.md "Clustering").
enum class ClusterMethod {
  // Chinese whispers on the edges above the threshold, each weighted by its
  // log-odds above the threshold's: each face in turn takes the label of the
  // greatest total weight among its neighbours that the rules allow (staying
  // on a tie); passes in a seeded order until nothing changes. The default:
  // best on both datasets.
  kChineseWhispers,
  // Agglomerative: merges the two clusters of highest mean probability over
  // the graph's edges between them while it is above the threshold; a pair
  // needs about 3 edges per face of the smaller cluster (fewer count as
  // missing pairs of probability 0), so one look-alike edge cannot pull a
  // face into a large cluster. Splits people whose photos vary (a mean over
  // all pairs includes the hard ones).
  kAverageLinkage,
  // Edges above the threshold, best first, join their clusters unless the
  // rules forbid it (connected components with cannot-link; the baseline).
  // Chains different people together through single look-alike pairs.
  kSingleLinkage,
};

struct ClusterOptions {
  ClusterMethod method = ClusterMethod::kChineseWhispers;
  // Probability above which an edge joins faces. Stricter than the
  // calibration's 0.736 (a pair's decision at FAR 1e-3): clustering n faces
  // makes ~n * neighbours decisions, and on LFW 0.9 lifts pairwise
  // precision from 0.960 to 0.983 at the same recall, while five_celeb
  // keeps 1.000 over the clustered faces (2 more faces left out).
  double threshold = 0.9;
  // Clusters with fewer faces are not reported (their faces get kUnclustered
  // and stay candidates for assign_new_faces and the next clustering); a
  // cluster holding a pinned face is always reported. >= 1.
  std::size_t min_cluster_size = 2;
  // kChineseWhispers only: most passes, and the seed of the visiting order.
  int max_iterations = 50;
  std::uint64_t seed = 1;
};

struct Clustering {
  // Per face: kUnclustered or the cluster's number, 0 .. cluster_count() - 1,
  // numbered in the order of each cluster's lowest face index.
  std::vector<int> cluster_of_face;
  // Per cluster: the person its pinned faces are confirmed as, or kNoPerson.
  std::vector<std::int64_t> person_of_cluster;
  int cluster_count() const { return static_cast<int>(person_of_cluster.size()); }
};

// Groups the graph's faces into people under `constraints`. Faces not in the
// graph get kUnclustered unless pinned (then their person's cluster). Cost:
// O(edges log edges) for the linkages; kChineseWhispers O(iterations * edges).
// UsageError when photo_of_face's size is not graph.face_count, pinned_person
// is neither empty nor that size, a rejection names a face out of range or
// rejects the person it is pinned to, the threshold is outside [0, 1], or
// min_cluster_size / max_iterations is 0.
Clustering cluster_faces(const SimilarityGraph& graph, const ClusterConstraints& constraints,
                         const ClusterOptions& options = {});

struct AssignOptions {
  // A face joins a person when its score for them is above this probability
  // (as ClusterOptions::threshold; on LFW 0.5 .. 0.99 attach within 2% as
  // many faces, all ~99.5% right).
  double threshold = 0.9;
  // ... and at least this much above its score for any other person, so that
  // a face between two people waits for the next clustering. Scores of one
  // person's faces sit near 1, so a person split in two clusters also makes
  // a face wait: on LFW margin 0 attaches 98% of late faces (6 wrong of
  // 1,178), 0.02 94% (5 wrong), 0.1 73% (3 wrong).
  double margin = 0.02;
  // The person's score is the mean probability against their (up to) this
  // many faces most similar by the fused vector, so that one look-alike
  // photo does not decide.
  std::size_t faces_per_person = 5;
  // Faces of known people searched per new face (by fused vector, exactly);
  // only people among them are scored.
  std::size_t candidates = 50;
};

struct Assignment {
  std::size_t face = 0;
  std::int64_t person = kNoPerson;
  double score = 0.0;  // the mean probability that decided (see AssignOptions)
};

// Attaches faces to existing people when confident; changes nothing else.
// `faces`: every face of the library; `person_of_face`: the person each face
// belongs to now, kNoPerson when none (one per face); `new_faces`: the faces
// to place (each with kNoPerson; those not searchable or without a fused
// vector are skipped). Rules: a face never joins a person who already has a
// face of its photo (also one attached earlier in this call: the more
// confident face wins), nor a person it was rejected from
// (constraints.rejections; constraints.photo_of_face is required,
// constraints.pinned_person is not used: person_of_face says who is who).
// Returns the faces attached, most confident first; the others are left for
// the next clustering. Cost: |new_faces| * (faces with a person) * d
// multiply-adds plus up to |new_faces| * candidates scorer calls.
// UsageError when sizes do not match, an index is out of range, a new face
// already has a person, or an option is out of range.
std::vector<Assignment> assign_new_faces(std::span<const match::FaceDescription> faces,
                                         std::span<const std::int64_t> person_of_face,
                                         std::span<const std::size_t> new_faces,
                                         const ClusterConstraints& constraints,
                                         const PairScorer& scorer,
                                         const AssignOptions& options = {});
// Scored by recognizer.compare().
std::vector<Assignment> assign_new_faces(std::span<const match::FaceDescription> faces,
                                         std::span<const std::int64_t> person_of_face,
                                         std::span<const std::size_t> new_faces,
                                         const ClusterConstraints& constraints,
                                         const match::Recognizer& recognizer,
                                         const AssignOptions& options = {});

}  // namespace likeness::library
