// Grouping the library's faces into people (`likeness people cluster`) and
// attaching newly indexed faces to the people already known (after each
// `likeness index` run), on top of library/clustering.h.
//
//   ReclusterReport r = cluster_people(*library, recognizer, {});
//   AttachReport a = attach_new_faces(*library, recognizer, summary.new_face_ids, {});
//
// What re-clustering keeps: the user's links (confirmed and rejected) are
// never changed; faces confirmed for a person stay with them and pull their
// cluster to that person; a cluster without confirmed faces keeps the id (and
// name) of the person most of its faces belonged to before, so that
// re-clustering an unchanged library changes nothing. Only automatic links are
// replaced. People left with no faces and no name are deleted.
//
// Errors: StoreError from the catalog; everything is one transaction, so a
// failure changes nothing.
// Thread-safety: as Library.
#pragma once

#include <cstdint>
#include <span>

#include "likeness/library/clustering.h"
#include "likeness/library/library.h"

namespace likeness::library {

struct ReclusterOptions {
  GraphOptions graph{};
  ClusterOptions cluster{};
};

struct ReclusterReport {
  std::size_t faces = 0;            // faces in the library
  std::size_t faces_clustered = 0;  // in a person after the run
  std::size_t faces_left_out = 0;   // low quality, no vector, or alone
  std::size_t people = 0;           // after the run
  std::size_t people_created = 0;
  std::size_t people_deleted = 0;
  std::size_t links_changed = 0;  // automatic links added or removed
  double seconds = 0.0;
};

ReclusterReport cluster_people(Library& library, const match::Recognizer& recognizer,
                               const ReclusterOptions& options = {});

struct AttachReport {
  std::size_t considered = 0;  // new faces without a person
  std::size_t attached = 0;    // joined a person (automatic link)
};

// Attaches the faces `new_faces` (ids) to existing people when confident
// (clustering.h's assign_new_faces); never moves a face that has a person.
// Does nothing when the library has no people yet.
AttachReport attach_new_faces(Library& library, const match::Recognizer& recognizer,
                              std::span<const std::int64_t> new_faces,
                              const AssignOptions& options = {});

}  // namespace likeness::library
