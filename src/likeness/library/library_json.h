// The library's records as JSON, one shape shared by the CLI (`--json`), the
// HTTP server and the export, so that a field is named and formatted once.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "likeness/library/indexer.h"
#include "likeness/quality/quality.h"
#include "likeness/store/catalog.h"

namespace likeness::library {

// {"overall", "sharpness", "contrast", "size", "pose", "exposure", "yaw",
//  "pitch", "roll"} of a stored face (angles in degrees).
nlohmann::json stored_quality_json(const store::FaceQuality& quality);
// The same keys for a face just measured (quality/quality.h); the angles are
// null when the landmarks gave no pose.
nlohmann::json measured_quality_json(const quality::QualityMeasures& quality);

// The counts of an index run (`likeness index --json`, GET /api/index):
// files_found ... seconds, with the failures as {path, reason, message}.
nlohmann::json index_summary_json(const IndexSummary& summary);

// "2026-11-28T07:40:02Z" for seconds since the epoch.
std::string iso_utc_time(std::int64_t seconds);

// The audit log as [{"id", "time", "action", "details": {...}}], oldest first.
nlohmann::json audit_log_json(const std::vector<store::AuditEntry>& entries);

}  // namespace likeness::library
