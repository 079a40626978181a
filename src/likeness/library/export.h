// The rights of access and portability (GDPR Art. 15 and 20): everything the
// library holds about one person, in a form they can read and take away.
//
//   ExportReport r = export_person(*library, person.id, "ada.zip", {});
//
// The export is a folder, or a .zip archive of the same files:
//   person.json        the person, and per face: the photo (path, content
//                      hash, size, capture date, when indexed), the box, the
//                      landmarks, the detector score, the quality measures,
//                      the attributes, the link to the person (automatic,
//                      confirmed) and when each was added; which recognition
//                      models described the face (the vectors themselves only
//                      with `with_vectors`)
//   faces/face_N.jpg   a crop of each face, cut from the photo on disk
// A photo that is no longer on disk gets no crop; person.json says why.
// An audit entry records the export (person id and counts).
//
// Errors: UsageError for an unknown person or an output that exists and is
// not an empty folder; StoreError / filesystem errors when it cannot write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "likeness/library/library.h"

namespace likeness::library {

struct ExportOptions {
  int crop_size = 256;        // long side of each face crop, pixels
  bool with_vectors = false;  // also the per-model and fused vectors (biometric templates)
};

struct ExportReport {
  std::filesystem::path out;
  std::size_t faces = 0;
  std::size_t photos = 0;
  std::size_t crops = 0;          // crops written
  std::size_t missing_crops = 0;  // photos that could not be read
  std::int64_t audit_id = 0;
};

ExportReport export_person(Library& library, std::int64_t person_id,
                           const std::filesystem::path& out, const ExportOptions& options = {});

}  // namespace likeness::library
