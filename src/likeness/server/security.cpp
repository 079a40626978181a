#include "likeness/server/security.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <fstream>

#include "likeness/core/error.h"

namespace likeness::server {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_ipv4_literal(const std::string& text) {
  in_addr address{};
  return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6_literal(const std::string& text) {
  in6_addr address{};
  return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

// "host:port" -> {host, port}; "[v6]:port" -> {v6, port}; no port -> {host, ""}.
std::pair<std::string, std::string> split_host_port(std::string_view header) {
  if (!header.empty() && header.front() == '[') {
    const auto close = header.find(']');
    if (close == std::string_view::npos) return {std::string(header), ""};
    std::string host(header.substr(1, close - 1));
    std::string_view rest = header.substr(close + 1);
    if (!rest.empty() && rest.front() == ':') return {host, std::string(rest.substr(1))};
    return {host, ""};
  }
  const auto colon = header.rfind(':');
  if (colon == std::string_view::npos) return {std::string(header), ""};
  return {std::string(header.substr(0, colon)), std::string(header.substr(colon + 1))};
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string raw(bytes, '\0');
  if (!urandom.read(raw.data(), static_cast<std::streamsize>(bytes))) {
    throw Error(
        "cannot read /dev/urandom for the session token; the server needs a working random "
        "source (check that /dev/urandom exists and is readable)");
  }
  std::string hex;
  hex.reserve(bytes * 2);
  constexpr std::array<char, 16> kDigits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                            '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  for (char c : raw) {
    const auto byte = static_cast<unsigned char>(c);
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0x0f];
  }
  return hex;
}

bool is_loopback_host(std::string_view host) {
  const std::string h = lower(host);
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  in_addr address{};
  if (inet_pton(AF_INET, h.c_str(), &address) == 1) {
    return (ntohl(address.s_addr) >> 24) == 127;
  }
  return false;
}

bool is_wildcard_host(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

HostCheck::HostCheck(std::string bound_host, int port)
    : bound_host_(lower(bound_host)), port_(port) {
  const std::string suffix = ":" + std::to_string(port);
  auto allow = [&](const std::string& name) { allowed_.insert(name + suffix); };
  allow("127.0.0.1");
  allow("localhost");
  allow("[::1]");
  if (!is_loopback_host(bound_host_) && !is_wildcard_host(bound_host_)) {
    allow(is_ipv6_literal(bound_host_) ? "[" + bound_host_ + "]" : bound_host_);
  }
  if (is_loopback_host(bound_host_) && bound_host_ != "localhost" && bound_host_ != "::1") {
    allow(bound_host_);  // e.g. 127.0.0.2
  }
}

bool HostCheck::allows(std::string_view host_header) const {
  std::string header = lower(host_header);
  auto [host, port] = split_host_port(header);
  if (port.empty()) {
    if (port_ != 80) return false;
    port = "80";
  }
  if (port != std::to_string(port_)) return false;
  const bool v6 = is_ipv6_literal(host);
  const std::string normalised = (v6 ? "[" + host + "]" : host) + ":" + port;
  if (allowed_.count(normalised) > 0) return true;
  // Bound to every interface: the address the client used is unknown, but an
  // IP literal cannot be rebound to another machine, and a name could be.
  return is_wildcard_host(bound_host_) && (v6 || is_ipv4_literal(host));
}

std::string HostCheck::describe() const {
  std::string out;
  for (const std::string& name : allowed_) out += (out.empty() ? "" : ", ") + name;
  if (is_wildcard_host(bound_host_))
    out += ", or any IP address with port " + std::to_string(port_);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return a.size() == b.size() && a.empty();
  unsigned char differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    differ = static_cast<unsigned char>(
        differ | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  }
  return differ == 0;
}

}  // namespace likeness::server
