// Photos, faces and people: reads and the user's corrections, each a call of
// likeness/library under the library lock; pictures are decoded and encoded
// outside it.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>

#include "likeness/library/people.h"
#include "likeness/library/people_cluster.h"
#include "likeness/server/server_impl.h"

namespace likeness::server {
namespace {

std::string face_url(std::int64_t face_id) {
  return "/api/faces/" + std::to_string(face_id) + "/crop";
}
std::string photo_url(std::int64_t photo_id) {
  return "/api/photos/" + std::to_string(photo_id) + "/image";
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

store::Person require_person(store::Catalog& catalog, std::int64_t person_id) {
  std::optional<store::Person> person = catalog.find_person(person_id);
  if (!person) {
    throw ApiError(404, "unknown_person",
                   "There is no person #" + std::to_string(person_id) +
                       " in the library; reload the people list.");
  }
  return *person;
}

store::Face require_face(store::Catalog& catalog, std::int64_t face_id) {
  std::optional<store::Face> face = catalog.find_face(face_id);
  if (!face) {
    throw ApiError(404, "unknown_face",
                   "There is no face #" + std::to_string(face_id) +
                       " in the library; its photo may have been re-indexed or removed.");
  }
  return *face;
}

store::Photo require_photo(store::Catalog& catalog, std::int64_t photo_id) {
  std::optional<store::Photo> photo = catalog.find_photo(photo_id);
  if (!photo) {
    throw ApiError(404, "unknown_photo",
                   "There is no photo #" + std::to_string(photo_id) + " in the library.");
  }
  return *photo;
}

// The error for a library photo whose file cannot be shown.
[[noreturn]] void photo_unavailable(std::int64_t photo_id, const std::string& path,
                                    const RenderedImage& rendered) {
  if (rendered.error == io::DecodeError::not_found ||
      rendered.error == io::DecodeError::not_a_file) {
    throw ApiError(404, "photo_missing",
                   "Photo #" + std::to_string(photo_id) + " (" + path +
                       ") is no longer on disk: it was moved or deleted. Index its folder again "
                       "to update the library.");
  }
  throw ApiError(404, "photo_unreadable",
                 "Photo #" + std::to_string(photo_id) + " cannot be shown: " + rendered.message);
}

nlohmann::json links_json(store::Catalog& catalog, std::int64_t face_id) {
  nlohmann::json people = nlohmann::json::array();
  for (const store::FacePersonLink& link : catalog.people_of_face(face_id)) {
    std::optional<store::Person> person = catalog.find_person(link.person_id);
    people.push_back({{"id", link.person_id},
                      {"name", person ? optional_text(person->name) : nlohmann::json(nullptr)},
                      {"origin", store::to_string(link.origin)}});
  }
  return people;
}

}  // namespace

void HttpServer::get_photo(const httplib::Request&, httplib::Response& response,
                           std::int64_t photo_id) {
  nlohmann::json out;
  std::string path;
  const float min_quality = analyzer_->recognizer().min_quality();
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    store::Catalog& catalog = library_->catalog();
    const store::Photo photo = require_photo(catalog, photo_id);
    path = photo.path;
    nlohmann::json faces = nlohmann::json::array();
    for (const store::Face& face : catalog.faces_of_photo(photo_id)) {
      faces.push_back({{"id", face.id},
                       {"box", box_json(face.box)},
                       {"score", face.detector_score},
                       {"quality", stored_quality_json(face.quality)},
                       {"searchable", face.quality.overall >= min_quality},
                       {"people", links_json(catalog, face.id)},
                       {"face_url", face_url(face.id)}});
    }
    out = {{"id", photo.id},
           {"path", photo.path},
           {"capture_time", optional_text(photo.capture_time)},
           {"status", store::to_string(photo.status)},
           {"size_bytes", photo.size_bytes},
           {"faces", faces},
           {"photo_url", photo_url(photo.id)}};
    if (!photo.error.empty()) out["error"] = photo.error;
  }
  // The catalog does not store the size; the header tells it without decoding.
  const io::ProbeResult probe = io::probe_image_file(path);
  out["on_disk"] = probe.ok() || (probe.error != io::DecodeError::not_found &&
                                  probe.error != io::DecodeError::not_a_file);
  out["width"] = probe.ok() ? nlohmann::json(probe.value->oriented_width()) : nullptr;
  out["height"] = probe.ok() ? nlohmann::json(probe.value->oriented_height()) : nullptr;
  send_json(response, out);
}

void HttpServer::get_photo_image(const httplib::Request& request, httplib::Response& response,
                                 std::int64_t photo_id) {
  const int max_side = static_cast<int>(query_int(request, "max", 1600, 64, 4096));
  std::string path;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    path = require_photo(library_->catalog(), photo_id).path;
  }
  const RenderedImage rendered = render_photo(path, max_side);
  if (!rendered.ok()) photo_unavailable(photo_id, path, rendered);
  send_jpeg(response, *rendered.jpeg);
}

void HttpServer::get_face(const httplib::Request&, httplib::Response& response,
                          std::int64_t face_id) {
  const float min_quality = analyzer_->recognizer().min_quality();
  std::lock_guard<std::mutex> lock(library_mutex_);
  store::Catalog& catalog = library_->catalog();
  const store::Face face = require_face(catalog, face_id);
  std::optional<store::Photo> photo = catalog.find_photo(face.photo_id);
  nlohmann::json landmarks = nlohmann::json::array();
  for (const store::FacePoint& point : face.landmarks) landmarks.push_back({point.x, point.y});
  send_json(response, {{"id", face.id},
                       {"photo_id", face.photo_id},
                       {"path", photo ? nlohmann::json(photo->path) : nlohmann::json(nullptr)},
                       {"capture_time", photo ? optional_text(photo->capture_time) : nullptr},
                       {"box", box_json(face.box)},
                       {"landmarks", landmarks},
                       {"score", face.detector_score},
                       {"quality", stored_quality_json(face.quality)},
                       {"searchable", face.quality.overall >= min_quality},
                       {"attributes", attributes_json(face.attributes)},
                       {"people", links_json(catalog, face.id)},
                       {"face_url", face_url(face.id)},
                       {"photo_url", photo_url(face.photo_id)}});
}

void HttpServer::get_face_crop(const httplib::Request& request, httplib::Response& response,
                               std::int64_t face_id) {
  const int size = static_cast<int>(query_int(request, "size", 160, 32, 512));
  const auto key = std::make_pair(face_id, size);
  if (std::shared_ptr<const CachedJpeg> cached = crops_.get(key)) {
    send_jpeg(response, cached->bytes);
    return;
  }
  store::Face face;
  std::string path;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    store::Catalog& catalog = library_->catalog();
    face = require_face(catalog, face_id);
    path = require_photo(catalog, face.photo_id).path;
  }
  const RenderedImage rendered = render_face_crop(path, face.box, size);
  if (!rendered.ok()) photo_unavailable(face.photo_id, path, rendered);
  crops_.put(key, std::make_shared<CachedJpeg>(CachedJpeg{*rendered.jpeg}));
  send_jpeg(response, *rendered.jpeg);
}

void HttpServer::get_people(const httplib::Request& request, httplib::Response& response) {
  const auto offset = static_cast<std::size_t>(query_int(request, "offset", 0, 0, 1'000'000'000));
  const auto limit = static_cast<std::size_t>(query_int(request, "limit", 60, 1, 500));
  const std::string query =
      request.has_param("q") ? lower(trimmed(request.get_param_value("q"))) : "";

  struct Summary {
    store::Person person;
    std::size_t faces = 0, confirmed = 0;
    std::set<std::int64_t> photos;
    std::int64_t cover_face_id = 0;
    float cover_quality = -1.0f;
  };
  std::vector<Summary> people;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    store::Catalog& catalog = library_->catalog();
    // Three reads for the whole list instead of a few per person (the
    // library's list_people() looks every face up by itself): the page's
    // first screen must come fast at 10,000 faces.
    std::unordered_map<std::int64_t, std::pair<std::int64_t, float>> face_photo_quality;
    for (const store::Face& face : catalog.all_faces()) {
      face_photo_quality.emplace(face.id, std::make_pair(face.photo_id, face.quality.overall));
    }
    std::unordered_map<std::int64_t, std::size_t> index_of;
    for (store::Person& person : catalog.list_people()) {
      index_of.emplace(person.id, people.size());
      people.emplace_back();
      people.back().person = std::move(person);
    }
    for (const store::FacePersonLink& link : catalog.all_links()) {
      if (link.origin == store::LinkOrigin::kRejected) continue;
      auto person = index_of.find(link.person_id);
      auto face = face_photo_quality.find(link.face_id);
      if (person == index_of.end() || face == face_photo_quality.end()) continue;
      Summary& s = people[person->second];
      ++s.faces;
      if (link.origin == store::LinkOrigin::kConfirmed) ++s.confirmed;
      s.photos.insert(face->second.first);
      if (face->second.second > s.cover_quality) {
        s.cover_quality = face->second.second;
        s.cover_face_id = link.face_id;
      }
    }
  }
  if (!query.empty()) {
    const std::string id_query = query.front() == '#' ? query.substr(1) : query;
    std::erase_if(people, [&](const Summary& s) {
      if (std::to_string(s.person.id) == id_query) return false;
      return !s.person.name || lower(*s.person.name).find(query) == std::string::npos;
    });
  }
  std::stable_sort(people.begin(), people.end(), [](const Summary& a, const Summary& b) {
    return a.faces != b.faces ? a.faces > b.faces : a.person.id < b.person.id;
  });
  nlohmann::json page = nlohmann::json::array();
  for (std::size_t i = offset; i < people.size() && i < offset + limit; ++i) {
    const Summary& s = people[i];
    page.push_back({{"id", s.person.id},
                    {"name", optional_text(s.person.name)},
                    {"label", library::person_label(s.person)},
                    {"faces", s.faces},
                    {"photos", s.photos.size()},
                    {"confirmed", s.confirmed},
                    {"cover_face_id", s.cover_face_id > 0 ? nlohmann::json(s.cover_face_id)
                                                          : nlohmann::json(nullptr)},
                    {"cover_url", s.cover_face_id > 0 ? nlohmann::json(face_url(s.cover_face_id))
                                                      : nlohmann::json(nullptr)}});
  }
  send_json(response,
            {{"total", people.size()}, {"offset", offset}, {"limit", limit}, {"people", page}});
}

nlohmann::json HttpServer::person_json(std::int64_t person_id) {
  store::Catalog& catalog = library_->catalog();
  const store::Person person = require_person(catalog, person_id);
  nlohmann::json faces = nlohmann::json::array();
  std::set<std::int64_t> photos;
  std::size_t confirmed = 0;
  for (const library::PersonFace& f : library::person_faces(catalog, person_id)) {
    photos.insert(f.photo.id);
    if (f.origin == store::LinkOrigin::kConfirmed) ++confirmed;
    faces.push_back({{"face_id", f.face.id},
                     {"photo_id", f.photo.id},
                     {"path", f.photo.path},
                     {"capture_time", optional_text(f.photo.capture_time)},
                     {"box", box_json(f.face.box)},
                     {"quality", stored_quality_json(f.face.quality)},
                     {"origin", store::to_string(f.origin)},
                     {"face_url", face_url(f.face.id)},
                     {"photo_url", photo_url(f.photo.id)}});
  }
  return {{"id", person.id},
          {"name", optional_text(person.name)},
          {"label", library::person_label(person)},
          {"photos", photos.size()},
          {"confirmed", confirmed},
          {"faces", faces}};
}

std::unique_ptr<store::WriterLock> HttpServer::lock_for_edit() {
  try {
    // A moment's wait: readers that save a repaired index hold it briefly.
    return library_->lock_for_writing(
        {.command = "likeness serve", .wait = std::chrono::milliseconds(500)});
  } catch (const store::LibraryBusyError& e) {
    throw ApiError(409, "library_busy", e.what());
  }
}

void HttpServer::get_person(const httplib::Request&, httplib::Response& response,
                            std::int64_t person_id) {
  std::lock_guard<std::mutex> lock(library_mutex_);
  send_json(response, person_json(person_id));
}

void HttpServer::patch_person(const httplib::Request& request, httplib::Response& response,
                              std::int64_t person_id) {
  const nlohmann::json body = parse_body_object(request);
  if (!body.contains("name")) {
    throw ApiError(400, "missing_field",
                   "Field 'name' is required: the new name, or null (or \"\") to remove it.");
  }
  const nlohmann::json& name = body["name"];
  if (!name.is_null() && !name.is_string()) {
    throw ApiError(400, "wrong_type", "Field 'name' must be a string or null.");
  }
  const std::string new_name = name.is_string() ? trimmed(name.get<std::string>()) : "";
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  store::Catalog& catalog = library_->catalog();
  require_person(catalog, person_id);
  if (new_name.empty()) {
    catalog.rename_person(person_id, std::nullopt);
  } else {
    library::name_person(catalog, person_id, new_name);
  }
  send_json(response, person_json(person_id));
}

void HttpServer::post_merge(const httplib::Request& request, httplib::Response& response,
                            std::int64_t person_id) {
  const nlohmann::json body = parse_body_object(request);
  const std::int64_t other = required_int(body, "other");
  if (other == person_id) {
    throw ApiError(400, "same_person",
                   "Person #" + std::to_string(person_id) + " cannot be merged into itself.");
  }
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  store::Catalog& catalog = library_->catalog();
  require_person(catalog, person_id);
  require_person(catalog, other);
  library::merge_people(catalog, person_id, other);
  send_json(response, person_json(person_id));
}

void HttpServer::post_face_decision(const httplib::Request& request, httplib::Response& response,
                                    std::int64_t person_id, FaceDecision decide) {
  const nlohmann::json body = parse_body_object(request);
  const std::int64_t face_id = required_int(body, "face_id");
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  store::Catalog& catalog = library_->catalog();
  require_person(catalog, person_id);
  require_face(catalog, face_id);
  decide(catalog, face_id, person_id);
  send_json(response, person_json(person_id));
}

void HttpServer::post_reject(const httplib::Request& request, httplib::Response& response,
                             std::int64_t person_id) {
  post_face_decision(request, response, person_id, &library::reject_face);
}

void HttpServer::post_confirm(const httplib::Request& request, httplib::Response& response,
                              std::int64_t person_id) {
  post_face_decision(request, response, person_id, &library::confirm_face);
}

void HttpServer::post_cluster(const httplib::Request&, httplib::Response& response) {
  std::lock_guard<std::mutex> lock(library_mutex_);
  const auto writing = lock_for_edit();
  const library::ReclusterReport report =
      library::cluster_people(*library_, analyzer_->recognizer());
  send_json(response, {{"people", report.people},
                       {"faces", report.faces},
                       {"faces_clustered", report.faces_clustered},
                       {"faces_left_out", report.faces_left_out},
                       {"people_created", report.people_created},
                       {"people_deleted", report.people_deleted},
                       {"links_changed", report.links_changed},
                       {"seconds", report.seconds}});
}

}  // namespace likeness::server
