#include "likeness/library/person_attributes.h"

#include <algorithm>

#include "likeness/attributes/attributes.h"

namespace likeness::library {
namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

}  // namespace

std::optional<int> capture_year(const std::string& capture_time) {
  if (capture_time.size() < 4) return std::nullopt;
  int year = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const char c = capture_time[i];
    if (c < '0' || c > '9') return std::nullopt;
    year = year * 10 + (c - '0');
  }
  // EXIF writes 0000 for an unset date; nothing before photography is real.
  if (year < 1826) return std::nullopt;
  return year;
}

PersonAttributes summarize_person_attributes(std::span<const PersonFace> faces) {
  PersonAttributes out;
  out.faces = faces.size();
  std::vector<double> all_ages;
  std::map<int, std::vector<double>> ages_by_year;
  for (const PersonFace& f : faces) {
    const std::optional<attributes::FaceAttributes> a =
        attributes::parse_attributes(f.face.attributes);
    if (!a || a->empty()) continue;
    ++out.faces_with_attributes;
    if (a->age) {
      all_ages.push_back(a->age->years);
      if (f.photo.capture_time) {
        if (const auto year = capture_year(*f.photo.capture_time)) {
          ages_by_year[*year].push_back(a->age->years);
        }
      }
    }
    if (a->emotion && !a->emotion->label.empty()) ++out.expression_counts[a->emotion->label];
  }
  if (!all_ages.empty()) out.median_age = median(all_ages);
  for (const auto& [year, ages] : ages_by_year) {
    out.age_by_year.push_back({year, median(ages), ages.size()});
  }
  if (out.age_by_year.size() >= 2) {
    double change = 0.0;
    for (std::size_t i = 1; i < out.age_by_year.size(); ++i) {
      const YearAge& before = out.age_by_year[i - 1];
      const YearAge& after = out.age_by_year[i];
      change += (after.median_age - before.median_age) / (after.year - before.year);
    }
    out.age_change_per_year = change / static_cast<double>(out.age_by_year.size() - 1);
  }
  std::size_t best = 0;
  for (std::string_view label : attributes::kEmotionLabels) {
    const auto it = out.expression_counts.find(std::string(label));
    if (it != out.expression_counts.end() && it->second > best) {
      best = it->second;
      out.most_frequent_expression = it->first;
    }
  }
  return out;
}

}  // namespace likeness::library
