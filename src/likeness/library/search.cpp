#include "likeness/library/search.h"

#include <algorithm>
#include <set>

namespace likeness::library {

store::FaceQuality to_stored_quality(const quality::QualityMeasures& m) {
  store::FaceQuality q;
  q.overall = m.overall;
  q.sharpness = m.sharpness;
  q.contrast = m.contrast;
  q.size = m.size;
  q.pose = m.pose;
  q.exposure = m.exposure;
  q.yaw_deg = m.angles.yaw_deg;
  q.pitch_deg = m.angles.pitch_deg;
  q.roll_deg = m.angles.roll_deg;
  return q;
}

quality::QualityMeasures from_stored_quality(const store::FaceQuality& q) {
  quality::QualityMeasures m;
  m.measured = true;
  m.overall = q.overall;
  m.sharpness = q.sharpness;
  m.contrast = q.contrast;
  m.size = q.size;
  m.pose = q.pose;
  m.exposure = q.exposure;
  m.angles = {q.yaw_deg, q.pitch_deg, q.roll_deg};
  m.has_pose = q.pose > 0.0f;
  return m;
}

std::optional<match::FaceDescription> stored_description(store::Catalog& catalog,
                                                         const match::Recognizer& recognizer,
                                                         std::int64_t face_id) {
  const std::optional<store::Face> face = catalog.find_face(face_id);
  if (!face) return std::nullopt;
  match::FaceDescription d;
  d.quality = from_stored_quality(face->quality);
  d.searchable = d.quality.overall >= recognizer.min_quality();
  const std::vector<std::string>& members = recognizer.members();
  d.member_vectors.resize(members.size());
  for (store::FaceVector& v : catalog.vectors_of_face(face_id)) {
    if (v.model == store::kFusedModel) {
      d.fused = std::move(v.values);
      continue;
    }
    const auto member = std::find(members.begin(), members.end(), v.model);
    if (member != members.end()) {
      d.member_vectors[static_cast<std::size_t>(member - members.begin())] = std::move(v.values);
    }
  }
  return d;
}

SearchResult search_face(Library& library, const match::Recognizer& recognizer,
                         const match::FaceDescription& query, const SearchOptions& options) {
  SearchResult result;
  result.threshold =
      options.min_probability.value_or(recognizer.calibration().probability_threshold());
  if (query.fused.empty()) {
    result.note = "the query face could not be described by any recognition model";
    return result;
  }
  const store::VectorIndex* index = library.vector_index();
  if (index == nullptr) {
    result.note = "the library holds no faces yet";
    return result;
  }
  if (index->dimension() != query.fused.size()) {
    result.note = "the library was indexed with other recognition models (vectors of " +
                  std::to_string(index->dimension()) + " numbers, the query has " +
                  std::to_string(query.fused.size()) +
                  "): index its photos into a new library with this version";
    return result;
  }
  const std::size_t wanted = std::max(options.candidates, 5 * options.top_k);
  const std::vector<store::Neighbour> near = index->search(query.fused, wanted);
  store::Catalog& catalog = library.catalog();
  for (const store::Neighbour& n : near) {
    const std::optional<store::Face> face = catalog.find_face(n.face_id);
    if (!face) continue;  // the index is a cache; the catalog decides
    std::optional<match::FaceDescription> stored =
        stored_description(catalog, recognizer, n.face_id);
    if (!stored) continue;
    ++result.candidates;
    if (!stored->searchable && !options.include_low_quality) continue;
    const match::Comparison c = recognizer.compare(query, *stored);
    if (!c.decided || !(c.probability > result.threshold)) continue;
    const std::optional<store::Photo> photo = catalog.find_photo(face->photo_id);
    // A vanished photo's faces wait for `index --prune`; they are no answer.
    if (!photo || photo->status != store::PhotoStatus::kIndexed) continue;
    SearchHit hit;
    hit.path = photo->path;
    hit.capture_time = photo->capture_time;
    hit.face_id = n.face_id;
    hit.photo_id = face->photo_id;
    hit.box = face->box;
    hit.quality = face->quality;
    hit.searchable = stored->searchable;
    hit.probability = c.probability;
    hit.same_person = c.same_person;
    hit.fused_cosine = n.similarity;
    result.hits.push_back(std::move(hit));
  }
  // Ties (probabilities saturate near 1) are broken by the index similarity,
  // then by id, so that the order is stable.
  std::sort(result.hits.begin(), result.hits.end(), [](const SearchHit& a, const SearchHit& b) {
    if (a.probability != b.probability) return a.probability > b.probability;
    if (a.fused_cosine != b.fused_cosine) return a.fused_cosine > b.fused_cosine;
    return a.face_id < b.face_id;
  });
  if (options.one_per_photo) {
    std::set<std::int64_t> photos;
    std::erase_if(result.hits,
                  [&](const SearchHit& hit) { return !photos.insert(hit.photo_id).second; });
  }
  if (result.hits.size() > options.top_k) result.hits.resize(options.top_k);
  return result;
}

}  // namespace likeness::library
