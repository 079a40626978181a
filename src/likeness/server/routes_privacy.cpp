// The privacy routes: erasing a person (GDPR Art. 17), exporting what is
// stored about them (Art. 15/20), the retention rules and the audit log. Thin
// shells over library/erasure.h, export.h and retention.h, like `likeness
// erase --person`, `likeness export`, `likeness privacy`.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "likeness/library/erasure.h"
#include "likeness/library/export.h"
#include "likeness/library/library_json.h"
#include "likeness/library/retention.h"
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
  const auto writing = lock_for_edit();
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
  send_json(response, {{"entries", library::audit_log_json(entries)}});
}

void HttpServer::post_export_person(const httplib::Request&, httplib::Response& response,
                                    std::int64_t person_id) {
  // export_person writes files; the archive goes through a private temporary
  // file that is removed before the answer is sent.
  std::random_device random;
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("likeness-export-" + std::to_string(random()) + std::to_string(random()) + ".zip");
  struct RemoveAtEnd {
    std::filesystem::path path;
    ~RemoveAtEnd() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } remove_at_end{file};
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    if (!library_->catalog().find_person(person_id)) {
      throw ApiError(404, "unknown_person",
                     "There is no person #" + std::to_string(person_id) +
                         " in the library; reload the people list.");
    }
    const auto writing = lock_for_edit();  // the export's audit entry
    library::export_person(*library_, person_id, file, {});
  }
  std::ifstream in(file, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  response.status = 200;
  response.set_header("Content-Disposition",
                      "attachment; filename=\"person-" + std::to_string(person_id) + ".zip\"");
  response.set_header("Cache-Control", "no-store");
  response.set_content(std::move(bytes), "application/zip");
}

void HttpServer::get_retention(const httplib::Request&, httplib::Response& response) {
  std::lock_guard<std::mutex> lock(library_mutex_);
  send_json(response, nlohmann::json::parse(library::retention_policy_json(
                          library::load_retention_policy(library_->catalog()))));
}

void HttpServer::put_retention(const httplib::Request& request, httplib::Response& response) {
  const nlohmann::json body = parse_body_object(request);
  library::RetentionPolicy policy;
  if (const auto days = optional_int(body, "unnamed_face_days", 0, 36500)) {
    policy.unnamed_face_days = static_cast<int>(*days);
  }
  policy.vanished_photos = optional_bool(body, "vanished_photos").value_or(false);
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  library::save_retention_policy(library_->catalog(), policy);
  library_->catalog().add_audit_entry("retention_policy", library::retention_policy_json(policy));
  send_json(response, nlohmann::json::parse(library::retention_policy_json(policy)));
}

void HttpServer::post_apply_retention(const httplib::Request&, httplib::Response& response) {
  if (index_job_->running()) {
    throw ApiError(409, "index_running",
                   "An indexing run is going; apply the retention rules when it has ended "
                   "(every indexing run applies them too).");
  }
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  const library::RetentionPolicy policy = library::load_retention_policy(library_->catalog());
  const library::ErasureReport report =
      library::apply_retention(*library_, policy, static_cast<std::int64_t>(std::time(nullptr)));
  if (report.faces > 0) crops_.clear();
  send_json(response, nlohmann::json::parse(library::erasure_details_json("retention", report)));
}

}  // namespace likeness::server
