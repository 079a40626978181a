// The right of erasure (GDPR Art. 17): removing everything the library holds
// about a person, a photo, or whoever looks like a given face, so that no
// copy can be recovered from the library's files.
//
//   ErasurePlan plan = plan_person_erasure(library->catalog(), person.id);
//   show(plan);                     // what will go: faces, photos, people
//   ErasureReport done = erase(*library, plan);
//
// Erasing removes the faces (their boxes, landmarks, quality, attributes),
// their per-model and fused vectors, their person links, the person records
// left without faces, and for a photo its record; then it makes the deletion
// final: the catalog's pages are overwritten (secure_delete), its write-ahead
// log checkpointed and truncated, the file vacuumed, and the vector index
// rebuilt from what is left and rewritten. An audit entry records the scope
// and the counts — never names, paths or vectors.
//
// What erasure cannot reach: the photo files themselves (Likeness never
// changes them) and a photo indexed again later (its faces come back as new
// faces: remove or move the photo first). docs/privacy.md says so to users.
//
// Errors: UsageError for a person or photo that does not exist; StoreError
// when the catalog or index cannot be written (nothing is half-erased: the
// deletions are one transaction, and the purge can be re-run).
// Thread-safety: as Library (one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "likeness/library/library.h"
#include "likeness/match/recognizer.h"

namespace likeness::library {

struct ErasurePlan {
  std::string scope;  // "person", "photo", "like", "retention" (for the audit log)
  std::string audit_action = "erase";
  std::vector<std::int64_t> faces;   // face ids, ascending
  std::vector<std::int64_t> photos;  // photo records to delete, ascending
  std::vector<std::int64_t> people;  // person records to delete, ascending
  // Remember the deleted photos by the sha256 of their bytes only
  // (store::Catalog::remember_erased_content), so that indexing the files
  // again does not bring the erased faces back (erase --with-photos).
  bool remember_photo_contents = false;
  bool empty() const { return faces.empty() && photos.empty() && people.empty(); }
};

// Every face linked to the person (rejected links excluded: those faces are
// someone else), and the person.
ErasurePlan plan_person_erasure(store::Catalog& catalog, std::int64_t person_id);

// The photo's record and all its faces.
ErasurePlan plan_photo_erasure(store::Catalog& catalog, std::int64_t photo_id);

// The photos every face of which is in the plan (for a person: the photos in
// which nobody else was found), whose records are left behind by default:
// path, size, dates. A path can name the person ("/photos/ada/1.jpg").
std::vector<std::int64_t> photos_left_without_faces(store::Catalog& catalog,
                                                    const ErasurePlan& plan);
// Adds those photos to the plan's photo records, to be deleted and
// remembered by content only (erase --person X --with-photos).
void add_photos_left_without_faces(store::Catalog& catalog, ErasurePlan& plan);

// Every face the ensemble finds to be the query's person with at least
// `min_probability` (low-quality faces included: erasure must not miss a
// blurred face), by an exact comparison with every stored face — not the
// approximate index, which may miss some.
ErasurePlan plan_like_erasure(Library& library, const match::Recognizer& recognizer,
                              const match::FaceDescription& query, double min_probability);

struct ErasureReport {
  std::size_t faces = 0;
  std::size_t vectors = 0;  // per-model and fused
  std::size_t links = 0;    // face-person links
  std::size_t people = 0;
  std::size_t photos = 0;
  std::size_t photos_remembered = 0;  // by content only (remember_photo_contents)
  std::int64_t audit_id = 0;
};

// Carries out the plan (people whose last face goes are deleted too) and
// purges (Library::purge_erased), holding the library's writer lock
// throughout. The deletions and an "erasure pending" mark are one
// transaction: killed after it, the next open of the library (by any
// command) finishes the purge. An empty plan changes nothing and writes no
// audit entry.
ErasureReport erase(Library& library, const ErasurePlan& plan);

// The audit entry's details: {"scope": ..., "faces": n, ...}.
std::string erasure_details_json(const std::string& scope, const ErasureReport& report);

}  // namespace likeness::library
