#include "likeness/server/http_json.h"

#include <httplib.h>

#include <charconv>
#include <limits>

namespace likeness::server {
namespace {

std::string type_name(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void wrong_type(std::string_view field, std::string_view expected,
                             const nlohmann::json& got) {
  throw ApiError(400, "wrong_type",
                 "Field '" + std::string(field) + "' must be " + std::string(expected) + ", not " +
                     type_name(got) + ".");
}

const nlohmann::json* field_of(const nlohmann::json& body, std::string_view field) {
  auto found = body.find(std::string(field));
  if (found == body.end() || found->is_null()) return nullptr;
  return &*found;
}

}  // namespace

nlohmann::json error_json(std::string_view code, std::string_view message) {
  return {{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}};
}

std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_body_object(const httplib::Request& request) {
  if (request.body.empty()) return nlohmann::json::object();
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded()) {
    throw ApiError(400, "malformed_json",
                   "The request body is not valid JSON; send a JSON object such as "
                   "{\"name\": \"Ada\"}.");
  }
  if (!body.is_object()) {
    throw ApiError(400, "wrong_type",
                   "The request body must be a JSON object, not " + type_name(body) + ".");
  }
  return body;
}

std::int64_t required_int(const nlohmann::json& body, std::string_view field) {
  const nlohmann::json* value = field_of(body, field);
  if (value == nullptr) {
    throw ApiError(400, "missing_field",
                   "Field '" + std::string(field) + "' is required (an integer id).");
  }
  if (!value->is_number_integer()) wrong_type(field, "an integer", *value);
  return value->get<std::int64_t>();
}

std::optional<std::int64_t> optional_int(const nlohmann::json& body, std::string_view field,
                                         std::int64_t min, std::int64_t max) {
  const nlohmann::json* value = field_of(body, field);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) wrong_type(field, "an integer", *value);
  const auto number = value->get<std::int64_t>();
  if (number < min || number > max) {
    throw ApiError(400, "out_of_range",
                   "Field '" + std::string(field) + "' must be between " + std::to_string(min) +
                       " and " + std::to_string(max) + ", not " + std::to_string(number) + ".");
  }
  return number;
}

std::optional<double> optional_number(const nlohmann::json& body, std::string_view field,
                                      double min, double max) {
  const nlohmann::json* value = field_of(body, field);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) wrong_type(field, "a number", *value);
  const auto number = value->get<double>();
  if (!(number >= min && number <= max)) {
    throw ApiError(400, "out_of_range",
                   "Field '" + std::string(field) + "' must be between " +
                       nlohmann::json(min).dump() + " and " + nlohmann::json(max).dump() + ".");
  }
  return number;
}

std::optional<bool> optional_bool(const nlohmann::json& body, std::string_view field) {
  const nlohmann::json* value = field_of(body, field);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) wrong_type(field, "true or false", *value);
  return value->get<bool>();
}

std::string required_string(const nlohmann::json& body, std::string_view field) {
  const nlohmann::json* value = field_of(body, field);
  if (value == nullptr) {
    throw ApiError(400, "missing_field", "Field '" + std::string(field) + "' is required.");
  }
  if (!value->is_string()) wrong_type(field, "a string", *value);
  return value->get<std::string>();
}

std::int64_t query_int(const httplib::Request& request, const std::string& name,
                       std::int64_t fallback, std::int64_t min, std::int64_t max) {
  if (!request.has_param(name.c_str())) return fallback;
  const std::string text = request.get_param_value(name.c_str());
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    throw ApiError(400, "bad_query",
                   "Query parameter '" + name + "' must be an integer from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", not '" + text + "'.");
  }
  return value;
}

std::int64_t path_id(const std::string& digits, std::string_view code, std::string_view what) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error != std::errc() || end != digits.data() + digits.size() || value <= 0) {
    throw ApiError(404, std::string(code),
                   "There is no " + std::string(what) + " #" + digits + " in the library.");
  }
  return value;
}

nlohmann::json box_json(const store::FaceBox& box) {
  return {{"x", box.x}, {"y", box.y}, {"w", box.w}, {"h", box.h}};
}

nlohmann::json optional_text(const std::optional<std::string>& text) {
  if (!text || text->empty()) return nullptr;
  return *text;
}

nlohmann::json attributes_json(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return nlohmann::json::object();
  return parsed;
}

}  // namespace likeness::server
