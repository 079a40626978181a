// The server's insides (not a public header): state shared by the routes,
// the router and the handlers, split over server.cpp (infrastructure,
// session, static files), routes_uploads.cpp (uploads, search),
// routes_library.cpp (photos, faces, people), routes_index.cpp and
// routes_privacy.cpp (erasure, the audit log).
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "likeness/infer/model_store.h"
#include "likeness/library/library.h"
#include "likeness/library/photo_analyzer.h"
#include "likeness/match/recognizer.h"
#include "likeness/server/connection_gate.h"
#include "likeness/server/http_json.h"
#include "likeness/server/index_job.h"
#include "likeness/server/lru_cache.h"
#include "likeness/server/media.h"
#include "likeness/server/security.h"
#include "likeness/server/server.h"

namespace likeness::server {

// An upload's faces, kept so that POST /api/search can use them without the
// photo being sent again. The pixels are not kept (describe() ran at upload).
struct UploadedPhoto {
  library::DetectedPhoto photo;               // bytes and view released
  std::vector<match::FaceDescription> faces;  // photo.faces' descriptions, same order
};

// An encoded crop; the key is (face id, size).
struct CachedJpeg {
  std::string bytes;
};

class HttpServer final : public Server {
 public:
  HttpServer(const ServerOptions& options, std::unique_ptr<infer::ModelStore> store,
             std::unique_ptr<library::Library> library,
             std::unique_ptr<library::PhotoAnalyzer> analyzer);
  ~HttpServer() override;

  int port() const override { return port_; }
  std::string url() const override;
  const std::string& token() const override { return token_; }
  bool remote() const override;
  bool run() override;
  void stop() override;

  // Binds host:port (0 = any); UsageError when it cannot.
  void bind();

 private:
  using RouteHandler =
      std::function<void(const httplib::Request&, httplib::Response&, const std::smatch&)>;
  enum class BodyKind { kJson, kUpload };
  struct Route {
    std::string method;  // "GET" also answers HEAD
    std::regex pattern;
    RouteHandler handler;
    BodyKind body = BodyKind::kJson;
    std::uint64_t max_body = 0;  // bytes of request body it takes
  };
  // What a request asks for: a route (with its captures) or a file of the web page.
  struct Target {
    const Route* route = nullptr;
    std::smatch match;  // into the request's path
  };

  void add_route(std::string method, const std::string& pattern, RouteHandler handler,
                 BodyKind body = BodyKind::kJson);
  void install_routes();
  // httplib's pre-routing handler, called once a request's head is parsed
  // and before httplib would read a body: the checks of docs/api.md in their
  // order (Host, token, route, body size), then the route itself, except for
  // a multipart POST, whose parts httplib parses first (route_multipart()).
  httplib::Server::HandlerResponse pre_route(const httplib::Request& request,
                                             httplib::Response& response);
  void route_multipart(const httplib::Request& request, httplib::Response& response);
  // Runs `step`, turning what it throws into the JSON error answer.
  void guarded(httplib::Response& response, const std::function<void()>& step);
  void check_host(const httplib::Request& request) const;
  void check_token(const httplib::Request& request) const;
  // 404 for no route, 405 (with Allow) for a known path with another method.
  Target resolve(const httplib::Request& request, httplib::Response& response) const;
  // 413 when the body is over its route's limit (or was too large to read).
  void check_body_size(const httplib::Request& request, const Target& target) const;
  void run(const httplib::Request& request, httplib::Response& response, const Target& target);
  // The gate's question (any thread): the largest body a request may send.
  std::uint64_t body_limit(const std::string& method, const std::string& path) const;

  // server.cpp
  void get_session(const httplib::Request&, httplib::Response&);
  void get_static(const httplib::Request&, httplib::Response&);
  // routes_uploads.cpp
  void post_upload(const httplib::Request&, httplib::Response&);
  void post_search(const httplib::Request&, httplib::Response&);
  // routes_library.cpp
  void get_photo(const httplib::Request&, httplib::Response&, std::int64_t photo_id);
  void get_photo_image(const httplib::Request&, httplib::Response&, std::int64_t photo_id);
  void get_face(const httplib::Request&, httplib::Response&, std::int64_t face_id);
  void get_face_crop(const httplib::Request&, httplib::Response&, std::int64_t face_id);
  void get_people(const httplib::Request&, httplib::Response&);
  void get_person(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void patch_person(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void post_merge(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void post_reject(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void post_confirm(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  // reject and confirm: the same request ({"face_id"}), checks and answer.
  using FaceDecision = void (*)(store::Catalog&, std::int64_t face_id, std::int64_t person_id);
  void post_face_decision(const httplib::Request&, httplib::Response&, std::int64_t person_id,
                          FaceDecision decide);
  void post_cluster(const httplib::Request&, httplib::Response&);
  // routes_privacy.cpp
  void post_erase_person(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void get_privacy_log(const httplib::Request&, httplib::Response&);
  void post_export_person(const httplib::Request&, httplib::Response&, std::int64_t person_id);
  void get_retention(const httplib::Request&, httplib::Response&);
  void put_retention(const httplib::Request&, httplib::Response&);
  void post_apply_retention(const httplib::Request&, httplib::Response&);
  // routes_index.cpp
  void get_index(const httplib::Request&, httplib::Response&);
  void post_index(const httplib::Request&, httplib::Response&);
  void post_index_stop(const httplib::Request&, httplib::Response&);

  // The person as GET /api/people/{id} shows it; library_mutex_ held.
  nlohmann::json person_json(std::int64_t person_id);
  // The library's writer lock for one edit (library_mutex_ held): another
  // process writing the library (a `likeness index` run, another server's
  // indexing) is ApiError 409 library_busy naming it, not a wait.
  std::unique_ptr<store::WriterLock> lock_for_edit();
  // Re-opens the server's Library so that its vector index includes what an
  // indexing run added (called by the IndexJob's worker).
  void reopen_library();
  void send_json(httplib::Response& response, const nlohmann::json& body, int status = 200);
  void send_jpeg(httplib::Response& response, std::string bytes);

  ServerOptions options_;
  std::unique_ptr<infer::ModelStore> store_;
  std::unique_ptr<library::PhotoAnalyzer> analyzer_;  // thread-safe: no lock
  std::string token_;

  // store::Catalog and Library are single-threaded: every use of library_
  // holds library_mutex_. Detection and description never do (they are the
  // slow part, and the analyzer is thread-safe).
  std::mutex library_mutex_;
  std::unique_ptr<library::Library> library_;

  LruCache<std::string, UploadedPhoto> uploads_;
  LruCache<std::pair<std::int64_t, int>, CachedJpeg> crops_;
  std::unique_ptr<IndexJob> index_job_;

  GatedServer http_;
  std::vector<Route> routes_;
  std::unique_ptr<HostCheck> host_check_;
  int port_ = 0;
  std::once_flag stopped_;
  std::mutex run_mutex_;  // orders run()'s start against stop()
  bool stop_requested_ = false;
  bool serving_ = false;
  std::atomic<bool> run_finished_{false};
};

}  // namespace likeness::server
