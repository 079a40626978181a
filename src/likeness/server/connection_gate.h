// The server's front door (not a public header): an httplib::Server whose
// connections are owned by one "gate" thread instead of one request thread
// each. The gate accepts, reads every request head and body without blocking
// (epoll), enforces the deadlines and limits of ConnectionLimits, and hands
// only complete requests to a fixed pool of request threads, which run
// httplib's own request parsing and the routes on the bytes the gate read.
// Answers are taken back by the gate when the client is slow to read them.
// So a slow, idle or unfinished client costs a connection slot and a little
// memory, never a thread: others keep being answered.
//
// How it plugs into httplib 0.11.4 (Debian's compiled library): httplib's
// accept loop calls process_and_close_socket(), a private virtual overridden
// here to give the socket to the gate, through the TaskQueue supplied by
// new_task_queue (it runs that call at once on the accept thread). The request
// threads call the protected process_request() on a Stream over the bytes the
// gate received.
//
// What routes see of bodies: for a multipart/form-data request, httplib reads
// the body itself (from the gate's bytes, so it parses the parts); for every
// other request the gate's body is in Request::body before routing, and
// httplib must not read one, so the pre-routing handler has to answer those
// requests (httplib's own body reading would apply its compiled-in 8 KB limit
// to x-www-form-urlencoded bodies and mix their fields into the query
// parameters). A body over the limit of its route is not read at all:
// current_body() says so, the router answers 413 after its Host, token and
// route checks, and the connection is closed.
//
// Answers the gate gives itself, before any route sees the request: 400 for
// a head or body that is not well-formed HTTP/1.1 framing (only
// Content-Length or chunked bodies, strict CRLF lines), 408 when a head or
// body is not complete in time, 431 for a head over max_header_bytes, 503
// when a new connection finds its client's (or every) slot busy. Each is JSON
// ({"error": {"code", "message"}}) and closes the connection.
//
// Thread-safety: as httplib::Server (configure, then listen on one thread;
// stop() from any). current_body() is per thread.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "likeness/server/server.h"

namespace likeness::server {

// What the gate knows about the body of the request a request thread serves.
struct RequestBody {
  bool read = true;  // false: over `limit`, left unread (the connection closes after the answer)
  std::uint64_t size = 0;   // bytes (decoded, for a chunked body)
  bool exact = true;        // false: a chunked body not read; it has more than `size` bytes
  std::uint64_t limit = 0;  // the largest body the gate accepted for this request
};

// The largest body the gate reads for a request, from its method and its
// path (percent-decoded as httplib decodes it). Called on the gate thread:
// it must be thread-safe and quick.
using BodyLimitFunction =
    std::function<std::uint64_t(const std::string& method, const std::string& path)>;

// Counters since the server started, for tests and benchmarks.
struct GateStats {
  std::uint64_t accepted = 0;
  std::uint64_t requests = 0;   // handed to a request thread
  std::uint64_t evicted = 0;    // closed to make room for a new connection
  std::uint64_t refused = 0;    // new connections answered 503
  std::uint64_t timed_out = 0;  // heads, bodies, idle connections or answers over their time
  std::size_t open = 0;         // connections open now
};

class GatedServer : public httplib::Server {
 public:
  // `headers` are added to the gate's own answers (the server's security
  // headers); httplib's default headers are set as usual for the others.
  GatedServer(const ConnectionLimits& limits, BodyLimitFunction body_limit,
              httplib::Headers headers);
  ~GatedServer() override;
  GatedServer(const GatedServer&) = delete;
  GatedServer& operator=(const GatedServer&) = delete;

  // The body of the request the calling thread is serving (from httplib's
  // handlers, on a request thread); nullptr on any other thread.
  static const RequestBody* current_body();

  GateStats stats() const;

  class Gate;  // connection_gate.cpp

 private:
  bool process_and_close_socket(socket_t sock) override;

  std::unique_ptr<Gate> gate_;
};

}  // namespace likeness::server
