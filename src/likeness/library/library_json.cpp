#include "likeness/library/library_json.h"

#include <ctime>

namespace likeness::library {

nlohmann::json stored_quality_json(const store::FaceQuality& q) {
  return {{"overall", q.overall}, {"sharpness", q.sharpness}, {"contrast", q.contrast},
          {"size", q.size},       {"pose", q.pose},           {"exposure", q.exposure},
          {"yaw", q.yaw_deg},     {"pitch", q.pitch_deg},     {"roll", q.roll_deg}};
}

nlohmann::json measured_quality_json(const quality::QualityMeasures& q) {
  auto angle = [&](float degrees) -> nlohmann::json {
    return q.has_pose ? nlohmann::json(degrees) : nlohmann::json(nullptr);
  };
  return {{"overall", q.overall},
          {"sharpness", q.sharpness},
          {"contrast", q.contrast},
          {"size", q.size},
          {"pose", q.pose},
          {"exposure", q.exposure},
          {"yaw", angle(q.angles.yaw_deg)},
          {"pitch", angle(q.angles.pitch_deg)},
          {"roll", angle(q.angles.roll_deg)}};
}

nlohmann::json index_summary_json(const IndexSummary& s) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& f : s.failures) {
    failures.push_back({{"path", f.path}, {"reason", f.reason}, {"message", f.message}});
  }
  return {{"folders", s.folders},
          {"files_found", s.files_found},
          {"other_files", s.other_files},
          {"skipped_by_reason", s.skipped_by_reason},
          {"photos_indexed", s.photos_indexed()},
          {"photos_new", s.photos_new},
          {"photos_changed", s.photos_changed},
          {"photos_touched", s.photos_touched},
          {"unchanged", s.unchanged},
          {"failed", s.failed},
          {"faces_added", s.faces_added},
          {"faces_removed", s.faces_removed},
          {"faces_too_small", s.faces_too_small},
          {"vanished", s.vanished},
          {"pruned", s.pruned},
          {"errors_by_reason", s.errors_by_reason},
          {"failures", failures},
          {"interrupted", s.interrupted},
          {"seconds", s.seconds}};
}

std::string iso_utc_time(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::json audit_log_json(const std::vector<store::AuditEntry>& entries) {
  nlohmann::json out = nlohmann::json::array();
  for (const store::AuditEntry& e : entries) {
    out.push_back({{"id", e.id},
                   {"time", iso_utc_time(e.time)},
                   {"action", e.action},
                   {"details", nlohmann::json::parse(e.details, nullptr, false)}});
  }
  return out;
}

}  // namespace likeness::library
