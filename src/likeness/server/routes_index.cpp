// POST /api/index, GET /api/index, POST /api/index/stop: the IndexJob does
// the work; these routes check the request and report.
#include <system_error>

#include "likeness/server/server_impl.h"

namespace likeness::server {

void HttpServer::get_index(const httplib::Request&, httplib::Response& response) {
  send_json(response, index_job_->status_json());
}

void HttpServer::post_index(const httplib::Request& request, httplib::Response& response) {
  const nlohmann::json body = parse_body_object(request);
  const std::string folder = required_string(body, "folder");
  const bool prune = optional_bool(body, "prune").value_or(false);
  if (folder.empty()) {
    throw ApiError(400, "missing_field", "Field 'folder' must name a folder of photos.");
  }
  const std::filesystem::path path(folder);
  if (!path.is_absolute()) {
    // The server's working folder means nothing to the page's user.
    throw ApiError(400, "relative_folder",
                   "Field 'folder' must be an absolute path, such as /home/ada/Pictures; '" +
                       folder + "' is relative.");
  }
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw ApiError(400, "missing_folder",
                   "The folder " + folder + " does not exist on the machine the server runs on.");
  }
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    if (const std::optional<store::WriterInfo> writer = library_->catalog().writer();
        writer && !index_job_->running()) {
      throw ApiError(409, "library_busy",
                     writer->describe() +
                         " is writing the library; index when it has "
                         "finished.");
    }
  }
  if (index_job_->start(path, prune) == IndexJob::Start::kAlreadyRunning) {
    throw ApiError(409, "index_running",
                   "An indexing run is already going; wait for it to end (GET /api/index) or "
                   "stop it (POST /api/index/stop).");
  }
  send_json(response, index_job_->status_json(), 202);
}

void HttpServer::post_index_stop(const httplib::Request&, httplib::Response& response) {
  index_job_->request_stop();
  send_json(response, index_job_->status_json());
}

}  // namespace likeness::server
