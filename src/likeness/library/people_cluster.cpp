#include "likeness/library/people_cluster.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include "likeness/library/search.h"

namespace likeness::library {
namespace {

// The whole library as the clustering sees it; face i is faces[i].
struct LoadedFaces {
  std::vector<store::Face> faces;
  std::vector<match::FaceDescription> descriptions;
  std::unordered_map<std::int64_t, std::size_t> index_of;
  std::vector<std::int64_t> photo_of_face;
};

LoadedFaces load_faces(store::Catalog& catalog, const match::Recognizer& recognizer) {
  LoadedFaces loaded;
  loaded.faces = catalog.all_faces();
  const std::size_t n = loaded.faces.size();
  const std::vector<std::string>& members = recognizer.members();
  loaded.descriptions.resize(n);
  loaded.photo_of_face.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const store::Face& face = loaded.faces[i];
    loaded.index_of.emplace(face.id, i);
    loaded.photo_of_face[i] = face.photo_id;
    match::FaceDescription& d = loaded.descriptions[i];
    d.quality = from_stored_quality(face.quality);
    d.searchable = d.quality.overall >= recognizer.min_quality();
    d.member_vectors.resize(members.size());
  }
  // One query per model rather than one per face.
  for (std::size_t m = 0; m < members.size(); ++m) {
    for (store::FaceIdVector& v : catalog.all_vectors(members[m])) {
      const auto it = loaded.index_of.find(v.face_id);
      if (it != loaded.index_of.end()) {
        loaded.descriptions[it->second].member_vectors[m] = std::move(v.values);
      }
    }
  }
  for (store::FaceIdVector& v : catalog.all_vectors(store::kFusedModel)) {
    const auto it = loaded.index_of.find(v.face_id);
    if (it != loaded.index_of.end()) loaded.descriptions[it->second].fused = std::move(v.values);
  }
  return loaded;
}

// The user's links as constraints, and the automatic links as they are.
struct Links {
  ClusterConstraints constraints;
  std::vector<std::int64_t> person_of_face;  // confirmed or automatic, kNoPerson when none
  std::set<std::pair<std::int64_t, std::int64_t>> automatic;  // (face id, person)
  std::set<std::pair<std::int64_t, std::int64_t>> rejected;   // (face id, person)
  std::set<std::pair<std::int64_t, std::int64_t>> confirmed;  // (face id, person)
};

Links read_links(store::Catalog& catalog, const LoadedFaces& loaded) {
  Links links;
  const std::size_t n = loaded.faces.size();
  links.constraints.photo_of_face = loaded.photo_of_face;
  links.constraints.pinned_person.assign(n, kNoPerson);
  links.person_of_face.assign(n, kNoPerson);
  for (const store::FacePersonLink& link : catalog.all_links()) {
    const auto it = loaded.index_of.find(link.face_id);
    if (it == loaded.index_of.end()) continue;
    const std::size_t i = it->second;
    const auto key = std::make_pair(link.face_id, link.person_id);
    switch (link.origin) {
      case store::LinkOrigin::kConfirmed:
        links.confirmed.insert(key);
        if (links.constraints.pinned_person[i] == kNoPerson) {
          links.constraints.pinned_person[i] = link.person_id;
        }
        links.person_of_face[i] = links.constraints.pinned_person[i];
        break;
      case store::LinkOrigin::kRejected:
        links.rejected.insert(key);
        links.constraints.rejections.push_back({i, link.person_id});
        break;
      case store::LinkOrigin::kAutomatic:
        links.automatic.insert(key);
        if (links.person_of_face[i] == kNoPerson) links.person_of_face[i] = link.person_id;
        break;
    }
  }
  return links;
}

}  // namespace

ReclusterReport cluster_people(Library& library, const match::Recognizer& recognizer,
                               const ReclusterOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  store::Catalog& catalog = library.catalog();
  const LoadedFaces loaded = load_faces(catalog, recognizer);
  const Links links = read_links(catalog, loaded);
  ReclusterReport report;
  report.faces = loaded.faces.size();

  const SimilarityGraph graph =
      build_similarity_graph(loaded.descriptions, recognizer, options.graph);
  const Clustering clustering = cluster_faces(graph, links.constraints, options.cluster);

  std::vector<std::vector<std::size_t>> members(
      static_cast<std::size_t>(clustering.cluster_count()));
  for (std::size_t i = 0; i < clustering.cluster_of_face.size(); ++i) {
    if (clustering.cluster_of_face[i] != kUnclustered) {
      members[static_cast<std::size_t>(clustering.cluster_of_face[i])].push_back(i);
    }
  }
  // Which person each cluster is: its confirmed person, else the person most
  // of its faces were automatically linked to (largest clusters choose
  // first), else a new one.
  std::vector<std::int64_t> person_of_cluster = clustering.person_of_cluster;
  std::set<std::int64_t> taken(person_of_cluster.begin(), person_of_cluster.end());
  std::vector<std::size_t> order(members.size());
  for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return members[a].size() > members[b].size();
  });
  std::set<std::int64_t> existing;
  for (const store::Person& p : catalog.list_people()) existing.insert(p.id);

  catalog.write_batch([&] {
    for (std::size_t c : order) {
      if (person_of_cluster[c] != kNoPerson) continue;
      std::map<std::int64_t, std::size_t> votes;
      for (std::size_t i : members[c]) {
        const std::int64_t before = links.person_of_face[i];
        if (before != kNoPerson && existing.count(before) > 0) ++votes[before];
      }
      std::int64_t chosen = kNoPerson;
      std::size_t best = 0;
      for (const auto& [person, count] : votes) {
        if (taken.count(person) == 0 && count > best) {
          chosen = person;
          best = count;
        }
      }
      if (chosen == kNoPerson) {
        chosen = catalog.create_person();
        ++report.people_created;
      }
      taken.insert(chosen);
      person_of_cluster[c] = chosen;
    }
    // The automatic links wanted now.
    std::set<std::pair<std::int64_t, std::int64_t>> wanted;
    for (std::size_t c = 0; c < members.size(); ++c) {
      for (std::size_t i : members[c]) {
        const auto key = std::make_pair(loaded.faces[i].id, person_of_cluster[c]);
        if (links.confirmed.count(key) > 0 || links.rejected.count(key) > 0) continue;
        // A face confirmed as someone else stays theirs alone.
        if (links.constraints.pinned_person[i] != kNoPerson) continue;
        wanted.insert(key);
      }
    }
    for (const auto& key : links.automatic) {
      if (wanted.count(key) == 0) {
        catalog.unlink_face(key.first, key.second);
        ++report.links_changed;
      }
    }
    for (const auto& key : wanted) {
      if (links.automatic.count(key) == 0) {
        catalog.link_face(key.first, key.second, store::LinkOrigin::kAutomatic);
        ++report.links_changed;
      }
    }
    for (const store::Person& person : catalog.list_people()) {
      if (person.name) continue;
      const std::vector<store::FacePersonLink> left = catalog.faces_of_person(person.id);
      const bool has_face = std::any_of(left.begin(), left.end(), [](const auto& link) {
        return link.origin != store::LinkOrigin::kRejected;
      });
      if (!has_face) {
        catalog.delete_person(person.id);
        ++report.people_deleted;
      }
    }
  });
  for (const auto& m : members) report.faces_clustered += m.size();
  report.faces_left_out = report.faces - report.faces_clustered;
  report.people = catalog.list_people().size();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

AttachReport attach_new_faces(Library& library, const match::Recognizer& recognizer,
                              std::span<const std::int64_t> new_faces,
                              const AssignOptions& options) {
  AttachReport report;
  store::Catalog& catalog = library.catalog();
  if (new_faces.empty() || catalog.list_people().empty()) return report;
  const LoadedFaces loaded = load_faces(catalog, recognizer);
  const Links links = read_links(catalog, loaded);
  std::vector<std::size_t> candidates;
  for (std::int64_t id : new_faces) {
    const auto it = loaded.index_of.find(id);
    if (it != loaded.index_of.end() && links.person_of_face[it->second] == kNoPerson) {
      candidates.push_back(it->second);
    }
  }
  report.considered = candidates.size();
  if (candidates.empty()) return report;
  const std::vector<Assignment> joined =
      assign_new_faces(loaded.descriptions, links.person_of_face, candidates, links.constraints,
                       recognizer, options);
  catalog.write_batch([&] {
    for (const Assignment& a : joined) {
      catalog.link_face(loaded.faces[a.face].id, a.person, store::LinkOrigin::kAutomatic);
    }
  });
  report.attached = joined.size();
  return report;
}

}  // namespace likeness::library
