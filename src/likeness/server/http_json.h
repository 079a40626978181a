// JSON helpers shared by the server's routes: the error type that carries an
// HTTP status and a stable code to the router, the request-body and query
// parsing that produces it, and the JSON shapes of boxes and qualities
// (docs/api.md).
//
// Thread-safety: every function is pure.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "likeness/library/library_json.h"
#include "likeness/quality/quality.h"
#include "likeness/store/catalog.h"

namespace httplib {
struct Request;
}

namespace likeness::server {

// A request the server refuses: the router turns it into
// {"error": {"code", "message"}} with `status`. Thrown only by the parsing and
// lookup helpers of the routes, so that each route reads as a straight line;
// it never leaves the server.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// {"error": {"code": code, "message": message}}
nlohmann::json error_json(std::string_view code, std::string_view message);

// JSON text for a response. Paths are bytes: invalid UTF-8 becomes U+FFFD
// instead of an exception.
std::string json_text(const nlohmann::json& value);

// The request body as a JSON object. ApiError 400 "malformed_json" when it
// does not parse, "wrong_type" when it is not an object. An empty body is {}.
nlohmann::json parse_body_object(const httplib::Request& request);

// Typed fields of a body. Absent (or null, for optional_*) -> nullopt;
// present with the wrong type or out of range -> ApiError 400 "wrong_type" /
// "out_of_range" naming the field and what it must be.
std::int64_t required_int(const nlohmann::json& body, std::string_view field);
std::optional<std::int64_t> optional_int(const nlohmann::json& body, std::string_view field,
                                         std::int64_t min, std::int64_t max);
std::optional<double> optional_number(const nlohmann::json& body, std::string_view field,
                                      double min, double max);
std::optional<bool> optional_bool(const nlohmann::json& body, std::string_view field);
std::string required_string(const nlohmann::json& body, std::string_view field);

// A query parameter as an integer in [min, max]; `fallback` when absent.
// ApiError 400 "bad_query" when it is not an integer or out of range.
std::int64_t query_int(const httplib::Request& request, const std::string& name,
                       std::int64_t fallback, std::int64_t min, std::int64_t max);

// A route's numeric id (the regex guarantees digits); ApiError 404 with
// `code` when it does not fit an id.
std::int64_t path_id(const std::string& digits, std::string_view code, std::string_view what);

nlohmann::json box_json(const store::FaceBox& box);
using library::measured_quality_json;  // library/library_json.h
using library::stored_quality_json;    // library/library_json.h
// A catalog text that may be absent or empty -> string or null.
nlohmann::json optional_text(const std::optional<std::string>& text);
// The catalog's attributes JSON text parsed; {} when empty or not JSON (the
// attribute models own that text; a bad one must not break face details).
nlohmann::json attributes_json(const std::string& text);

}  // namespace likeness::server
