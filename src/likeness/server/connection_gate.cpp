#include "likeness/server/connection_gate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "likeness/server/http_json.h"

namespace likeness::server {
namespace {

using Clock = std::chrono::steady_clock;
using SetupRequest = std::function<void(httplib::Request&)>;

thread_local const RequestBody* t_current_body = nullptr;

// Bytes asked of recv() at a time. Past the end of a body the gate reads at
// most this much of what follows (a pipelined next request).
constexpr std::size_t kReadChunk = 16 * 1024;
// A chunk-size line (with its extensions) longer than this is malformed.
constexpr std::size_t kMaxChunkLine = 4096;
// A chunked body's framing may add this much to twice its data; more counts
// as over the limit (1-byte chunks would otherwise cost 6 bytes each).
constexpr std::uint64_t kChunkFramingAllowance = 64 * 1024;
// Requests on one connection; the last answer says "Connection: close", as
// httplib's Keep-Alive header ("max=") announces.
constexpr std::size_t kMaxRequestsPerConnection = 100;
// The first id of a connection; 0 is the gate's wake-up eventfd in epoll.
constexpr std::uint64_t kWakeId = 0;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim_space_and_tab(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// A chunked request body, parsed as it arrives. Stricter than httplib's own
// reader (which parses it again for multipart uploads): whatever this accepts,
// httplib reads as the same bytes.
class ChunkedBody {
 public:
  enum class Result { kMore, kDone, kBad };

  // Parses the part of `raw` (the body's bytes received so far, from its
  // start) not parsed yet, appending chunk data to `data`.
  Result parse(std::string_view raw, std::string& data, std::size_t max_trailer) {
    for (;;) {
      switch (state_) {
        case State::kSize: {
          const std::size_t nl = raw.find('\n', pos_);
          if (nl == std::string_view::npos) {
            return raw.size() - pos_ > kMaxChunkLine ? bad("a chunk-size line is too long")
                                                     : Result::kMore;
          }
          if (nl - pos_ > kMaxChunkLine) return bad("a chunk-size line is too long");
          if (nl == pos_ || raw[nl - 1] != '\r') {
            return bad("a chunk-size line does not end with CRLF");
          }
          const std::string_view line = raw.substr(pos_, nl - 1 - pos_);
          std::uint64_t size = 0;
          std::size_t digits = 0;
          for (; digits < line.size() && hex_digit(line[digits]) >= 0; ++digits) {
            if (digits == 15) return bad("a chunk size is too large");
            size = size * 16 + static_cast<std::uint64_t>(hex_digit(line[digits]));
          }
          if (digits == 0) return bad("a chunk size is not a hexadecimal number");
          // Chunk extensions (";name=value") are allowed and ignored.
          const std::string_view rest = trim_space_and_tab(line.substr(digits));
          if (!rest.empty() && rest.front() != ';') return bad("a chunk size is malformed");
          pos_ = nl + 1;
          left_ = size;
          state_ = size == 0 ? State::kTrailer : State::kData;
          break;
        }
        case State::kData: {
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(left_, raw.size() - pos_));
          data.append(raw.data() + pos_, n);
          pos_ += n;
          left_ -= n;
          if (left_ > 0) return Result::kMore;
          state_ = State::kDataEnd;
          break;
        }
        case State::kDataEnd:
          if (raw.size() - pos_ < 2) return Result::kMore;
          if (raw.compare(pos_, 2, "\r\n") != 0) return bad("a chunk is not followed by CRLF");
          pos_ += 2;
          state_ = State::kSize;
          break;
        case State::kTrailer: {
          const std::size_t nl = raw.find('\n', pos_);
          const std::size_t line = (nl == std::string_view::npos ? raw.size() : nl + 1) - pos_;
          if (trailer_ + line > max_trailer) return bad("the trailer fields are too large");
          if (nl == std::string_view::npos) return Result::kMore;
          trailer_ += line;
          const bool blank = line == 2 && raw[pos_] == '\r';
          pos_ = nl + 1;
          if (blank) {
            state_ = State::kDone;
            return Result::kDone;
          }
          break;
        }
        case State::kDone:
          return Result::kDone;
      }
    }
  }

  std::size_t consumed() const { return pos_; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };

  Result bad(const char* why) {
    error_ = why;
    return Result::kBad;
  }

  State state_ = State::kSize;
  std::size_t pos_ = 0;
  std::uint64_t left_ = 0;
  std::size_t trailer_ = 0;
  std::string error_;
};

enum class Phase {
  kHead,       // receiving a request's head (a new connection starts here)
  kIdle,       // keep-alive: answered; no byte of the next request yet
  kWaiting,    // head complete; its body waits for room in max_buffered_body_bytes
  kBody,       // head complete, receiving the body
  kQueued,     // a complete request waiting for a request thread
  kWorking,    // a request thread has it
  kWriting,    // sending (the rest of) an answer
  kLingering,  // last answer sent, write side shut; dropping what the client still sends
};

// The current request's framing, from its head.
struct Frame {
  std::size_t head_size = 0;  // request line and headers with the blank line
  bool chunked = false;
  std::uint64_t content_length = 0;
  bool expect_continue = false;
  std::uint64_t limit = 0;     // BodyLimitFunction's answer
  bool read_body = true;       // false: over the limit, not read
  std::size_t body_raw = 0;    // bytes of body framing, once complete
  std::uint64_t reserved = 0;  // of max_buffered_body_bytes
  Clock::time_point body_start;
  ChunkedBody chunks;
  std::string data;  // a chunked body's decoded data
};

struct Connection {
  std::uint64_t id = 0;
  int fd = -1;
  std::string client;  // the peer's address: the key of the per-client limit
  std::string remote_ip, local_ip;
  int remote_port = -1, local_port = -1;

  // Written by the gate thread only; read by it for any connection.
  Phase phase = Phase::kHead;
  Clock::time_point since;  // entered the phase: the eviction order
  Clock::time_point deadline;
  bool in_epoll = false;

  // Owned by whichever thread has the connection (the gate, or the request
  // thread while kWorking); handed over through the gate's queues.
  std::string in;              // received, not yet served
  std::size_t line_start = 0;  // of the head's line not complete yet
  std::size_t scanned = 0;     // `in` up to here has no LF after line_start
  std::string out;             // answer bytes not yet sent
  std::size_t out_sent = 0;    // of `out`
  Frame frame;
  std::size_t consumed = 0;  // bytes of `in` the request thread served
  std::size_t served = 0;    // requests answered
  bool peer_closed = false;  // the client shut its side
  bool close_after = false;  // close once `out` is sent
  bool broken = false;       // a send failed: close
};

// A Stream over one request's bytes (read) and the answer (written into
// memory), for httplib's process_request() on a request thread: it never
// waits on the network.
class ExchangeStream final : public httplib::Stream {
 public:
  ExchangeStream(const Connection& connection, std::string_view request, std::size_t head_size,
                 std::string& out)
      : connection_(connection), request_(request), end_(head_size), out_(out) {}

  // Lets httplib read the body after the head (multipart uploads).
  void enable_body() { end_ = request_.size(); }

  bool is_readable() const override { return pos_ < end_; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, end_ - pos_);
    std::memcpy(ptr, request_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = connection_.remote_ip;
    port = connection_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = connection_.local_ip;
    port = connection_.local_port;
  }
  socket_t socket() const override { return connection_.fd; }

 private:
  const Connection& connection_;
  std::string_view request_;
  std::size_t pos_ = 0;
  std::size_t end_;
  std::string& out_;
};

// The address of a socket's peer (or its own) as text, and its port.
bool address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? ::getpeername(fd, raw, &length) : ::getsockname(fd, raw, &length)) != 0) {
    return false;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  } else {
    return false;
  }
  ip = text;
  return true;
}

}  // namespace

class GatedServer::Gate {
 public:
  using Serve = std::function<bool(httplib::Stream&, bool close_connection, bool& connection_closed,
                                   const SetupRequest&)>;

  Gate(const ConnectionLimits& limits, BodyLimitFunction body_limit, httplib::Headers headers,
       Serve serve)
      : limits_(limits),
        body_limit_(std::move(body_limit)),
        headers_(std::move(headers)),
        serve_(std::move(serve)) {
    limits_.request_threads = std::max(1, limits_.request_threads);
    limits_.max_connections = std::max<std::size_t>(1, limits_.max_connections);
    limits_.max_connections_per_client =
        std::max<std::size_t>(1, limits_.max_connections_per_client);
    limits_.min_transfer_rate = std::max<std::uint64_t>(1, limits_.min_transfer_rate);
  }

  ~Gate() { stop(); }

  const ConnectionLimits& limits() const { return limits_; }

  // Starts the gate and request threads (httplib's accept loop is starting).
  void start() {
    stop();
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_ < 0 || wake_ < 0) {
      // Without them no connection can be served; the accept loop closes
      // what it is given (adopt() without a running gate).
      close_fd(epoll_);
      close_fd(wake_);
      return;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeId;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
    stopping_ = false;
    workers_stop_ = false;
    running_ = true;
    gate_thread_ = std::thread([this] { loop(); });
    for (int i = 0; i < limits_.request_threads; ++i) {
      workers_.emplace_back([this] { work(); });
    }
  }

  // Stops the threads (a request being served is finished first, its answer
  // sent if the socket takes it at once) and closes every connection.
  void stop() {
    if (!running_) return;
    stopping_ = true;
    wake();
    gate_thread_.join();
    {
      std::lock_guard<std::mutex> lock(ready_mutex_);
      workers_stop_ = true;
    }
    ready_cv_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    for (auto& [id, connection] : connections_) close_fd(connection->fd);
    connections_.clear();
    per_client_.clear();
    ready_.clear();
    waiting_.clear();
    reserved_ = 0;
    {
      std::lock_guard<std::mutex> lock(handoff_mutex_);
      for (int fd : incoming_) close_fd(fd);
      incoming_.clear();
      returned_.clear();
    }
    closed_.clear();
    open_ = 0;
    close_fd(epoll_);
    close_fd(wake_);
    running_ = false;
  }

  // A new connection from httplib's accept loop (any thread; returns at once).
  void adopt(int fd) {
    if (!running_) {
      close_fd(fd);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(handoff_mutex_);
      incoming_.push_back(fd);
    }
    wake();
  }

  GateStats stats() const {
    return {accepted_.load(), requests_.load(),  evicted_.load(),
            refused_.load(),  timed_out_.load(), open_.load()};
  }

 private:
  // ---- the gate thread ------------------------------------------------------

  void loop() {
    std::vector<epoll_event> events(128);
    while (!stopping_) {
      const int ready =
          ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait_ms());
      for (int i = 0; i < ready; ++i) {
        const std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
        if (id == kWakeId) {
          std::uint64_t count = 0;
          while (::read(wake_, &count, sizeof count) > 0) {
          }
          continue;
        }
        // An earlier event of this batch may have closed it.
        auto found = connections_.find(id);
        if (found != connections_.end()) {
          on_event(*found->second, events[static_cast<std::size_t>(i)].events);
        }
      }
      take_handoffs();
      // Timers after I/O: bytes that arrived in time are counted first.
      expire();
      if (reservations_freed_) admit_waiting();
      closed_.clear();
    }
  }

  // Milliseconds to the nearest deadline of a connection the gate holds.
  int wait_ms() const {
    Clock::time_point nearest = Clock::now() + std::chrono::seconds(1);
    for (const auto& [id, c] : connections_) {
      if (gate_holds(*c)) nearest = std::min(nearest, c->deadline);
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(nearest - Clock::now()).count();
    return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1000));
  }

  static bool gate_holds(const Connection& c) {
    return c.phase != Phase::kQueued && c.phase != Phase::kWorking;
  }

  void take_handoffs() {
    std::vector<int> incoming;
    std::vector<Connection*> returned;
    {
      std::lock_guard<std::mutex> lock(handoff_mutex_);
      incoming.swap(incoming_);
      returned.swap(returned_);
    }
    for (Connection* c : returned) after_request(*c);
    for (int fd : incoming) admit(fd);
  }

  void admit(int fd) {
    ++accepted_;
    const int flags = ::fcntl(fd, F_GETFL, 0);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    // Answers are written whole (the request thread buffers them), so Nagle's
    // algorithm would only add delayed-ACK stalls to keep-alive exchanges.
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    address_of(fd, true, c->remote_ip, c->remote_port);
    address_of(fd, false, c->local_ip, c->local_port);
    c->client = c->remote_ip;
    // An IPv4 client of a dual-stack socket is the same client as over IPv4.
    if (c->client.rfind("::ffff:", 0) == 0 && c->client.find('.') != std::string::npos) {
      c->client.erase(0, 7);
    }
    const bool client_full =
        per_client_[c->client] >= limits_.max_connections_per_client && !evict_one(&c->client);
    if (client_full || (connections_.size() >= limits_.max_connections && !evict_one(nullptr))) {
      ++refused_;
      const std::string answer = gate_answer(
          503, "too_many_connections",
          client_full
              ? "Too many connections from " + c->client + " are being served (at most " +
                    std::to_string(limits_.max_connections_per_client) + "); try again in a moment."
              : "The server is serving as many connections as it takes (" +
                    std::to_string(limits_.max_connections) + "); try again in a moment.");
      ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close_fd(fd);
      if (per_client_[c->client] == 0) per_client_.erase(c->client);
      return;
    }
    c->id = next_id_++;
    const Clock::time_point now = Clock::now();
    c->phase = Phase::kHead;
    c->since = now;
    c->deadline = now + limits_.header_timeout;
    ++per_client_[c->client];
    Connection& added = *c;
    connections_.emplace(c->id, std::move(c));
    open_ = connections_.size();
    watch(added, EPOLLIN);
  }

  // Closes the connection that gives least away, of `client` (or of anyone):
  // idle or lingering first, then one still sending its head, then its body,
  // then one slow to take its answer; the oldest of a kind. Connections with
  // a request queued or being served are never closed.
  bool evict_one(const std::string* client) {
    Connection* victim = nullptr;
    int victim_rank = 0;
    for (const auto& [id, c] : connections_) {
      if (client != nullptr && c->client != *client) continue;
      const int rank = eviction_rank(*c);
      if (rank < 0) continue;
      if (victim == nullptr || rank < victim_rank ||
          (rank == victim_rank && c->since < victim->since)) {
        victim = c.get();
        victim_rank = rank;
      }
    }
    if (victim == nullptr) return false;
    ++evicted_;
    if (victim->phase == Phase::kBody || victim->phase == Phase::kWaiting ||
        (victim->phase == Phase::kHead && !victim->in.empty())) {
      // Best effort: a client that is sending a request is told why.
      const std::string answer = gate_answer(
          503, "too_many_connections",
          "This connection was closed to make room for a newer one from " + victim->client +
              " (the server keeps at most " + std::to_string(limits_.max_connections_per_client) +
              " per address); send the request again.");
      ::send(victim->fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(*victim);
    return true;
  }

  static int eviction_rank(const Connection& c) {
    switch (c.phase) {
      case Phase::kIdle:
      case Phase::kLingering:
        return 0;
      case Phase::kHead:
        return 1;
      case Phase::kWaiting:
      case Phase::kBody:
        return 2;
      case Phase::kWriting:
        return 3;
      case Phase::kQueued:
      case Phase::kWorking:
        return -1;
    }
    return -1;
  }

  void on_event(Connection& c, std::uint32_t events) {
    switch (c.phase) {
      case Phase::kHead:
      case Phase::kIdle:
      case Phase::kBody:
        receive(c);
        break;
      case Phase::kWriting:
        if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLOUT) == 0) {
          close(c);
        } else {
          flush(c);
        }
        break;
      case Phase::kLingering:
        drain(c);
        break;
      case Phase::kWaiting:
      case Phase::kQueued:
      case Phase::kWorking:
        break;  // not watched
    }
  }

  // One recv() (level-triggered epoll brings the rest), then the framing.
  void receive(Connection& c) {
    std::size_t want = kReadChunk;
    if (c.phase == Phase::kBody && !c.frame.chunked) {
      // The body and at most kReadChunk of what follows it.
      const std::uint64_t end = c.frame.head_size + c.frame.content_length + kReadChunk;
      if (end <= c.in.size()) return advance(c);  // (recv of 0 bytes would read as EOF)
      want = static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunk, end - c.in.size()));
    } else if (c.phase != Phase::kBody) {
      // One byte over the limit tells a head that is too large.
      want = std::min(kReadChunk, limits_.max_header_bytes + 1 -
                                      std::min(c.in.size(), limits_.max_header_bytes));
    }
    char buffer[kReadChunk];
    const ssize_t n = ::recv(c.fd, buffer, want, 0);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close(c);
      return;
    }
    if (n == 0) {
      c.peer_closed = true;
    } else {
      c.in.append(buffer, static_cast<std::size_t>(n));
    }
    advance(c);
  }

  // Moves a connection the gate holds as far as its bytes allow: head, body,
  // a complete request handed to a request thread, or an answer and close.
  void advance(Connection& c) {
    const Clock::time_point now = Clock::now();
    if (c.phase == Phase::kIdle || c.phase == Phase::kHead) {
      if (c.in.empty()) {
        if (c.peer_closed) close(c);
        return;
      }
      if (c.phase == Phase::kIdle) {
        c.phase = Phase::kHead;
        c.since = now;
        c.deadline = now + limits_.header_timeout;
      }
      std::string error;
      const std::size_t head = find_head_end(c, error);
      if (!error.empty()) return fail(c, 400, "malformed_request", error);
      if (head == 0 || head > limits_.max_header_bytes) {
        if (c.in.size() > limits_.max_header_bytes || head > limits_.max_header_bytes) {
          return fail(c, 431, "headers_too_large",
                      "The request line and headers are over " +
                          std::to_string(limits_.max_header_bytes) + " bytes.");
        }
        if (c.peer_closed) {
          return fail(c, 400, "malformed_request",
                      "The connection ended before the request's headers did.");
        }
        return;
      }
      c.frame = Frame{};
      c.frame.head_size = head;
      std::string method, path;
      error = parse_head(std::string_view(c.in).substr(0, head), c.frame, method, path);
      if (!error.empty()) return fail(c, 400, "malformed_request", error);
      c.frame.limit = body_limit_(method, path);
      if (!c.frame.chunked && c.frame.content_length == 0) return dispatch(c);
      if (!c.frame.chunked && c.frame.content_length > c.frame.limit) {
        // Not read: the router answers (403, 404, 405 or 413) and the
        // connection closes.
        c.frame.read_body = false;
        return dispatch(c);
      }
      const std::uint64_t need = c.frame.chunked ? c.frame.limit : c.frame.content_length;
      c.phase = Phase::kWaiting;
      c.since = now;
      c.deadline = now + allowance(need);
      if (!reserve(c, need)) {
        unwatch(c);
        waiting_.push_back(c.id);
        return;
      }
      begin_body(c);
    }
    if (c.phase != Phase::kBody) return;
    Frame& f = c.frame;
    const std::string_view raw = std::string_view(c.in).substr(f.head_size);
    if (!f.chunked) {
      if (raw.size() >= f.content_length) {
        f.body_raw = static_cast<std::size_t>(f.content_length);
        return dispatch(c);
      }
    } else {
      const ChunkedBody::Result result = f.chunks.parse(raw, f.data, limits_.max_header_bytes);
      if (result == ChunkedBody::Result::kBad) {
        return fail(c, 400, "malformed_request",
                    "The chunked body is malformed: " + f.chunks.error() + ".");
      }
      if (f.data.size() > f.limit || f.chunks.consumed() > 2 * f.limit + kChunkFramingAllowance) {
        f.read_body = false;
        return dispatch(c);
      }
      if (result == ChunkedBody::Result::kDone) {
        f.body_raw = f.chunks.consumed();
        return dispatch(c);
      }
      // A chunked body's size is known as it comes: its time grows with it.
      c.deadline = f.body_start + allowance(raw.size());
    }
    if (c.peer_closed) {
      return fail(c, 400, "malformed_request",
                  "The connection ended before the request's body did.");
    }
  }

  // The size of the head (through its blank line) when `c.in` holds all of
  // it, else 0. Lines must end with CRLF: httplib skips a line that ends with
  // a bare LF, so the two would disagree on where the head ends.
  static std::size_t find_head_end(Connection& c, std::string& error) {
    std::size_t line = c.line_start;
    // Each byte is looked at once, however slowly the head comes.
    std::size_t from = std::max(line, c.scanned);
    for (;;) {
      const std::size_t nl = c.in.find('\n', from);
      if (nl == std::string::npos) {
        c.line_start = line;
        c.scanned = c.in.size();
        return 0;
      }
      if (nl == 0 || c.in[nl - 1] != '\r') {
        error = "A line of the request head ends with LF alone; lines end with CRLF.";
        return 0;
      }
      // The first line is the request line, whatever it holds.
      if (line > 0 && nl == line + 1) return nl + 1;
      line = nl + 1;
      from = line;
    }
  }

  // Reads the framing of a head and, for the body limit, its method and
  // path (split and percent-decoded as httplib does). Returns what is wrong.
  static std::string parse_head(std::string_view head, Frame& frame, std::string& method,
                                std::string& path) {
    const std::size_t request_line_end = head.find("\r\n");
    std::vector<std::string> parts;
    httplib::detail::split(head.data(), head.data() + request_line_end, ' ',
                           [&](const char* b, const char* e) { parts.emplace_back(b, e); });
    if (parts.size() >= 2) {
      method = parts[0];
      std::string target = parts[1].substr(0, parts[1].find('#'));
      bool first = true;
      httplib::detail::split(target.data(), target.data() + target.size(), '?',
                             [&](const char* b, const char* e) {
                               if (first)
                                 path = httplib::detail::decode_url(std::string(b, e), false);
                               first = false;
                             });
    }
    bool has_length = false;
    // Header lines up to the blank line (the last two bytes).
    for (std::size_t at = request_line_end + 2; at + 2 < head.size();) {
      const std::size_t end = head.find("\r\n", at);
      const std::string_view line = head.substr(at, end - at);
      at = end + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return "A header line has no ':'.";
      const std::string_view name = line.substr(0, colon);
      if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
        return "A header name is empty or has white space.";
      }
      const std::string_view value = trim_space_and_tab(line.substr(colon + 1));
      if (iequals(name, "Content-Length")) {
        if (value.empty() || value.size() > 18 ||
            value.find_first_not_of("0123456789") != std::string_view::npos) {
          return "Content-Length must be a number of bytes.";
        }
        const std::uint64_t length = std::stoull(std::string(value));
        if (has_length && length != frame.content_length) {
          return "The request has two different Content-Length headers.";
        }
        has_length = true;
        frame.content_length = length;
      } else if (iequals(name, "Transfer-Encoding")) {
        if (!iequals(value, "chunked") || frame.chunked) {
          return "Transfer-Encoding must be 'chunked' (once); send other bodies with "
                 "Content-Length.";
        }
        frame.chunked = true;
      } else if (iequals(name, "Expect")) {
        frame.expect_continue = iequals(value, "100-continue");
      }
    }
    if (frame.chunked && has_length) {
      return "The request has both Content-Length and Transfer-Encoding.";
    }
    return "";
  }

  void begin_body(Connection& c) {
    const Clock::time_point now = Clock::now();
    c.phase = Phase::kBody;
    c.since = now;
    c.frame.body_start = now;
    c.deadline = now + allowance(c.frame.chunked ? 0 : c.frame.content_length);
    if (c.frame.expect_continue && c.in.size() == c.frame.head_size) {
      // The client waits for this before it sends the body (curl, for a
      // second, on large uploads); the request thread must not send another.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    watch(c, EPOLLIN);
  }

  bool reserve(Connection& c, std::uint64_t bytes) {
    // A body that does not fit cuts the bodies in progress longest: held
    // memory must not make later bodies wait for the holders' deadlines
    // (minutes, for a large Content-Length sent slowly or not at all). A body
    // on loopback takes milliseconds, so the one cut is the slow one. Bodies
    // complete and being served are not cut: a body waits only for them.
    while (reserved_ > 0 && reserved_ + bytes > limits_.max_buffered_body_bytes) {
      Connection* oldest = nullptr;
      for (const auto& [id, other] : connections_) {
        if (other->phase == Phase::kBody && other->frame.reserved > 0 &&
            (oldest == nullptr || other->frame.body_start < oldest->frame.body_start)) {
          oldest = other.get();
        }
      }
      if (oldest == nullptr) return false;
      ++evicted_;
      const std::string answer = gate_answer(
          503, "too_many_bodies",
          "This request's body was cut to make room for newer ones (the server holds at most " +
              std::to_string(limits_.max_buffered_body_bytes) +
              " bytes of request bodies at once, and cuts the slowest); send it again.");
      ::send(oldest->fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(*oldest);
    }
    // One body is always taken, however large: it would otherwise wait forever.
    reserved_ += bytes;
    c.frame.reserved = bytes;
    return true;
  }

  void release(Connection& c) {
    if (c.frame.reserved == 0) return;
    reserved_ -= c.frame.reserved;
    c.frame.reserved = 0;
    reservations_freed_ = true;
  }

  // Bodies that waited for room, in their order.
  void admit_waiting() {
    reservations_freed_ = false;
    while (!waiting_.empty()) {
      auto found = connections_.find(waiting_.front());
      if (found == connections_.end() || found->second->phase != Phase::kWaiting) {
        waiting_.pop_front();
        continue;
      }
      Connection& c = *found->second;
      const std::uint64_t need = c.frame.chunked ? c.frame.limit : c.frame.content_length;
      if (!reserve(c, need)) return;
      waiting_.pop_front();
      begin_body(c);
      advance(c);  // some of the body may have come with the head
    }
  }

  void dispatch(Connection& c) {
    c.phase = Phase::kQueued;
    c.since = Clock::now();
    unwatch(c);
    ++requests_;
    {
      std::lock_guard<std::mutex> lock(ready_mutex_);
      ready_.push_back(&c);
    }
    ready_cv_.notify_one();
  }

  // A request thread is done with `c`: what is left of its answer is sent
  // from here, then the connection waits for the next request or closes.
  void after_request(Connection& c) {
    c.in.erase(0, std::min(c.consumed, c.in.size()));
    c.line_start = 0;
    c.scanned = 0;
    c.consumed = 0;
    release(c);
    c.frame = Frame{};
    if (c.broken) return close(c);
    if (c.out_sent < c.out.size()) {
      c.phase = Phase::kWriting;
      c.since = Clock::now();
      c.deadline = c.since + allowance(c.out.size() - c.out_sent);
      watch(c, EPOLLOUT);
      return;
    }
    answered(c);
  }

  void answered(Connection& c) {
    c.out.clear();
    c.out_sent = 0;
    const Clock::time_point now = Clock::now();
    if (c.close_after) {
      if (c.peer_closed) return close(c);
      // Closing with unread bytes would reset the connection, and the client
      // could lose the answer: shut the write side and drop what comes.
      ::shutdown(c.fd, SHUT_WR);
      c.in.clear();
      c.phase = Phase::kLingering;
      c.since = now;
      c.deadline = now + limits_.linger_timeout;
      watch(c, EPOLLIN);
      return;
    }
    c.phase = Phase::kIdle;
    c.since = now;
    c.deadline = now + limits_.idle_timeout;
    watch(c, EPOLLIN);
    advance(c);  // a pipelined request may be there already
  }

  void flush(Connection& c) {
    while (c.out_sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return close(c);
      }
      c.out_sent += static_cast<std::size_t>(n);
    }
    answered(c);
  }

  void drain(Connection& c) {
    char buffer[kReadChunk];
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close(c);
  }

  // Answers `status` and closes (after lingering).
  void fail(Connection& c, int status, const std::string& code, const std::string& message) {
    release(c);
    c.in.clear();
    c.out = gate_answer(status, code, message);
    c.out_sent = 0;
    c.close_after = true;
    c.phase = Phase::kWriting;
    c.since = Clock::now();
    c.deadline = c.since + allowance(c.out.size());
    watch(c, EPOLLOUT);
    flush(c);
  }

  void expire() {
    const Clock::time_point now = Clock::now();
    std::vector<Connection*> late;
    for (const auto& [id, c] : connections_) {
      if (gate_holds(*c) && c->deadline <= now && c->phase != Phase::kWaiting) {
        late.push_back(c.get());
      }
    }
    expire(late);
    // A body that waited is taken if the room is there now (perhaps freed by
    // the bodies just cut), rather than refused for having waited.
    if (reservations_freed_) admit_waiting();
    late.clear();
    for (const auto& [id, c] : connections_) {
      if (c->phase == Phase::kWaiting && c->deadline <= now) late.push_back(c.get());
    }
    expire(late);
  }

  void expire(const std::vector<Connection*>& late) {
    for (Connection* c : late) {
      switch (c->phase) {
        case Phase::kHead:
          ++timed_out_;
          if (c->in.empty()) {
            close(*c);  // never sent a byte: nothing to answer
          } else {
            fail(*c, 408, "request_timeout",
                 "The request's headers did not arrive within " + timeout_text() + ".");
          }
          break;
        case Phase::kWaiting:
        case Phase::kBody:
          ++timed_out_;
          fail(*c, 408, "request_timeout",
               "The request's body did not arrive in time (" + timeout_text() + ", plus " +
                   std::to_string(limits_.min_transfer_rate / 1024) + " KB a second).");
          break;
        case Phase::kIdle:
        case Phase::kWriting:
          ++timed_out_;
          close(*c);
          break;
        case Phase::kLingering:
          close(*c);
          break;
        case Phase::kQueued:
        case Phase::kWorking:
          break;
      }
    }
  }

  std::string timeout_text() const {
    const auto ms = limits_.header_timeout.count();
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
    return std::to_string(ms) + " ms";
  }

  // The time a transfer of `bytes` may take.
  Clock::duration allowance(std::uint64_t bytes) const {
    const std::chrono::duration<double> at_rate(static_cast<double>(bytes) /
                                                static_cast<double>(limits_.min_transfer_rate));
    return limits_.header_timeout + std::chrono::duration_cast<Clock::duration>(at_rate);
  }

  std::string gate_answer(int status, const std::string& code, const std::string& message) const {
    const std::string body = json_text(error_json(code, message));
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\nCache-Control: no-store\r\n";
    for (const auto& [name, value] : headers_) out += name + ": " + value + "\r\n";
    return out + "\r\n" + body;
  }

  void watch(Connection& c, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = c.id;
    if (::epoll_ctl(epoll_, c.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &event) == 0) {
      c.in_epoll = true;
    }
  }

  void unwatch(Connection& c) {
    if (!c.in_epoll) return;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    c.in_epoll = false;
  }

  void close(Connection& c) {
    unwatch(c);
    release(c);
    close_fd(c.fd);
    auto count = per_client_.find(c.client);
    if (count != per_client_.end() && --count->second == 0) per_client_.erase(count);
    // Freed at the end of the loop's turn: events of this turn may name it.
    auto found = connections_.find(c.id);
    closed_.push_back(std::move(found->second));
    connections_.erase(found);
    open_ = connections_.size();
  }

  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  void wake() {
    const std::uint64_t one = 1;
    if (wake_ >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(wake_, &one, sizeof one);
    }
  }

  // ---- request threads ------------------------------------------------------

  void work() {
    for (;;) {
      Connection* c = nullptr;
      {
        std::unique_lock<std::mutex> lock(ready_mutex_);
        ready_cv_.wait(lock, [&] { return workers_stop_ || !ready_.empty(); });
        if (workers_stop_) return;
        c = ready_.front();
        ready_.pop_front();
      }
      serve(*c);
      {
        std::lock_guard<std::mutex> lock(handoff_mutex_);
        returned_.push_back(c);
      }
      wake();
    }
  }

  void serve(Connection& c) {
    Frame& f = c.frame;
    const std::size_t request_size = f.head_size + (f.read_body ? f.body_raw : 0);
    const std::string_view request = std::string_view(c.in).substr(0, request_size);
    RequestBody body;
    body.read = f.read_body;
    body.size = f.chunked ? f.data.size() : (f.read_body ? f.body_raw : f.content_length);
    body.exact = f.read_body || !f.chunked;
    body.limit = f.limit;
    ExchangeStream stream(c, request, f.head_size, c.out);
    const bool close_connection =
        !f.read_body || stopping_ || c.served + 1 >= kMaxRequestsPerConnection;
    bool connection_closed = false;
    bool ok = false;
    t_current_body = &body;
    try {
      ok = serve_(stream, close_connection, connection_closed, [&](httplib::Request& req) {
        // The gate answered Expect (100 Continue) already, or left the
        // body unread on purpose.
        req.headers.erase("Expect");
        if (req.is_multipart_form_data()) {
          stream.enable_body();
        } else if (f.read_body) {
          req.body = f.chunked ? std::move(f.data) : std::string(request.substr(f.head_size));
        }
      });
    } catch (...) {
      ok = false;  // httplib catches the handlers' exceptions; this is its own failing
    }
    t_current_body = nullptr;
    c.consumed = f.read_body ? request_size : c.in.size();
    c.close_after = !ok || connection_closed || close_connection;
    ++c.served;
    // Most answers fit the socket's buffer: sent here, they need no trip
    // through the gate.
    while (c.out_sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        c.broken = errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        break;
      }
      c.out_sent += static_cast<std::size_t>(n);
    }
  }

  ConnectionLimits limits_;
  BodyLimitFunction body_limit_;
  httplib::Headers headers_;
  Serve serve_;

  int epoll_ = -1;
  int wake_ = -1;
  // start() and stop() run on httplib's accept thread, adopt() too; atomic
  // for the destructor's stop().
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::thread gate_thread_;
  std::vector<std::thread> workers_;

  // The gate thread's own.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> closed_;
  std::unordered_map<std::string, std::size_t> per_client_;
  std::deque<std::uint64_t> waiting_;
  std::uint64_t reserved_ = 0;
  bool reservations_freed_ = false;
  std::uint64_t next_id_ = kWakeId + 1;

  std::mutex handoff_mutex_;  // incoming_ and returned_
  std::vector<int> incoming_;
  std::vector<Connection*> returned_;

  std::mutex ready_mutex_;  // ready_ and workers_stop_
  std::condition_variable ready_cv_;
  std::deque<Connection*> ready_;
  bool workers_stop_ = false;

  std::atomic<std::uint64_t> accepted_{0}, requests_{0}, evicted_{0}, refused_{0}, timed_out_{0};
  std::atomic<std::size_t> open_{0};
};

namespace {

// httplib's accept loop gives each socket to the TaskQueue; this one runs the
// call at once, on the accept thread: it only hands the socket to the gate.
class GateQueue final : public httplib::TaskQueue {
 public:
  explicit GateQueue(GatedServer::Gate& gate) : gate_(gate) { gate_.start(); }
  void enqueue(std::function<void()> fn) override { fn(); }
  // httplib's accept loop has ended.
  void shutdown() override { gate_.stop(); }

 private:
  GatedServer::Gate& gate_;
};

}  // namespace

GatedServer::GatedServer(const ConnectionLimits& limits, BodyLimitFunction body_limit,
                         httplib::Headers headers)
    : gate_(std::make_unique<Gate>(limits, std::move(body_limit), std::move(headers),
                                   [this](httplib::Stream& stream, bool close_connection,
                                          bool& connection_closed, const SetupRequest& setup) {
                                     return process_request(stream, close_connection,
                                                            connection_closed, setup);
                                   })) {
  keep_alive_max_count_ = kMaxRequestsPerConnection;
  // Announced in the Keep-Alive header; the gate closes idle connections.
  keep_alive_timeout_sec_ = std::max<time_t>(
      1, static_cast<time_t>(std::chrono::ceil<std::chrono::seconds>(limits.idle_timeout).count()));
  new_task_queue = [this]() -> httplib::TaskQueue* {
    // httplib listens with a backlog of 5; connections come faster than
    // that when many clients connect at once (they would wait for SYN
    // retransmits, a second or more). Listening again only resizes it.
    const socket_t listening = svr_sock_;
    if (listening != INVALID_SOCKET) {
      ::listen(listening, static_cast<int>(
                              std::clamp<std::size_t>(gate_->limits().max_connections, 64, 4096)));
    }
    return new GateQueue(*gate_);
  };
}

GatedServer::~GatedServer() = default;

const RequestBody* GatedServer::current_body() { return t_current_body; }

GateStats GatedServer::stats() const { return gate_->stats(); }

bool GatedServer::process_and_close_socket(socket_t sock) {
  gate_->adopt(sock);
  return true;
}

}  // namespace likeness::server
