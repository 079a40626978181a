#include "likeness/library/people.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace likeness::library {
namespace {

store::Person require_person(store::Catalog& catalog, std::int64_t id) {
  std::optional<store::Person> person = catalog.find_person(id);
  if (!person) throw UsageError("no person #" + std::to_string(id) + " in the library");
  return *person;
}

void require_face(store::Catalog& catalog, std::int64_t id) {
  if (!catalog.find_face(id)) throw UsageError("no face " + std::to_string(id) + " in the library");
}

}  // namespace

std::vector<store::Person> find_people(store::Catalog& catalog, std::string_view name_or_id) {
  std::string_view digits = name_or_id;
  if (!digits.empty() && digits.front() == '#') digits.remove_prefix(1);
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) {
    if (std::optional<store::Person> person = catalog.find_person(id)) return {*person};
  }
  std::vector<store::Person> named;
  for (store::Person& person : catalog.list_people()) {
    if (person.name && *person.name == name_or_id) named.push_back(std::move(person));
  }
  return named;
}

store::Person find_person(store::Catalog& catalog, std::string_view name_or_id) {
  std::vector<store::Person> found = find_people(catalog, name_or_id);
  if (found.empty()) {
    throw UsageError("no person '" + std::string(name_or_id) +
                     "' in the library (`likeness people list` shows them)");
  }
  if (found.size() > 1) {
    std::string ids;
    for (const store::Person& p : found) ids += (ids.empty() ? "#" : ", #") + std::to_string(p.id);
    throw UsageError("several people are called '" + std::string(name_or_id) + "': use an id (" +
                     ids + ")");
  }
  return found.front();
}

std::string person_label(const store::Person& person) {
  const std::string id = "#" + std::to_string(person.id);
  return person.name ? *person.name + " (" + id + ")" : "unnamed " + id;
}

std::vector<PersonFace> person_faces(store::Catalog& catalog, std::int64_t person_id) {
  std::vector<PersonFace> faces;
  for (const store::FacePersonLink& link : catalog.faces_of_person(person_id)) {
    if (link.origin == store::LinkOrigin::kRejected) continue;
    std::optional<store::Face> face = catalog.find_face(link.face_id);
    if (!face) continue;
    std::optional<store::Photo> photo = catalog.find_photo(face->photo_id);
    if (!photo) continue;
    faces.push_back({std::move(*face), std::move(*photo), link.origin});
  }
  std::stable_sort(faces.begin(), faces.end(), [](const PersonFace& a, const PersonFace& b) {
    const bool a_dated = a.photo.capture_time.has_value();
    const bool b_dated = b.photo.capture_time.has_value();
    if (a_dated != b_dated) return a_dated;
    if (a_dated && *a.photo.capture_time != *b.photo.capture_time) {
      return *a.photo.capture_time < *b.photo.capture_time;
    }
    return a.photo.path < b.photo.path;
  });
  return faces;
}

std::vector<PersonSummary> list_people(store::Catalog& catalog) {
  std::vector<PersonSummary> people;
  for (store::Person& person : catalog.list_people()) {
    PersonSummary s{std::move(person), 0, 0, 0};
    std::set<std::int64_t> photos;
    for (const store::FacePersonLink& link : catalog.faces_of_person(s.person.id)) {
      if (link.origin == store::LinkOrigin::kRejected) continue;
      ++s.faces;
      if (link.origin == store::LinkOrigin::kConfirmed) ++s.confirmed;
      if (std::optional<store::Face> face = catalog.find_face(link.face_id)) {
        photos.insert(face->photo_id);
      }
    }
    s.photos = photos.size();
    people.push_back(std::move(s));
  }
  std::stable_sort(
      people.begin(), people.end(),
      [](const PersonSummary& a, const PersonSummary& b) { return a.faces > b.faces; });
  return people;
}

void name_person(store::Catalog& catalog, std::int64_t person_id, std::string name) {
  require_person(catalog, person_id);
  if (name.empty()) throw UsageError("a person's name cannot be empty");
  catalog.write_batch([&] {
    catalog.rename_person(person_id, std::move(name));
    for (const store::FacePersonLink& link : catalog.faces_of_person(person_id)) {
      if (link.origin == store::LinkOrigin::kAutomatic) {
        catalog.link_face(link.face_id, person_id, store::LinkOrigin::kConfirmed);
      }
    }
    // The audit log keeps that a rename happened, not the name.
    catalog.add_audit_entry("rename", nlohmann::json{{"person", person_id}}.dump());
  });
}

void merge_people(store::Catalog& catalog, std::int64_t keep, std::int64_t other) {
  const store::Person kept = require_person(catalog, keep);
  const store::Person merged = require_person(catalog, other);
  if (keep == other) throw UsageError("cannot merge a person with themselves");
  catalog.write_batch([&] {
    std::map<std::int64_t, store::LinkOrigin> kept_links;
    for (const store::FacePersonLink& link : catalog.faces_of_person(keep)) {
      kept_links[link.face_id] = link.origin;
    }
    for (const store::FacePersonLink& link : catalog.faces_of_person(other)) {
      const auto kept_link = kept_links.find(link.face_id);
      // The kept person's own word about a face wins (a face confirmed for
      // them stays confirmed, one rejected stays rejected); otherwise a face
      // rejected from the merged person stays rejected and every other face
      // is confirmed by the merge.
      if (kept_link != kept_links.end() && kept_link->second != store::LinkOrigin::kAutomatic) {
        continue;
      }
      catalog.link_face(link.face_id, keep,
                        link.origin == store::LinkOrigin::kRejected
                            ? store::LinkOrigin::kRejected
                            : store::LinkOrigin::kConfirmed);
    }
    for (const store::FacePersonLink& link : catalog.faces_of_person(keep)) {
      if (link.origin == store::LinkOrigin::kAutomatic) {
        catalog.link_face(link.face_id, keep, store::LinkOrigin::kConfirmed);
      }
    }
    if (!kept.name && merged.name) catalog.rename_person(keep, merged.name);
    catalog.delete_person(other);
    catalog.add_audit_entry("merge", nlohmann::json{{"kept", keep}, {"merged", other}}.dump());
  });
}

std::int64_t split_person(store::Catalog& catalog, std::int64_t person_id,
                          const std::vector<std::int64_t>& faces, std::optional<std::string> name) {
  require_person(catalog, person_id);
  if (faces.empty()) throw UsageError("split: name at least one face to move");
  std::set<std::int64_t> own;
  for (const store::FacePersonLink& link : catalog.faces_of_person(person_id)) {
    if (link.origin != store::LinkOrigin::kRejected) own.insert(link.face_id);
  }
  for (std::int64_t face : faces) {
    if (own.count(face) == 0) {
      throw UsageError("face " + std::to_string(face) + " is not one of person #" +
                       std::to_string(person_id) + "'s faces");
    }
  }
  std::int64_t created = 0;
  catalog.write_batch([&] {
    created = catalog.create_person(std::move(name));
    for (std::int64_t face : faces) {
      catalog.link_face(face, person_id, store::LinkOrigin::kRejected);
      catalog.link_face(face, created, store::LinkOrigin::kConfirmed);
    }
  });
  return created;
}

void reject_face(store::Catalog& catalog, std::int64_t face_id, std::int64_t person_id) {
  require_face(catalog, face_id);
  require_person(catalog, person_id);
  catalog.link_face(face_id, person_id, store::LinkOrigin::kRejected);
}

void confirm_face(store::Catalog& catalog, std::int64_t face_id, std::int64_t person_id) {
  require_face(catalog, face_id);
  require_person(catalog, person_id);
  catalog.write_batch([&] {
    for (const store::FacePersonLink& link : catalog.people_of_face(face_id)) {
      if (link.person_id != person_id && link.origin != store::LinkOrigin::kRejected) {
        catalog.unlink_face(face_id, link.person_id);
      }
    }
    catalog.link_face(face_id, person_id, store::LinkOrigin::kConfirmed);
  });
}

}  // namespace likeness::library
