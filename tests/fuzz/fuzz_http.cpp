// fuzz_http: libFuzzer target for `likeness serve`'s whole request path. One
// in-process Server runs over a small library; each input is sent as raw
// bytes (one or more HTTP/1.1 requests) over a loopback socket, and the reply
// is read. So httplib's request parsing, our router, the Host and token
// checks, the JSON bodies of http_json.cpp, the multipart upload with its
// image decoding and face detection, and the library routes all see the
// fuzzer's bytes. After every input GET /api/health must answer 200 within
// 5 s: a server that stops answering fails like a crash.
//
// Getting past the front door: inputs are raw requests with placeholders
// that are replaced before sending: @HOST@ (127.0.0.1:PORT, the only Host the
// server accepts), @TOKEN@ (the per-run session token, read in-process) and
// @UPLOAD_ID_25_CHARACTERS@ (the id of an upload of a demo photo with a face,
// made at start, so /api/search has something to search; the placeholder is
// as long as the id, so a body's Content-Length stays right). The seeds
// (likeness_fuzz_seeds http) use them, so mutations mostly reach the routes.
//
// The library: the first demo photos (scripts/setup.sh installs them with the
// models) indexed and clustered once into a pristine copy, with a few named
// people made of the faces left out; the server runs on a copy of it. Inputs
// erase, merge and rename people, so every 64 inputs the harness compares GET
// /api/session with the pristine counts and, when they differ, restarts the
// server on a fresh copy. Without the models or the demo photos it exits 77
// (ctest: skipped) with the reason.
//
// The connection gate (src/likeness/server/connection_gate.h) runs with
// short limits (kLimits: 200 ms for a head, 100 ms idle, 2 connections per
// client, 4 KB heads, 1 KB of bodies held at once), so that inputs reach its
// deadlines, evictions and body budget, not only its framing:
// - for a quarter of the inputs (size % 4 == 0) the harness does not
//   half-close when the server goes quiet but waits for the server to end
//   the exchange: an unfinished head or body gets its 408, bytes after the
//   last whole request wait for theirs, a finished keep-alive connection is
//   closed after its idle time;
// - while an input is served, a second connection of the same client has
//   sent the first half of it and stays open: it may hold the body budget
//   (the input's body then cuts it), and the health check that follows
//   evicts it or the input's lingering connection (the per-client limit);
//   then it is half-closed and read to its end like the input's.
//
// What is not sent: any request that could start an indexing run
// (POST /api/index with a folder the fuzzer made up, e.g. "/", would index the
// whole disk in the background). Inputs whose percent-decoded bytes contain
// "/api/index" not followed by "/" are rejected (return -1), so /api/index/stop
// is still fuzzed.
//
// Environment: LIKENESS_FUZZ_VERBOSE (print the start of each response),
// LIKENESS_FUZZ_TMP (where the library goes; default the system
// temporary folder), LIKENESS_DEMO_DIR (default
// ${XDG_DATA_HOME:-~/.local/share}/likeness/demo), LIKENESS_MODELS (as for the
// CLI). Built and run by tests/fuzz (CMakeLists.txt, run_fuzzer.sh).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/infer/model_store.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "likeness/library/people_cluster.h"
#include "likeness/server/server.h"
#include "likeness/store/catalog.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kDemoPhotos = 3;  // a few faces and people; indexing stays a few seconds
constexpr std::uint64_t kMaxUpload = 1 << 20;
constexpr int kStateCheckEvery = 64;
// As long as an upload id ("u" + 24 hex digits), so that a body's
// Content-Length is still right after the id replaces it.
const std::string kUploadPlaceholder = "@UPLOAD_ID_25_CHARACTERS@";
constexpr auto kReplyTimeout = std::chrono::seconds(8);

// Short connection limits (see the top of the file).
likeness::server::ConnectionLimits fuzz_limits() {
  likeness::server::ConnectionLimits limits;
  limits.request_threads = 2;
  limits.header_timeout = std::chrono::milliseconds(200);
  limits.idle_timeout = std::chrono::milliseconds(100);
  limits.linger_timeout = std::chrono::milliseconds(100);
  limits.max_connections = 4;
  limits.max_connections_per_client = 2;
  limits.max_header_bytes = 4096;
  limits.max_buffered_body_bytes = 1024;
  return limits;
}
constexpr auto kHealthTimeout = std::chrono::seconds(5);

[[noreturn]] void skip(const std::string& why) {
  std::fprintf(stderr, "fuzz_http: SKIP: %s\n", why.c_str());
  std::exit(77);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "fuzz_http: FAILURE: %s\n", why.c_str());
  std::abort();  // libFuzzer saves the input that was running
}

// True when `reply` is one or more whole HTTP responses (each with its
// Content-Length body) and nothing more.
bool whole_responses(const std::string& reply) {
  std::size_t at = 0;
  while (at < reply.size()) {
    const std::size_t end = reply.find("\r\n\r\n", at);
    if (end == std::string::npos) return false;
    std::string headers = reply.substr(at, end - at);
    for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t length = 0;
    if (const std::size_t field = headers.find("\r\ncontent-length:"); field != std::string::npos) {
      length = std::strtoul(headers.c_str() + field + 17, nullptr, 10);
    }
    if (reply.size() - (end + 4) < length) return false;
    at = end + 4 + length;
  }
  return !reply.empty();
}

// Sends `request` to 127.0.0.1:port and reads the reply until the server
// closes or `timeout` passes; nullopt when the connection could not be made.
// The harness's own requests say "Connection: close" and are read to the end;
// fuzz inputs (half_close_when_quiet) cannot be relied on to end.
//
// How the exchange ends: after sending, we read until the server closes; when
// it keeps the connection open and goes quiet (5 ms after whole responses, 50
// ms otherwise: an incomplete request, or a slow handler), we half-close. The
// server then ends the connection (400 for an incomplete request; a handler
// still running finishes and its answer is sent first), and we read until it
// does, so no request of this input is still running when the next one
// starts. Without half_close_when_quiet the server's own deadlines end it.
std::optional<std::string> exchange(int port, const std::string& request,
                                    std::chrono::milliseconds timeout, bool half_close_when_quiet) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const auto deadline = Clock::now() + timeout;
  auto until = [](Clock::time_point when) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when - Clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  };
  std::size_t sent = 0;
  bool sending = true;  // not all of the request is sent yet
  bool half_closed = false;
  auto quiet_since = Clock::now();
  std::string reply;
  while (until(deadline) > 0) {
    if (sending && sent == request.size()) {
      sending = false;
      quiet_since = Clock::now();
    }
    int wait = until(deadline);
    if (half_close_when_quiet && !sending && !half_closed) {
      const auto quiet = std::chrono::milliseconds(whole_responses(reply) ? 5 : 50);
      wait = std::min(wait, until(quiet_since + quiet));
    }
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    const int ready = ::poll(&p, 1, wait);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      if (half_close_when_quiet && !sending && !half_closed) {
        ::shutdown(fd, SHUT_WR);
        half_closed = true;
      }
      continue;
    }
    if (p.revents & POLLIN) {
      char buffer[16384];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;  // closed by the server (or reset): the exchange is over
      reply.append(buffer, static_cast<std::size_t>(n));
      quiet_since = Clock::now();
    } else if (sending && (p.revents & POLLOUT)) {
      const ssize_t n =
          ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) sending = false;  // the server hung up
      if (n > 0) sent += static_cast<std::size_t>(n);
    } else if (p.revents & (POLLERR | POLLHUP)) {
      break;
    }
  }
  ::close(fd);
  return reply;
}

std::string host_of(int port) { return "127.0.0.1:" + std::to_string(port); }

// The JSON body of a complete HTTP reply, or null.
nlohmann::json reply_json(const std::string& reply) {
  const std::size_t body = reply.find("\r\n\r\n");
  if (body == std::string::npos) return nullptr;
  return nlohmann::json::parse(reply.substr(body + 4), nullptr, false);
}

std::string get(int port, const std::string& path, std::chrono::milliseconds timeout) {
  return exchange(port,
                  "GET " + path + " HTTP/1.1\r\nHost: " + host_of(port) +
                      "\r\nConnection: close\r\n\r\n",
                  timeout, false)
      .value_or("");
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// httplib's decode_url (%XX and %uXXXX), applied to the whole input: the
// request path the server will route is a substring of the result.
std::string percent_decoded(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 5 < s.size() && s[i + 1] == 'u') {
      int value = 0;
      bool ok = true;
      for (std::size_t k = i + 2; k < i + 6; ++k) {
        ok = ok && hex_value(s[k]) >= 0;
        value = value * 16 + std::max(0, hex_value(s[k]));
      }
      if (ok) {
        // Only ASCII can spell "/api/index"; anything else stays a non-ASCII marker.
        out += value < 0x80 ? static_cast<char>(value) : '\x80';
        i += 5;
        continue;
      }
    }
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
      continue;
    }
    out += s[i];
  }
  return out;
}

bool could_start_indexing(const std::string& input) {
  for (const std::string& text : {input, percent_decoded(input)}) {
    const std::string route = "/api/index";
    for (std::size_t at = text.find(route); at != std::string::npos;
         at = text.find(route, at + 1)) {
      const std::size_t next = at + route.size();
      if (next >= text.size() || text[next] != '/') return true;
    }
  }
  return false;
}

struct LibraryCounts {
  std::int64_t photos = -1, faces = -1, people = -1;
  bool operator==(const LibraryCounts&) const = default;
};

class Harness {
 public:
  Harness() {
    const char* tmp = std::getenv("LIKENESS_FUZZ_TMP");
    dir_ = (tmp != nullptr && *tmp != '\0' ? fs::path(tmp) : fs::temp_directory_path()) /
           ("likeness_fuzz_http_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "photos");
    build_pristine_library();
    start();
  }

  ~Harness() {
    std::fprintf(stderr, "fuzz_http: %lld inputs, %lld restarts on a fresh library\n",
                 static_cast<long long>(inputs_), static_cast<long long>(restarts_));
    stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  int run_one(const std::string& input) {
    std::string request = input;
    replace_all(request, "@HOST@", host_of(server_->port()));
    replace_all(request, "@TOKEN@", server_->token());
    replace_all(request, kUploadPlaceholder, upload_id_);
    const int parked = park(request.substr(0, request.size() / 2));
    const bool server_ends_it = input.size() % 4 == 0;
    const auto started = Clock::now();
    const std::optional<std::string> reply = exchange(
        server_->port(), request,
        std::chrono::duration_cast<std::chrono::milliseconds>(kReplyTimeout), !server_ends_it);
    if (!reply) fail("the server does not accept connections any more");
    if (verbose_) {
      // Every response's status line (pipelined inputs have several).
      for (std::size_t at = reply->find("HTTP/1.1 "); at != std::string::npos;
           at = reply->find("HTTP/1.1 ", at + 1)) {
        const std::size_t body = reply->find("\r\n\r\n", at);
        std::fprintf(stderr, "fuzz_http: %s %s\n",
                     reply->substr(at, reply->find('\r', at) - at).c_str(),
                     body == std::string::npos ? "" : reply->substr(body + 4, 160).c_str());
      }
    }
    // 503 is the server refusing a connection while every connection of
    // this client is being served (the parked one's request, perhaps): it is
    // asked again until the 5 s are up.
    const auto health_deadline = Clock::now() + kHealthTimeout;
    std::string health;
    do {
      health = get(server_->port(), "/api/health",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::max<Clock::duration>(health_deadline - Clock::now(), {})));
      if (health.rfind("HTTP/1.1 503", 0) != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (Clock::now() < health_deadline);
    // The parked connection's request must not still run when the next
    // input starts (it would hold a request thread and a connection slot).
    if (parked >= 0) finish(parked, kReplyTimeout);
    if (health.rfind("HTTP/1.1 200", 0) != 0) {
      const auto waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
      fail("GET /api/health did not answer 200 within 5 s after this input (" +
           std::to_string(waited.count()) + " ms since it was sent); got: '" +
           health.substr(0, 200) + "'");
    }
    if (++inputs_ % kStateCheckEvery == 0 && counts() != pristine_counts_) {
      // Erased or merged people: start again from the pristine library.
      ++restarts_;
      stop();
      start();
    }
    return 0;
  }

 private:
  // A connection that sends `bytes` (as much as the socket takes at once) and
  // is left open; -1 when it cannot connect.
  int park(const std::string& bytes) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd);
      return -1;
    }
    if (!bytes.empty()) ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return fd;
  }

  // Half-closes `fd` and reads until the server closes it (or `timeout`).
  static void finish(int fd, Clock::duration timeout) {
    ::shutdown(fd, SHUT_WR);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[16384];
      if (::recv(fd, buffer, sizeof buffer, 0) <= 0) break;
    }
    ::close(fd);
  }

  static fs::path demo_dir() {
    if (const char* dir = std::getenv("LIKENESS_DEMO_DIR"); dir != nullptr && *dir != '\0') {
      return dir;
    }
    const char* data = std::getenv("XDG_DATA_HOME");
    const char* home = std::getenv("HOME");
    const fs::path base = data != nullptr && *data != '\0' ? fs::path(data)
                          : home != nullptr                ? fs::path(home) / ".local" / "share"
                                                           : fs::path();
    return base / "likeness" / "demo";
  }

  void build_pristine_library() {
    for (int i = 1; i <= kDemoPhotos; ++i) {
      const fs::path photo = demo_dir() / ("sample" + std::to_string(i) + ".jpg");
      if (!fs::is_regular_file(photo)) {
        skip("no demo photo " + photo.string() +
             " (scripts/setup.sh models installs them; LIKENESS_DEMO_DIR overrides)");
      }
      fs::copy_file(photo, dir_ / "photos" / photo.filename());
    }
    upload_photo_ = file_bytes(dir_ / "photos" / "sample1.jpg");
    try {
      const likeness::infer::ModelStore store = likeness::infer::ModelStore::open();
      auto library = likeness::library::Library::open(dir_ / "pristine");
      likeness::library::IndexerOptions options;
      options.workers = 1;
      auto indexer = likeness::library::Indexer::create(store, options);
      const std::vector<fs::path> folders = {dir_ / "photos"};
      indexer->run(*library, folders);
      likeness::library::cluster_people(*library, indexer->analyzer().recognizer());
      // Three demo photos cluster into few people; the routes that edit
      // people want several. Faces in no person become named people of one
      // or two confirmed faces each, as a user's corrections would make them.
      likeness::store::Catalog& catalog = library->catalog();
      std::vector<std::int64_t> loose;
      for (const likeness::store::Face& face : catalog.all_faces()) {
        if (catalog.people_of_face(face.id).empty()) loose.push_back(face.id);
      }
      const char* names[] = {"Ada", "Bob", "Cy"};
      for (std::size_t i = 0; i + 1 < loose.size() && i / 2 < std::size(names); i += 2) {
        const std::int64_t person = catalog.create_person(std::string(names[i / 2]));
        catalog.link_face(loose[i], person, likeness::store::LinkOrigin::kConfirmed);
        catalog.link_face(loose[i + 1], person, likeness::store::LinkOrigin::kConfirmed);
      }
    } catch (const likeness::ModelError& e) {
      skip(std::string("models not installed: ") + e.what());
    }
  }

  void start() {
    fs::remove_all(dir_ / "live");
    fs::copy(dir_ / "pristine", dir_ / "live", fs::copy_options::recursive);
    likeness::server::ServerOptions options;
    options.library_dir = dir_ / "live";
    options.port = 0;
    options.max_upload_bytes = kMaxUpload;
    options.index_workers = 1;
    options.connections = fuzz_limits();
    // The fixture upload must stay searchable however many uploads follow.
    options.recent_uploads = std::size_t{1} << 20;
    server_ = likeness::server::Server::create(options);
    serving_ = std::thread([this] { server_->run(); });
    // Serving starts in that thread; wait for it rather than racing it.
    const auto give_up = Clock::now() + std::chrono::seconds(30);
    std::string health;
    while (health.rfind("HTTP/1.1 200", 0) != 0) {
      if (Clock::now() > give_up) fail("the server did not answer GET /api/health: " + health);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      health = get(server_->port(), "/api/health", std::chrono::seconds(5));
    }
    const std::string boundary = "likenessfuzzfixture";
    std::string upload = "POST /api/uploads HTTP/1.1\r\nHost: " + host_of(server_->port()) +
                         "\r\nX-Likeness-Token: " + server_->token() +
                         "\r\nContent-Type: multipart/form-data; boundary=" + boundary +
                         "\r\nConnection: close\r\n";
    const std::string body = "--" + boundary +
                             "\r\nContent-Disposition: form-data; name=\"photo\"; "
                             "filename=\"sample1.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
                             upload_photo_ + "\r\n--" + boundary + "--\r\n";
    upload += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    const std::string reply =
        exchange(server_->port(), upload, std::chrono::seconds(120), false).value_or("");
    const nlohmann::json uploaded = reply_json(reply);
    if (!uploaded.is_object() || !uploaded.contains("upload_id") ||
        uploaded.value("faces", nlohmann::json::array()).empty()) {
      fail("the fixture upload of sample1.jpg found no face: " + reply.substr(0, 1000));
    }
    upload_id_ = uploaded["upload_id"].get<std::string>();
    if (upload_id_.size() != kUploadPlaceholder.size()) {
      fail("upload ids are no longer " + std::to_string(kUploadPlaceholder.size()) +
           " characters (" + upload_id_ + "): change the placeholder here and in make_seeds.cpp");
    }
    if (pristine_counts_.photos < 0) {
      pristine_counts_ = counts();
      std::fprintf(
          stderr, "fuzz_http: serving %s: %lld photos, %lld faces, %lld people; upload %s\n",
          host_of(server_->port()).c_str(), static_cast<long long>(pristine_counts_.photos),
          static_cast<long long>(pristine_counts_.faces),
          static_cast<long long>(pristine_counts_.people), upload_id_.c_str());
      if (pristine_counts_.people < 2) fail("the fixture library has fewer than two people");
    }
  }

  void stop() {
    if (server_ == nullptr) return;
    server_->stop();
    serving_.join();
    server_.reset();
  }

  LibraryCounts counts() const {
    const nlohmann::json session =
        reply_json(get(server_->port(), "/api/session", std::chrono::seconds(30)));
    if (!session.is_object() || !session.contains("library")) {
      fail("GET /api/session did not answer: " + session.dump());
    }
    const nlohmann::json& library = session["library"];
    return {library.value("photos", std::int64_t{-1}), library.value("faces", std::int64_t{-1}),
            library.value("people", std::int64_t{-1})};
  }

  fs::path dir_;
  std::string upload_photo_;
  std::unique_ptr<likeness::server::Server> server_;
  std::thread serving_;
  std::string upload_id_;
  LibraryCounts pristine_counts_;
  std::int64_t inputs_ = 0;
  std::int64_t restarts_ = 0;
  const bool verbose_ = std::getenv("LIKENESS_FUZZ_VERBOSE") != nullptr;
};

Harness* harness = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::signal(SIGPIPE, SIG_IGN);
  harness = new Harness();
  std::atexit([] {
    delete harness;
    harness = nullptr;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (could_start_indexing(input)) return -1;  // see the top of the file
  return harness->run_one(input);
}
