// The server's defences against other web sites and other machines: a
// random per-run token that every state-changing request must carry, and the
// Host header check that defeats DNS rebinding (a hostile page whose name is
// re-pointed to 127.0.0.1 sends its own name as Host).
//
// Thread-safety: every function is pure or reads only its arguments.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>

namespace likeness::server {

// `bytes` random bytes from /dev/urandom as lower-case hex. Throws
// likeness::Error when /dev/urandom cannot be read (a broken system: the
// server must not run with a guessable token).
std::string random_hex(std::size_t bytes);

// 127.0.0.0/8, ::1, "localhost" (case-insensitive).
bool is_loopback_host(std::string_view host);

// 0.0.0.0 or :: (every interface).
bool is_wildcard_host(std::string_view host);

// Which Host header values are this server's own names.
class HostCheck {
 public:
  // bound_host: the address given to --host; port: the port actually bound.
  HostCheck(std::string bound_host, int port);

  // True when `host_header` names this server: for a loopback binding,
  // 127.0.0.1:PORT, localhost:PORT or [::1]:PORT (the port may be omitted only
  // when it is 80); for another address, that address; for a wildcard
  // binding, any IP literal (a DNS name could be rebound) or loopback name.
  bool allows(std::string_view host_header) const;

  // What allows() accepts, for error messages ("127.0.0.1:8080, ...").
  std::string describe() const;

 private:
  std::string bound_host_;
  int port_;
  std::set<std::string> allowed_;  // lower-case "name:port"
};

// Compares in time independent of where the strings differ (the token must
// not leak through response timing).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace likeness::server
