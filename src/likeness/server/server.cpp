#include "likeness/server/server.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "likeness/core/error.h"
#include "likeness/server/server_impl.h"
#include "likeness/server/static_files.h"

namespace likeness::server {
namespace {

// Multipart framing around the photo (boundaries, part headers) on top of
// --max-upload-mb, so that a photo of exactly the limit still gets through
// httplib; the photo itself is then checked against the limit exactly.
constexpr std::size_t kMultipartOverhead = 64 * 1024;

// On every answer, the gate's own included (docs/api.md). No CORS headers,
// ever: other sites' pages must not read our answers.
httplib::Headers security_headers() {
  return {{"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"}};
}

// "1048576 bytes (1 MB)"
std::string bytes_text(std::uint64_t bytes) {
  std::string text = std::to_string(bytes) + " bytes";
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) {
    text += " (" + std::to_string(bytes >> 20) + " MB)";
  } else if (bytes >= 1024 && bytes % 1024 == 0) {
    text += " (" + std::to_string(bytes >> 10) + " KB)";
  }
  return text;
}

std::string default_error_code(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 403:
      return "forbidden";
    case 404:
      return "unknown_route";
    case 405:
      return "method_not_allowed";
    case 413:
      return "body_too_large";
    case 415:
      return "unsupported_media";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

}  // namespace

std::unique_ptr<Server> Server::create(const ServerOptions& options) {
  if (!is_loopback_host(options.host) && !options.allow_remote) {
    throw UsageError("--host " + options.host +
                     " is not a loopback address: anyone who can reach it could see the "
                     "library's faces. Add --allow-remote to bind it anyway, or use 127.0.0.1.");
  }
  if (options.port < 0 || options.port > 65535) {
    throw UsageError("--port must be from 0 to 65535 (0 = any free port), not " +
                     std::to_string(options.port));
  }
  ServerOptions resolved = options;
  if (resolved.library_dir.empty()) resolved.library_dir = library::default_library_dir();
  auto store = std::make_unique<infer::ModelStore>(
      infer::ModelStore::open({.models_dir = resolved.models_dir}));
  auto analyzer = library::PhotoAnalyzer::create(*store, resolved.analyzer);
  auto library =
      library::Library::open(resolved.library_dir, {.passphrase = resolved.library_passphrase});
  auto server = std::make_unique<HttpServer>(resolved, std::move(store), std::move(library),
                                             std::move(analyzer));
  server->bind();
  return server;
}

HttpServer::HttpServer(const ServerOptions& options, std::unique_ptr<infer::ModelStore> store,
                       std::unique_ptr<library::Library> library,
                       std::unique_ptr<library::PhotoAnalyzer> analyzer)
    : options_(options),
      store_(std::move(store)),
      analyzer_(std::move(analyzer)),
      token_(random_hex(32)),
      library_(std::move(library)),
      uploads_(LruOptions{options.recent_uploads, options.upload_lifetime}),
      crops_(LruOptions{options.cached_crops, std::chrono::seconds{0}}),
      http_(
          options.connections,
          [this](const std::string& method, const std::string& path) {
            return body_limit(method, path);
          },
          security_headers()) {
  IndexJobOptions job;
  job.library_dir = options_.library_dir;
  job.library_passphrase = options_.library_passphrase;
  job.indexer.analyzer = options_.analyzer;
  job.indexer.workers = options_.index_workers;
  job.batch_size = options_.index_batch_size;
  index_job_ = std::make_unique<IndexJob>(*store_, job, [this] { reopen_library(); });

  // A backstop: pre_route() refuses a body over its route's limit before
  // httplib reads it (httplib reads only multipart bodies, connection_gate.h).
  http_.set_payload_max_length(static_cast<std::size_t>(std::max<std::uint64_t>(
      options_.max_upload_bytes + kMultipartOverhead, options_.max_json_bytes)));
  http_.set_default_headers(security_headers());
  // Errors httplib produces itself (400 for a request line, header or
  // multipart body it cannot parse, 414, 416) get the same JSON shape as ours.
  http_.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = "The request failed (HTTP " + std::to_string(response.status) + ").";
        if (response.status == 413) message = "The request body is larger than the server accepts.";
        if (response.status == 400) {
          message = "The request is not valid HTTP/1.1 (request line, headers or multipart body).";
        }
        response.set_content(json_text(error_json(default_error_code(response.status), message)),
                             "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  // dispatch() catches everything; this is the backstop for what escapes it.
  http_.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string message = "unknown error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          message = e.what();
        } catch (...) {
        }
        response.status = 500;
        response.set_content(json_text(error_json("internal", message)), "application/json");
      });
  // Every request is checked and, but for multipart uploads, answered before
  // httplib would read a body: the checks run in docs/api.md's order, and a
  // body over its limit is never read (connection_gate.h).
  http_.set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        return pre_route(request, response);
      });
  // Multipart requests, once httplib has parsed their parts.
  http_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
    route_multipart(request, response);
  });
  install_routes();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::bind() {
  if (options_.port == 0) {
    port_ = http_.bind_to_any_port(options_.host);
    if (port_ <= 0) port_ = 0;
  } else if (http_.bind_to_port(options_.host, options_.port)) {
    port_ = options_.port;
  }
  if (port_ == 0) {
    throw UsageError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                     ": the port is in use or the address is not this machine's. Choose "
                     "another with --port (0 = any free port).");
  }
  host_check_ = std::make_unique<HostCheck>(options_.host, port_);
}

std::string HttpServer::url() const {
  std::string host = options_.host;
  if (is_wildcard_host(host)) host = "127.0.0.1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port_) + "/";
}

bool HttpServer::remote() const { return !is_loopback_host(options_.host); }

bool HttpServer::run() {
  {
    std::lock_guard<std::mutex> lock(run_mutex_);
    if (stop_requested_) return true;
    serving_ = true;
  }
  const bool ok = http_.listen_after_bind();
  run_finished_.store(true);
  return ok;
}

void HttpServer::stop() {
  std::call_once(stopped_, [this] {
    // The indexing run first: it finishes the photos in flight and commits,
    // which needs the library, not the listener.
    index_job_->stop_and_wait();
    {
      std::lock_guard<std::mutex> lock(run_mutex_);
      stop_requested_ = true;
      if (!serving_) return;
    }
    // run() may not have reached its accept loop yet; httplib's stop() only
    // stops a running loop.
    while (!http_.is_running() && !run_finished_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    http_.stop();
  });
}

void HttpServer::add_route(std::string method, const std::string& pattern, RouteHandler handler,
                           BodyKind body) {
  const std::uint64_t max_body = body == BodyKind::kUpload
                                     ? options_.max_upload_bytes + kMultipartOverhead
                                     : options_.max_json_bytes;
  routes_.push_back({std::move(method), std::regex(pattern), std::move(handler), body, max_body});
}

void HttpServer::install_routes() {
  using Request = httplib::Request;
  using Response = httplib::Response;
  auto plain = [this](void (HttpServer::*method)(const Request&, Response&)) -> RouteHandler {
    return [this, method](const Request& q, Response& r, const std::smatch&) {
      (this->*method)(q, r);
    };
  };
  // Routes whose first capture is an id; `code` and `what` name it in a 404.
  auto with_id = [this](void (HttpServer::*method)(const Request&, Response&, std::int64_t),
                        std::string code, std::string what) -> RouteHandler {
    return [this, method, code, what](const Request& q, Response& r, const std::smatch& m) {
      (this->*method)(q, r, path_id(m[1].str(), code, what));
    };
  };
  add_route("GET", "/api/session", plain(&HttpServer::get_session));
  add_route("GET", "/api/health", [this](const Request&, Response& r, const std::smatch&) {
    send_json(r, {{"ok", true}});
  });
  add_route("POST", "/api/uploads", plain(&HttpServer::post_upload), BodyKind::kUpload);
  add_route("POST", "/api/search", plain(&HttpServer::post_search));
  add_route("GET", R"(/api/photos/(\d+))",
            with_id(&HttpServer::get_photo, "unknown_photo", "photo"));
  add_route("GET", R"(/api/photos/(\d+)/image)",
            with_id(&HttpServer::get_photo_image, "unknown_photo", "photo"));
  add_route("GET", R"(/api/faces/(\d+))", with_id(&HttpServer::get_face, "unknown_face", "face"));
  add_route("GET", R"(/api/faces/(\d+)/crop)",
            with_id(&HttpServer::get_face_crop, "unknown_face", "face"));
  add_route("GET", "/api/people", plain(&HttpServer::get_people));
  add_route("POST", "/api/people/cluster", plain(&HttpServer::post_cluster));
  add_route("GET", R"(/api/people/(\d+))",
            with_id(&HttpServer::get_person, "unknown_person", "person"));
  add_route("PATCH", R"(/api/people/(\d+))",
            with_id(&HttpServer::patch_person, "unknown_person", "person"));
  add_route("POST", R"(/api/people/(\d+)/merge)",
            with_id(&HttpServer::post_merge, "unknown_person", "person"));
  add_route("POST", R"(/api/people/(\d+)/reject)",
            with_id(&HttpServer::post_reject, "unknown_person", "person"));
  add_route("POST", R"(/api/people/(\d+)/confirm)",
            with_id(&HttpServer::post_confirm, "unknown_person", "person"));
  add_route("POST", R"(/api/people/(\d+)/erase)",
            with_id(&HttpServer::post_erase_person, "unknown_person", "person"));
  add_route("GET", "/api/privacy/log", plain(&HttpServer::get_privacy_log));
  add_route("POST", R"(/api/people/(\d+)/export)",
            with_id(&HttpServer::post_export_person, "unknown_person", "person"));
  add_route("GET", "/api/privacy/retention", plain(&HttpServer::get_retention));
  add_route("PUT", "/api/privacy/retention", plain(&HttpServer::put_retention));
  add_route("POST", "/api/privacy/apply-retention", plain(&HttpServer::post_apply_retention));
  add_route("GET", "/api/index", plain(&HttpServer::get_index));
  add_route("POST", "/api/index", plain(&HttpServer::post_index));
  add_route("POST", "/api/index/stop", plain(&HttpServer::post_index_stop));
}

void HttpServer::check_host(const httplib::Request& request) const {
  const std::string host = request.get_header_value("Host");
  if (!host_check_->allows(host)) {
    throw ApiError(403, "forbidden_host",
                   "The Host header '" + host + "' is not this server's address (allowed: " +
                       host_check_->describe() + "); open " + url() + " instead.");
  }
}

void HttpServer::check_token(const httplib::Request& request) const {
  if (request.get_header_value("X-Likeness-Token").empty()) {
    throw ApiError(403, "missing_token",
                   request.method +
                       " requests need the header X-Likeness-Token with the session token "
                       "(GET /api/session gives it; it changes when the server restarts).");
  }
  if (!constant_time_equal(request.get_header_value("X-Likeness-Token"), token_)) {
    throw ApiError(403, "bad_token",
                   "The X-Likeness-Token header does not match this server's session token; "
                   "the server may have restarted: reload the page (GET /api/session).");
  }
}

httplib::Server::HandlerResponse HttpServer::pre_route(const httplib::Request& request,
                                                       httplib::Response& response) {
  bool parts_first = false;
  guarded(response, [&] {
    check_host(request);
    if (request.method != "GET" && request.method != "HEAD") check_token(request);
    const Target target = resolve(request, response);
    check_body_size(request, target);
    if (request.method == "POST" && request.is_multipart_form_data()) {
      parts_first = true;
      return;
    }
    run(request, response, target);
  });
  return parts_first ? httplib::Server::HandlerResponse::Unhandled
                     : httplib::Server::HandlerResponse::Handled;
}

void HttpServer::route_multipart(const httplib::Request& request, httplib::Response& response) {
  guarded(response, [&] { run(request, response, resolve(request, response)); });
}

void HttpServer::guarded(httplib::Response& response, const std::function<void()>& step) {
  try {
    step();
  } catch (const ApiError& e) {
    send_json(response, error_json(e.code(), e.what()), e.status());
  } catch (const UsageError& e) {
    // The library refused an edit the checks above let through (it changed
    // in between): the client's view is stale.
    send_json(response, error_json("bad_request", e.what()), 400);
  } catch (const std::exception& e) {
    // A broken model or database: its message says how to fix it.
    send_json(response, error_json("internal", e.what()), 500);
  }
}

HttpServer::Target HttpServer::resolve(const httplib::Request& request,
                                       httplib::Response& response) const {
  const std::string method = request.method == "HEAD" ? "GET" : request.method;
  std::string allowed;
  for (const Route& candidate : routes_) {
    std::smatch match;
    if (!std::regex_match(request.path, match, candidate.pattern)) continue;
    if (candidate.method == method) return {&candidate, match};
    if (allowed.find(candidate.method) == std::string::npos) {
      allowed += (allowed.empty() ? "" : ", ") + candidate.method;
    }
  }
  if (!allowed.empty()) {
    if (allowed.find("GET") != std::string::npos) allowed += ", HEAD";
    response.set_header("Allow", allowed);
    throw ApiError(
        405, "method_not_allowed",
        request.method + " is not allowed on " + request.path + "; use " + allowed + ".");
  }
  if (request.path.rfind("/api/", 0) != 0 && request.path != "/api") {
    if (method == "GET") return {};  // a file of the web page (404 when there is none)
    if (find_web_file(request.path) != nullptr) {
      response.set_header("Allow", "GET, HEAD");
      throw ApiError(405, "method_not_allowed",
                     request.method + " is not allowed on " + request.path + "; use GET.");
    }
  }
  throw ApiError(404, "unknown_route",
                 "There is no " + request.method + " " + request.path +
                     " in the API (docs/api.md lists the routes).");
}

void HttpServer::check_body_size(const httplib::Request& request, const Target& target) const {
  const RequestBody* body = GatedServer::current_body();
  const std::uint64_t size = body != nullptr ? body->size : request.body.size();
  const std::uint64_t limit =
      target.route != nullptr ? target.route->max_body : options_.max_json_bytes;
  if ((body == nullptr || body->read) && size <= limit) return;
  const std::string amount =
      (body != nullptr && !body->exact ? "more than " : "") + bytes_text(size);
  if (target.route != nullptr && target.route->body == BodyKind::kUpload) {
    throw ApiError(413, "upload_too_large",
                   "The upload is " + amount + "; the server accepts photos of at most " +
                       bytes_text(options_.max_upload_bytes) +
                       "; likeness serve --max-upload-mb sets the limit.");
  }
  throw ApiError(413, "body_too_large",
                 "The request body is " + amount + "; JSON request bodies are limited to " +
                     bytes_text(options_.max_json_bytes) + ".");
}

void HttpServer::run(const httplib::Request& request, httplib::Response& response,
                     const Target& target) {
  if (target.route == nullptr) return get_static(request, response);
  target.route->handler(request, response, target.match);
}

std::uint64_t HttpServer::body_limit(const std::string& method, const std::string& path) const {
  const std::string routed = method == "HEAD" ? "GET" : method;
  for (const Route& candidate : routes_) {
    if (candidate.method == routed && std::regex_match(path, candidate.pattern)) {
      return candidate.max_body;
    }
  }
  // No route: a 404 or 405 follows, and a small body may as well be read so
  // that the connection stays usable.
  return options_.max_json_bytes;
}

void HttpServer::get_static(const httplib::Request& request, httplib::Response& response) {
  const EmbeddedFile* file = find_web_file(request.path);
  if (file == nullptr) {
    if (request.path == "/" || request.path == "/index.html") {
      throw ApiError(404, "no_web_page",
                     "This build of likeness has no web page (web/index.html was absent when it "
                     "was built); the API under /api/ works. Rebuild after adding web/.");
    }
    throw ApiError(404, "unknown_route", "There is no file " + request.path + " in the web page.");
  }
  response.set_header("Cache-Control", "no-cache");
  response.set_content(reinterpret_cast<const char*>(file->data), file->size,
                       std::string(file->content_type).c_str());
}

void HttpServer::get_session(const httplib::Request&, httplib::Response& response) {
  nlohmann::json library_json;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    store::Catalog& catalog = library_->catalog();
    library_json = {{"dir", library_->dir().string()},
                    {"photos", catalog.photo_count(store::PhotoStatus::kIndexed)},
                    {"faces", catalog.face_count()},
                    {"people", catalog.list_people().size()}};
  }
  send_json(response, {{"token", token_},
                       {"version", LIKENESS_VERSION},
                       {"library", library_json},
                       {"max_upload_bytes", options_.max_upload_bytes},
                       {"min_face_px", options_.analyzer.min_face_size},
                       {"indexing", index_job_->running()}});
}

void HttpServer::reopen_library() {
  // Opened outside the lock (it reads the catalog), swapped in under it.
  auto reopened =
      library::Library::open(options_.library_dir, {.passphrase = options_.library_passphrase});
  reopened->vector_index();  // load now rather than in the next search
  std::unique_ptr<library::Library> old;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    old = std::exchange(library_, std::move(reopened));
  }
  // A re-indexed photo's faces got new ids; cached crops of removed ids must go.
  crops_.clear();
}

void HttpServer::send_json(httplib::Response& response, const nlohmann::json& body, int status) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_content(json_text(body), "application/json");
}

void HttpServer::send_jpeg(httplib::Response& response, std::string bytes) {
  response.status = 200;
  response.set_header("Cache-Control",
                      "private, max-age=" + std::to_string(options_.image_max_age.count()));
  response.set_content(std::move(bytes), "image/jpeg");
}

}  // namespace likeness::server
