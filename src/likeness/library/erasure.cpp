#include "likeness/library/erasure.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "likeness/core/crash_points.h"
#include "likeness/core/error.h"
#include "likeness/library/search.h"

namespace likeness::library {
namespace {

std::vector<std::int64_t> sorted_unique(std::vector<std::int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace

ErasurePlan plan_person_erasure(store::Catalog& catalog, std::int64_t person_id) {
  if (!catalog.find_person(person_id)) {
    throw UsageError("there is no person #" + std::to_string(person_id) + " in the library");
  }
  ErasurePlan plan;
  plan.scope = "person";
  for (const store::FacePersonLink& link : catalog.faces_of_person(person_id)) {
    if (link.origin != store::LinkOrigin::kRejected) plan.faces.push_back(link.face_id);
  }
  plan.faces = sorted_unique(std::move(plan.faces));
  plan.people = {person_id};
  return plan;
}

ErasurePlan plan_photo_erasure(store::Catalog& catalog, std::int64_t photo_id) {
  if (!catalog.find_photo(photo_id)) {
    throw UsageError("there is no photo #" + std::to_string(photo_id) + " in the library");
  }
  ErasurePlan plan;
  plan.scope = "photo";
  for (const store::Face& face : catalog.faces_of_photo(photo_id)) plan.faces.push_back(face.id);
  plan.photos = {photo_id};
  return plan;
}

std::vector<std::int64_t> photos_left_without_faces(store::Catalog& catalog,
                                                    const ErasurePlan& plan) {
  std::set<std::int64_t> photos;
  for (const std::int64_t face_id : plan.faces) {
    if (const auto face = catalog.find_face(face_id)) photos.insert(face->photo_id);
  }
  std::vector<std::int64_t> left;
  for (const std::int64_t photo_id : photos) {
    const std::vector<store::Face> faces = catalog.faces_of_photo(photo_id);
    const bool all_erased = std::all_of(faces.begin(), faces.end(), [&](const store::Face& f) {
      return std::binary_search(plan.faces.begin(), plan.faces.end(), f.id);
    });
    if (all_erased) left.push_back(photo_id);
  }
  return left;
}

void add_photos_left_without_faces(store::Catalog& catalog, ErasurePlan& plan) {
  std::vector<std::int64_t> photos = photos_left_without_faces(catalog, plan);
  photos.insert(photos.end(), plan.photos.begin(), plan.photos.end());
  plan.photos = sorted_unique(std::move(photos));
  plan.remember_photo_contents = true;
}

ErasurePlan plan_like_erasure(Library& library, const match::Recognizer& recognizer,
                              const match::FaceDescription& query, double min_probability) {
  ErasurePlan plan;
  plan.scope = "like";
  store::Catalog& catalog = library.catalog();
  // Every stored face, compared exactly: an erasure that trusts the
  // approximate index could leave a match behind.
  for (const std::int64_t face_id : catalog.face_ids_with_vector(store::kFusedModel)) {
    const std::optional<match::FaceDescription> stored =
        stored_description(catalog, recognizer, face_id);
    if (!stored) continue;
    const match::Comparison c = recognizer.compare(query, *stored);
    if (c.decided && c.probability >= min_probability) plan.faces.push_back(face_id);
  }
  plan.faces = sorted_unique(std::move(plan.faces));
  return plan;
}

ErasureReport erase(Library& library, const ErasurePlan& plan) {
  ErasureReport report;
  if (plan.empty()) return report;
  // From the deletions to the end of the purge: no other writer may save an
  // index that still holds the erased vectors.
  const auto writing = library.lock_for_writing();
  store::Catalog& catalog = library.catalog();
  std::set<std::int64_t> touched_people(plan.people.begin(), plan.people.end());
  store::Catalog& c = catalog;
  catalog.write_batch([&] {
    for (const std::int64_t face_id : plan.faces) {
      const std::size_t vectors = c.vectors_of_face(face_id).size();
      const std::vector<store::FacePersonLink> links = c.people_of_face(face_id);
      if (!c.delete_face(face_id)) continue;  // already gone
      ++report.faces;
      report.vectors += vectors;
      report.links += links.size();
      for (const store::FacePersonLink& link : links) touched_people.insert(link.person_id);
    }
    for (const std::int64_t photo_id : plan.photos) {
      // Faces of the photo not in the plan (added since it was made) go too.
      for (const store::Face& face : c.faces_of_photo(photo_id)) {
        report.vectors += c.vectors_of_face(face.id).size();
        const std::vector<store::FacePersonLink> links = c.people_of_face(face.id);
        report.links += links.size();
        for (const store::FacePersonLink& link : links) touched_people.insert(link.person_id);
        if (c.delete_face(face.id)) ++report.faces;
      }
      if (plan.remember_photo_contents) {
        const std::optional<store::Photo> photo = c.find_photo(photo_id);
        if (photo && !photo->content_hash.empty()) {
          c.remember_erased_content(photo->content_hash);
          ++report.photos_remembered;
        }
      }
      if (c.delete_photo(photo_id)) ++report.photos;
    }
    // A person is deleted when erased by name or left with no face of their
    // own (only rejections, or nothing): an empty, possibly named, record is
    // still data about the data subject.
    for (const std::int64_t person_id : touched_people) {
      const bool named_in_plan =
          std::binary_search(plan.people.begin(), plan.people.end(), person_id);
      const std::vector<store::FacePersonLink> left = c.faces_of_person(person_id);
      const bool has_faces =
          !named_in_plan && std::any_of(left.begin(), left.end(), [](const auto& link) {
            return link.origin != store::LinkOrigin::kRejected;
          });
      if (!has_faces && c.delete_person(person_id)) {
        report.links += left.size();  // the rejections (or, by name, every link) left
        ++report.people;
      }
    }
    report.audit_id =
        c.add_audit_entry(plan.audit_action, erasure_details_json(plan.scope, report));
    library.mark_erasure_pending();
    crash_point("erase: deleted, not committed");
  });
  crash_point("erase: committed");
  // Final: nothing of the deleted rows left in the catalog's files or the
  // index file.
  library.purge_erased();
  return report;
}

std::string erasure_details_json(const std::string& scope, const ErasureReport& report) {
  return nlohmann::json{
      {"scope", scope},        {"faces", report.faces},   {"vectors", report.vectors},
      {"links", report.links}, {"people", report.people}, {"photos", report.photos}}
      .dump();
}

}  // namespace likeness::library
