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
// needs the per-run token; uploads are bounded; photos and crops only by
// catalog id; no CORS headers; nothing is fetched from the network.
//
// Errors: create() throws UsageError for a non-loopback host without
// allow_remote and for a port that cannot be bound, ModelError for missing
// models (with the repair command), StoreError for a library that cannot be
// opened. Requests never throw out of the server: they get JSON errors.
// Thread-safety: stop() may be called from any thread (not from a signal
// handler); run() from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "likeness/library/photo_analyzer.h"

namespace likeness::server {

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
