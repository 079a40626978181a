// People in the library: looking them up, and the user's edits (name, merge,
// split, reject, confirm) that re-clustering must respect.
//
//   auto people = find_people(catalog, "Ada");          // by name, or by id "12"
//   for (const PersonFace& f : person_faces(catalog, people[0].id)) { f.photo.path; }
//   merge_people(catalog, keep_id, other_id);
//
// Link origins (store/catalog.h): clustering writes "automatic" links and
// replaces them freely; "confirmed" links (a user named, merged, split or
// confirmed) and "rejected" ones (this face is not this person) are the
// user's and are kept by re-clustering.
//
// Errors: a person or face that does not exist is UsageError naming it.
// Thread-safety: as the Catalog.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/store/catalog.h"

namespace likeness::library {

// People whose name is `name_or_id` exactly, or whose id it is ("12" or
// "#12"). By id first.
std::vector<store::Person> find_people(store::Catalog& catalog, std::string_view name_or_id);
// Exactly one person; UsageError when none or several match (the message
// lists the ids to choose from).
store::Person find_person(store::Catalog& catalog, std::string_view name_or_id);
// "Ada (#12)" or "unnamed #12".
std::string person_label(const store::Person& person);

struct PersonFace {
  store::Face face;
  store::Photo photo;
  store::LinkOrigin origin = store::LinkOrigin::kAutomatic;
};
// The person's faces (rejected ones left out) with their photos, by capture
// time (photos without one last, then by path).
std::vector<PersonFace> person_faces(store::Catalog& catalog, std::int64_t person_id);

struct PersonSummary {
  store::Person person;
  std::size_t faces = 0;
  std::size_t photos = 0;
  std::size_t confirmed = 0;
};
// Every person with their counts, most faces first.
std::vector<PersonSummary> list_people(store::Catalog& catalog);

// Renames; the person's automatic links become confirmed (naming a cluster
// is accepting it).
void name_person(store::Catalog& catalog, std::int64_t person_id, std::string name);
// Moves every link of `other` to `keep` (as confirmed; rejections stay
// rejections; where `keep` already has a confirmed or rejected link to the
// same face, keep's stays) and deletes `other`. `keep` takes other's name if
// it has none.
void merge_people(store::Catalog& catalog, std::int64_t keep, std::int64_t other);
// Moves `faces` from the person to a new person (named `name` when given),
// confirmed there and rejected from the old one; returns the new id.
std::int64_t split_person(store::Catalog& catalog, std::int64_t person_id,
                          const std::vector<std::int64_t>& faces,
                          std::optional<std::string> name = {});
// This face is not this person: the link becomes rejected (kept through
// re-clustering, so the face never returns to the person).
void reject_face(store::Catalog& catalog, std::int64_t face_id, std::int64_t person_id);
// This face is this person: confirmed link, and the face's other non-rejected
// links are removed (a face is one person).
void confirm_face(store::Catalog& catalog, std::int64_t face_id, std::int64_t person_id);

}  // namespace likeness::library
