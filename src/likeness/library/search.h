// Finding a person in the library from one face: approximate search on the
// fused vectors (the vector index), then exact re-ranking of the candidates by
// the calibrated ensemble on the stored per-model vectors and qualities.
//
//   auto query = recognizer->describe(image, face);
//   SearchResult found = likeness::library::search_face(*library, *recognizer, query, {});
//   for (const SearchHit& hit : found.hits) { hit.path; hit.box; hit.probability; }
//
// Errors: none for the query's content (a query without a fused vector finds
// nothing, with SearchResult::note saying why); StoreError from the library.
// Thread-safety: as Library (one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "likeness/library/library.h"
#include "likeness/match/recognizer.h"

namespace likeness::library {

struct SearchOptions {
  std::size_t top_k = 10;  // at most this many hits
  // Only hits whose probability is above this (strictly); empty = the
  // calibration's decision threshold (same person at FAR 1e-3).
  std::optional<double> min_probability{};
  // Faces below the recognizer's minimum quality are left out unless this is
  // set (they are the blurred, turned and burnt-out faces that cause false
  // matches: docs/quality.md).
  bool include_low_quality = false;
  // Candidates taken from the vector index for exact re-ranking: at least
  // this many, and at least 5 * top_k.
  std::size_t candidates = 100;
  // Keep only the best face of each photo: one person appears once in a
  // photo, so a second face of the same photo is a look-alike (a relative,
  // a poster) and the photo is already in the results.
  bool one_per_photo = true;
};

struct SearchHit {
  std::int64_t face_id = 0;
  std::int64_t photo_id = 0;
  std::string path;
  std::optional<std::string> capture_time;
  store::FaceBox box;  // photo pixels
  double probability = 0.0;
  bool same_person = false;   // probability above the calibrated threshold
  float fused_cosine = 0.0f;  // similarity in the vector index
  store::FaceQuality quality;
  bool searchable = true;  // quality at least the recognizer's minimum
};

struct SearchResult {
  std::vector<SearchHit> hits;  // best (highest probability) first
  std::size_t candidates = 0;   // re-ranked candidates
  double threshold = 0.0;       // the min_probability used
  std::string note;             // why nothing could be searched, when so
};

SearchResult search_face(Library& library, const match::Recognizer& recognizer,
                         const match::FaceDescription& query, const SearchOptions& options = {});

// A stored face as the recognizer sees it: its per-model vectors in the
// recognizer's member order (empty where the catalog has none), its fused
// vector and its quality. nullopt when the face does not exist.
std::optional<match::FaceDescription> stored_description(store::Catalog& catalog,
                                                         const match::Recognizer& recognizer,
                                                         std::int64_t face_id);

// Conversions between the recognizer's quality and the catalog's.
store::FaceQuality to_stored_quality(const quality::QualityMeasures& measures);
quality::QualityMeasures from_stored_quality(const store::FaceQuality& stored);

}  // namespace likeness::library
