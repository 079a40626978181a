// An approximate-nearest-neighbour index over the fused face vectors
// (match/ensemble.h), kept in the library folder beside the catalog.
//
//   auto index = likeness::store::VectorIndex::create({.dimension = 512});
//   index->add(face_id, fused);                 // unit-length vectors
//   auto best = index->search(query, 10);       // best first
//   index->save(library_dir / "faces.hnsw");    // + faces.hnsw.stamp
//
// Similarity is the inner product of the stored and the query vector, so for
// unit-length vectors it is the cosine similarity, in [-1, 1], higher = closer.
// Results are approximate: a close vector can be missed. With the default
// options, on synthetic sets shaped like the fused vectors of real faces,
// recall@10 is 0.999 from 10k to 1M faces, with a query taking 2-3 ms at 1M;
// on vectors without identities (uniformly random) it is lower (see
// docs/benchmarks.md, "Search scale").
//
// The index is a cache of the catalog: it can always be rebuilt from the
// catalog's fused vectors. stamp() / stamp_of() let the library tell whether
// a loaded index still holds exactly the catalog's faces.
//
// Errors: a vector of the wrong dimension is UsageError. A file that cannot
// be written, or cannot be read, is corrupt, truncated, out of step with its
// stamp or of another dimension, is StoreError (rebuild the index).
//
// Thread-safety: const members (search, size, contains, stamp, save) may run
// concurrently with each other; add, add_batch and remove need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/store/catalog.h"

namespace likeness::store {

struct VectorIndexOptions {
  std::size_t dimension = 0;  // floats per vector; must be > 0
  // Capacity allocated up front; the index doubles it when full.
  std::size_t max_elements = 10000;
  // Chosen with bench/search_bench (docs/benchmarks.md, "Search scale"): at
  // 1M faces of 832 floats, recall@10 0.9993 and a p95 of 2.6 ms per query.
  // ef_search 64 would give 0.998 in 1.5 ms; 128 keeps a margin for harder
  // collections than the synthetic one. ef_construction 100 builds twice as
  // fast but lowers recall (0.998 at 100k); inserting at 200 costs ~2.4 ms of
  // CPU per face at 1M, a tenth of describing the face.
  int m = 16;                 // graph links per node (memory vs recall)
  int ef_construction = 200;  // candidate list while inserting (build time vs recall)
  int ef_search = 128;        // candidate list while searching (raised to k when smaller)
};

struct Neighbour {
  std::int64_t face_id = 0;
  float similarity = 0.0f;  // inner product, higher = closer
};

// What an index holds, to compare with the catalog. id_hash does not depend
// on the order of the ids.
struct IndexStamp {
  std::size_t dimension = 0;
  std::size_t count = 0;  // live ids
  std::uint64_t id_hash = 0;
  bool operator==(const IndexStamp&) const = default;
};

// The stamp an index holding exactly `ids` (each once) of `dimension` has.
IndexStamp stamp_of(std::span<const std::int64_t> ids, std::size_t dimension);

// The stamp saved beside `file` by VectorIndex::save() (read from
// `file` + ".stamp", without loading the index); nullopt when it is missing
// or unreadable. Cheap: does not verify the index file itself.
std::optional<IndexStamp> read_stamp(const std::filesystem::path& file);

class VectorIndex {
 public:
  // An empty in-memory index. UsageError when options.dimension is 0 or
  // m / ef_* are not positive.
  static std::unique_ptr<VectorIndex> create(const VectorIndexOptions& options);

  // The index save() wrote to `file`. StoreError when the file or its stamp is
  // missing, truncated or corrupt, or was saved with another dimension than
  // options.dimension. options.max_elements is a minimum capacity.
  static std::unique_ptr<VectorIndex> load(const std::filesystem::path& file,
                                           const VectorIndexOptions& options);

  // Adds `vector` under `face_id`, replacing the vector of an existing id
  // (also a removed one, which becomes live again). UsageError when
  // vector.size() != dimension. The vector is stored as given (not normalised).
  virtual void add(std::int64_t face_id, std::span<const float> vector) = 0;

  // Adds ids.size() vectors, the i-th being
  // vectors[i * dimension, (i + 1) * dimension), as add() would one by one (a
  // repeated id keeps its last vector), inserting the new ids with `threads`
  // threads (0: one per core): for building or rebuilding from the catalog.
  // With more than one thread the graph, and so which close vectors a search
  // may miss, depends on the threads' timing. UsageError when vectors.size()
  // != ids.size() * dimension.
  virtual void add_batch(std::span<const std::int64_t> ids, std::span<const float> vectors,
                         std::size_t threads) = 0;

  // Hides `face_id` from search, size and stamp; no-op when absent. The slot
  // stays allocated until the index is rebuilt.
  virtual void remove(std::int64_t face_id) = 0;

  // Up to k live ids, best (highest similarity) first; fewer when the index
  // holds fewer. UsageError when query.size() != dimension.
  virtual std::vector<Neighbour> search(std::span<const float> query, std::size_t k) const = 0;

  virtual std::size_t size() const = 0;  // live ids
  virtual bool contains(std::int64_t face_id) const = 0;
  virtual std::size_t dimension() const = 0;
  virtual IndexStamp stamp() const = 0;  // O(number of ids ever added)

  // Writes the index to `file` and its stamp (with a checksum of `file`) to
  // `file` + ".stamp", each through a temporary file renamed into place, so a
  // reader sees the old or the new file, never a half-written one. A crash
  // between the two renames leaves a pair that load() rejects (StoreError).
  // StoreError when a file cannot be written.
  virtual void save(const std::filesystem::path& file) const = 0;

  // The bytes save() would write to `file`, made in memory (an encrypted
  // library seals them before they reach the disk), and an index made from
  // such bytes (StoreError when they are not a valid index of
  // options.dimension floats). Neither touches the file system.
  virtual std::string to_bytes() const = 0;
  static std::unique_ptr<VectorIndex> from_bytes(std::string_view bytes,
                                                 const VectorIndexOptions& options);

  virtual ~VectorIndex() = default;
};

}  // namespace likeness::store
