// `likeness serve`: the web page and the JSON API (docs/api.md) on this
// machine. Ctrl-C stops cleanly: an indexing run finishes the photos in
// flight and commits before the server exits.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "likeness/server/server.h"
#include "likeness/store/catalog.h"

namespace likeness::cli {
namespace {

struct ServeCommandOptions {
  LibraryLocation library;
  std::string host = "127.0.0.1";
  int port = 8080;
  bool allow_remote = false;
  std::uint64_t max_upload_mb = 32;
  int workers = 2;
  // Connection limits (server::ConnectionLimits has the defaults).
  std::size_t max_connections = server::ConnectionLimits{}.max_connections;
  std::size_t max_client_connections = server::ConnectionLimits{}.max_connections_per_client;
  double header_timeout_s = server::ConnectionLimits{}.header_timeout.count() / 1000.0;
  double idle_timeout_s = server::ConnectionLimits{}.idle_timeout.count() / 1000.0;
  std::uint64_t min_rate_kb = server::ConnectionLimits{}.min_transfer_rate / 1024;
};

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

int run_serve(const GlobalOptions& global, const ServeCommandOptions& options) {
  server::ServerOptions server_options;
  server_options.library_dir = library_dir(options.library);
  // Asked once here: the server reopens the library after each indexing run.
  server_options.library_passphrase =
      library_passphrase(options.library, store::catalog_is_encrypted(server_options.library_dir));
  server_options.models_dir = global.models_dir;
  server_options.host = options.host;
  server_options.port = options.port;
  server_options.allow_remote = options.allow_remote;
  server_options.max_upload_bytes = options.max_upload_mb << 20;
  server_options.index_workers = options.workers;
  server::ConnectionLimits& limits = server_options.connections;
  limits.max_connections = options.max_connections;
  limits.max_connections_per_client = options.max_client_connections;
  limits.header_timeout = milliseconds(options.header_timeout_s);
  limits.idle_timeout = milliseconds(options.idle_timeout_s);
  limits.min_transfer_rate = options.min_rate_kb * 1024;

  // Signals are taken by sigwait() on this thread rather than by a handler:
  // stopping the server (joining the indexing run) is not async-signal-safe.
  // Blocked before any thread starts, so every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::unique_ptr<server::Server> server = server::Server::create(server_options);
  if (server->remote()) {
    std::cerr << "likeness: warning: listening on " << options.host
              << ", not only on this machine: anyone who can reach this address and port can "
                 "see the library's faces and photos.\n";
  }
  std::cout << "Likeness is serving " << server_options.library_dir.string() << " at "
            << server->url() << "\nPress Ctrl-C to stop." << std::endl;

  bool listened = true;
  std::atomic<bool> stopping{false};
  std::thread serving([&] {
    listened = server->run();
    // Wake the main thread when the listener ends by itself.
    if (!stopping.load()) ::kill(::getpid(), SIGTERM);
  });
  int signal = 0;
  sigwait(&stop_signals, &signal);
  stopping.store(true);
  std::cerr << "likeness: stopping (finishing an indexing run first, if any)...\n";
  server->stop();
  serving.join();
  if (!listened) {
    std::cerr << "likeness: the server stopped listening unexpectedly\n";
    return 1;
  }
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<ServeCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve the web page and the JSON API (docs/api.md) for the library on this machine: "
      "upload a photo and find the person, browse and correct people, index folders. Binds "
      "127.0.0.1 unless --allow-remote. Ctrl-C stops cleanly.");
  add_library_option(cmd, options->library);
  cmd->add_option("--port,-p", options->port, "TCP port (0 = any free port; the URL shows it)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", options->host,
                  "Address to listen on; anything but loopback needs --allow-remote")
      ->capture_default_str();
  cmd->add_flag("--allow-remote", options->allow_remote,
                "Allow a --host that other machines can reach (they can then see the faces)");
  cmd->add_option("--max-upload-mb", options->max_upload_mb, "Largest photo upload, in MB")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--workers", options->workers,
                  "Photos analysed at once by an indexing run (one core each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  // Slow or idle clients hold a connection, never a request thread; these
  // bound how many and for how long (docs/api.md, "Connections").
  cmd->add_option("--max-connections", options->max_connections,
                  "Open connections in all; a new one closes the oldest idle or slow one")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  cmd->add_option("--max-client-connections", options->max_client_connections,
                  "Open connections from one address (on loopback every client is one)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  cmd->add_option("--header-timeout", options->header_timeout_s,
                  "Seconds a client has to send a request's headers (in all, not per read); "
                  "also the grace for a body or an answer")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--idle-timeout", options->idle_timeout_s,
                  "Seconds a kept-alive connection may wait for its next request")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--min-rate-kb", options->min_rate_kb,
                  "Slowest accepted request body or answer, in KB/s (after the grace)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
  cmd->callback([options, &global, &exit_code] { exit_code = run_serve(global, *options); });
}

}  // namespace likeness::cli
