// The privacy routes: erasing a person (GDPR Art. 17) and the audit log.
// Both are thin shells over library/erasure.h and the catalog's audit log,
// like `likeness erase --person` and `likeness privacy log`.
#include <ctime>

#include "likeness/library/erasure.h"
#include "likeness/server/server_impl.h"

namespace likeness::server {

void HttpServer::post_erase_person(const httplib::Request& request, httplib::Response& response,
                                   std::int64_t person_id) {
  const nlohmann::json body = parse_body_object(request);
  // The page asks the user first; the API wants that answer in the request,
  // so that a stray POST cannot erase anyone.
  if (optional_bool(body, "confirm") != true) {
    throw ApiError(400, "not_confirmed",
                   "Erasing a person cannot be undone: send {\"confirm\": true} once the user "
                   "has agreed.");
  }
  // The indexing run holds its own copy of the vector index and saves it at
  // the end: erasing meanwhile would let it write erased vectors back.
  if (index_job_->running()) {
    throw ApiError(409, "index_running",
                   "An indexing run is going; erase when it has ended (or stop it first: POST "
                   "/api/index/stop).");
  }
  std::lock_guard<std::mutex> lock(library_mutex_);
  if (!library_->catalog().find_person(person_id)) {
    throw ApiError(404, "unknown_person",
                   "There is no person #" + std::to_string(person_id) +
                       " in the library; reload the people list.");
  }
  const library::ErasureReport report =
      library::erase(*library_, library::plan_person_erasure(library_->catalog(), person_id));
  crops_.clear();  // no crop of an erased face may be served from memory
  send_json(response, nlohmann::json::parse(library::erasure_details_json("person", report)));
}

void HttpServer::get_privacy_log(const httplib::Request&, httplib::Response& response) {
  std::vector<store::AuditEntry> entries;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    entries = library_->catalog().audit_log();
  }
  nlohmann::json out = nlohmann::json::array();
  for (const store::AuditEntry& e : entries) {
    const std::time_t t = static_cast<std::time_t>(e.time);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
    out.push_back({{"id", e.id},
                   {"time", when},
                   {"action", e.action},
                   {"details", nlohmann::json::parse(e.details, nullptr, false)}});
  }
  send_json(response, {{"entries", out}});
}

}  // namespace likeness::server
