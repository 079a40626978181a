// `likeness serve`: the JSON HTTP API of docs/api.md and the web page (its
// files compiled into the binary), over one photo library. A thin shell over
// likeness/library: every route calls the same functions as the CLI.
//
//   ServerOptions options;
//   options.library_dir = dir;
//   options.port = 0;                       // any free port
//   auto server = likeness::server::Server::create(options);
//   std::cout << server->url() << '\n';     // http://127.0.0.1:41237/
//   std::thread serving([&] { server->run(); });
//   ...
//   server->stop();  serving.join();
//
// Security (docs/api.md): binds 127.0.0.1 unless allow_remote; refuses
// foreign Host headers (DNS rebinding); every request that is not GET/HEAD
// needs the per-run token; uploads and JSON bodies are bounded; slow or idle
// clients are cut off (ConnectionLimits); photos and crops only by catalog
// id; no CORS headers; nothing is fetched from the network.
//
// Errors: create() throws UsageError for a non-loopback host without
// allow_remote and for a port that cannot be bound, ModelError for missing
// models (with the repair command), StoreError for a library that cannot be
// opened. Requests never throw out of the server: they get JSON errors.
// Thread-safety: stop() may be called from any thread (not from a signal
// handler); run() from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "likeness/library/photo_analyzer.h"

namespace likeness::server {

// How long, how many and how much clients may take (docs/api.md,
// "Connections"). Connections are owned by one thread that reads requests
// without blocking; only complete requests reach the request threads, so a
// client that is slow (or idle, or never finishes) holds a connection slot,
// never a thread.
struct ConnectionLimits {
  int request_threads = 8;  // threads that run complete requests (the handlers)
  // Open connections in all, and from one client address. A new connection
  // over either limit closes the oldest connection that is idle, still sending
  // its request, or still receiving its answer (in that order); it is refused
  // with 503 only when every connection of the client (or in all) is being
  // served. On loopback every client has the same address: evicting rather
  // than refusing is what keeps a normal request working.
  std::size_t max_connections = 256;
  std::size_t max_connections_per_client = 32;
  // Time for a request line and headers, from the connection (or, after an
  // earlier request, from the first byte); total time, not per read.
  std::chrono::milliseconds header_timeout{10'000};
  // Keep-alive: time from an answer to the first byte of the next request.
  std::chrono::milliseconds idle_timeout{5'000};
  // A request body must arrive, and an answer be taken, within header_timeout
  // plus its size at this rate (bytes per second).
  std::uint64_t min_transfer_rate = 64 * 1024;
  std::size_t max_header_bytes = 32 * 1024;  // request line and headers (431 over it)
  // Request bodies held in memory at once. A body that would go over cuts the
  // bodies that have been arriving longest (503: on loopback a body takes
  // milliseconds, so those are the slow ones); it waits only for bodies that
  // are complete and being served. One body is always accepted.
  std::uint64_t max_buffered_body_bytes = std::uint64_t{256} << 20;
  // After a last answer, how long what the client still sends is read and
  // dropped, so that the client sees the answer rather than a reset.
  std::chrono::milliseconds linger_timeout{2'000};
};

struct ServerOptions {
  std::filesystem::path library_dir;  // empty = library::default_library_dir()
  std::string library_passphrase;     // an encrypted library's (store/encryption.h)
  std::filesystem::path models_dir;   // empty = infer::ModelStore::default_models_dir()
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 = a free port chosen by the system (see Server::port())
  // Needed for any host that is not loopback: anyone who can reach the
  // address can then see the library's faces.
  bool allow_remote = false;
  std::uint64_t max_upload_bytes = std::uint64_t{32} << 20;
  // Every request body but an upload's is JSON; larger ones get 413.
  std::uint64_t max_json_bytes = std::uint64_t{1} << 20;
  ConnectionLimits connections{};
  library::AnalyzerOptions analyzer{};            // uploads and indexing
  int index_workers = 2;                          // photos analysed at once by an indexing run
  std::size_t index_batch_size = 25;              // photos per commit of an indexing run
  std::size_t recent_uploads = 16;                // uploads whose faces stay searchable...
  std::chrono::seconds upload_lifetime{30 * 60};  // ...for this long
  std::size_t cached_crops = 512;                 // encoded face crops kept in memory
  // Cache-Control max-age of photos and crops (ids are not reused).
  std::chrono::seconds image_max_age{3600};
};

class Server {
 public:
  // Opens the library (created when missing), loads the models and binds
  // the port; serving starts with run().
  static std::unique_ptr<Server> create(const ServerOptions& options);
  virtual ~Server() = default;

  virtual int port() const = 0;  // the bound port (the real one for port 0)
  // "http://127.0.0.1:PORT/" ("[::1]" for IPv6 hosts).
  virtual std::string url() const = 0;
  // The per-run token of X-Likeness-Token (also at GET /api/session).
  virtual const std::string& token() const = 0;
  // True when bound to a non-loopback address (the caller warns the user).
  virtual bool remote() const = 0;

  // Serves until stop(). Returns false when the server could not listen.
  virtual bool run() = 0;
  // Stops an indexing run first (photos in flight finished, committed,
  // index saved), then the listener. Idempotent.
  virtual void stop() = 0;
};

}  // namespace likeness::server
