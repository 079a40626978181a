// A person's attributes over their photos, from the attributes stored with
// each face (store::Face::attributes) and the photos' capture dates:
// the median estimated age per capture year ("age progression") and the most
// frequent expression.
//
//   auto faces = library::person_faces(catalog, person.id);
//   library::PersonAttributes a = library::summarize_person_attributes(faces);
//   for (const auto& y : a.age_by_year) { y.year; y.median_age; y.faces; }
//
// Estimates from photos, not facts (docs/attributes.md). Faces indexed with
// --no-analytics (no stored attributes) are counted and otherwise ignored.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "likeness/library/people.h"

namespace likeness::library {

struct YearAge {
  int year = 0;             // capture year (EXIF DateTimeOriginal)
  double median_age = 0.0;  // median of the estimated ages of that year's faces, years
  std::size_t faces = 0;
};

struct PersonAttributes {
  std::size_t faces = 0;                  // the person's faces
  std::size_t faces_with_attributes = 0;  // of those, with stored attributes
  std::optional<double> median_age;       // over every face with an age, years
  // One entry per capture year with at least one aged face, oldest year first;
  // faces of undated photos are left out.
  std::vector<YearAge> age_by_year;
  // Median age of year n+1 minus year n, averaged over consecutive entries of
  // age_by_year (years of estimated age per year of calendar); nothing with
  // fewer than two years.
  std::optional<double> age_change_per_year;
  std::map<std::string, std::size_t> expression_counts;  // by each face's top expression
  std::string most_frequent_expression;                  // "" when no face has one
};

// The capture year of an EXIF date ("2019:06:01 12:00:00" or "2019-06-01...");
// nothing when the text does not start with a plausible year.
std::optional<int> capture_year(const std::string& capture_time);

// Summarises faces (person_faces() of one person). Ties between expressions go
// to the one first in attributes::kEmotionLabels.
PersonAttributes summarize_person_attributes(std::span<const PersonFace> faces);

}  // namespace likeness::library
