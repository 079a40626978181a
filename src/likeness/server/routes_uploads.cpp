// POST /api/uploads and POST /api/search: a photo that is not in the library
// is detected and described outside the library lock, kept in memory only,
// and searched for in the library.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "likeness/core/error.h"
#include "likeness/io/image.h"
#include "likeness/library/search.h"
#include "likeness/server/server_impl.h"

namespace likeness::server {
namespace {

// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// PhotoAnalyzer reads photos from paths. An upload is handed to it through an
// anonymous in-memory file (memfd): the uploaded face never touches the disk,
// and the analysis is exactly the one the library's photos get.
library::DetectedPhoto detect_in_memory(const library::PhotoAnalyzer& analyzer,
                                        const std::string& bytes, const std::string& name) {
  FileDescriptor fd(::memfd_create("likeness-upload", MFD_CLOEXEC));
  if (fd.get() < 0) {
    throw Error(std::string("cannot hold the upload in memory (memfd_create: ") +
                std::strerror(errno) + "); the kernel must support memfd (Linux 3.17+)");
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw Error(std::string("cannot hold the upload in memory (write: ") + std::strerror(errno) +
                  ")");
    }
    written += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
  library::DetectedPhoto photo = analyzer.detect(path);
  // Messages name the file; the user knows it by its name, not our descriptor.
  replace_all(photo.message, path, name);
  for (std::string& warning : photo.warnings) replace_all(warning, path, name);
  return photo;
}

nlohmann::json detection_box_json(const cv::Rect2f& box) {
  return {{"x", box.x}, {"y", box.y}, {"w", box.width}, {"h", box.height}};
}

std::string no_face_message(const library::DetectedPhoto& photo, float min_face_px) {
  const std::string size = std::to_string(static_cast<int>(min_face_px));
  std::string message = "No face found. Use a clear, well-lit photo with a face at least " + size +
                        "x" + size + " pixels.";
  if (photo.too_small > 0) {
    message += " (" + std::to_string(photo.too_small) +
               (photo.too_small == 1 ? " face was" : " faces were") +
               " found but smaller than that.)";
  }
  return message;
}

}  // namespace

void HttpServer::post_upload(const httplib::Request& request, httplib::Response& response) {
  if (!request.has_file("photo")) {
    throw ApiError(400, "missing_field",
                   "Send the photo as multipart/form-data in the field 'photo'.");
  }
  const httplib::MultipartFormData file = request.get_file_value("photo");
  if (file.content.size() > options_.max_upload_bytes) {
    throw ApiError(413, "upload_too_large",
                   "The photo is " + std::to_string(file.content.size()) +
                       " bytes; the server accepts at most " +
                       std::to_string(options_.max_upload_bytes) +
                       " (likeness serve --max-upload-mb).");
  }
  const std::string name = file.filename.empty() ? "the upload" : file.filename;
  const auto* head = reinterpret_cast<const std::uint8_t*>(file.content.data());
  const std::span<const std::uint8_t> first_bytes(head,
                                                  std::min<std::size_t>(file.content.size(), 64));
  if (file.content.empty() || io::detect_format(first_bytes) == io::ImageFormat::unknown) {
    throw ApiError(415, "unsupported_media",
                   name + " is not a JPEG, PNG, BMP or WEBP photo; upload one of those.");
  }
  library::DetectedPhoto photo = detect_in_memory(*analyzer_, file.content, name);
  if (!photo.ok()) {
    const bool unsupported = photo.reason == io::to_string(io::DecodeError::unsupported_format);
    throw ApiError(unsupported ? 415 : 400, unsupported ? "unsupported_media" : "bad_photo",
                   photo.message);
  }
  auto uploaded = std::make_shared<UploadedPhoto>();
  uploaded->faces = analyzer_->describe_all(photo);
  // The descriptions are all a search needs; the pixels would only hold memory.
  photo.bytes.reset();
  photo.view = {};
  uploaded->photo = std::move(photo);

  nlohmann::json faces = nlohmann::json::array();
  for (std::size_t i = 0; i < uploaded->photo.faces.size(); ++i) {
    const detect::Detection& face = uploaded->photo.faces[i];
    const match::FaceDescription& description = uploaded->faces[i];
    faces.push_back({{"index", i},
                     {"box", detection_box_json(face.box)},
                     {"score", face.score},
                     {"quality", measured_quality_json(description.quality)},
                     {"searchable", description.searchable && !description.fused.empty()}});
  }
  const std::string upload_id = "u" + random_hex(12);
  nlohmann::json out{{"upload_id", upload_id},
                     {"width", uploaded->photo.width},
                     {"height", uploaded->photo.height},
                     {"faces", faces},
                     {"too_small", uploaded->photo.too_small}};
  if (uploaded->photo.faces.empty()) {
    out["message"] = no_face_message(uploaded->photo, options_.analyzer.min_face_size);
  } else {
    out["largest_face"] = library::largest_face(uploaded->photo.faces);
  }
  uploads_.put(upload_id, std::move(uploaded));
  send_json(response, out);
}

void HttpServer::post_search(const httplib::Request& request, httplib::Response& response) {
  const nlohmann::json body = parse_body_object(request);
  const std::string upload_id = required_string(body, "upload_id");
  const std::optional<std::int64_t> face = optional_int(body, "face", 0, 1'000'000);
  const std::int64_t top = optional_int(body, "top", 1, 200).value_or(20);
  const std::optional<double> threshold = optional_number(body, "threshold", 0.0, 1.0);
  const bool include_low_quality = optional_bool(body, "include_low_quality").value_or(false);

  const std::shared_ptr<const UploadedPhoto> upload = uploads_.get(upload_id);
  if (!upload) {
    throw ApiError(404, "unknown_upload",
                   "There is no upload '" + upload_id + "' (the server keeps the last " +
                       std::to_string(options_.recent_uploads) + " uploads for " +
                       std::to_string(options_.upload_lifetime.count() / 60) +
                       " minutes, and forgets them when it restarts): upload the photo again.");
  }
  const std::size_t face_count = upload->faces.size();
  if (face_count == 0) {
    send_json(response,
              {{"threshold", nullptr},
               {"candidates", 0},
               {"results", nlohmann::json::array()},
               {"message", no_face_message(upload->photo, options_.analyzer.min_face_size)}});
    return;
  }
  if (face && static_cast<std::size_t>(*face) >= face_count) {
    throw ApiError(400, "out_of_range",
                   "Field 'face' must be a face of the upload: it has " +
                       std::to_string(face_count) +
                       (face_count == 1 ? " face (0)."
                                        : " faces (0 to " + std::to_string(face_count - 1) + ")."));
  }
  const std::size_t chosen =
      face ? static_cast<std::size_t>(*face) : library::largest_face(upload->photo.faces);
  const match::FaceDescription& query = upload->faces[chosen];

  library::SearchOptions search;
  search.top_k = static_cast<std::size_t>(top);
  search.min_probability = threshold;
  search.include_low_quality = include_low_quality;

  nlohmann::json results = nlohmann::json::array();
  library::SearchResult found;
  {
    std::lock_guard<std::mutex> lock(library_mutex_);
    found = library::search_face(*library_, analyzer_->recognizer(), query, search);
    store::Catalog& catalog = library_->catalog();
    for (const library::SearchHit& hit : found.hits) {
      // The face's person: a confirmed link wins over an automatic one;
      // a rejected link is not a person.
      nlohmann::json person = nullptr;
      const store::FacePersonLink* best = nullptr;
      const std::vector<store::FacePersonLink> links = catalog.people_of_face(hit.face_id);
      for (const store::FacePersonLink& link : links) {
        if (link.origin == store::LinkOrigin::kRejected) continue;
        if (best == nullptr || (link.origin == store::LinkOrigin::kConfirmed &&
                                best->origin != store::LinkOrigin::kConfirmed)) {
          best = &link;
        }
      }
      if (best != nullptr) {
        if (std::optional<store::Person> p = catalog.find_person(best->person_id)) {
          person = {{"id", p->id}, {"name", optional_text(p->name)}};
        }
      }
      results.push_back({{"face_id", hit.face_id},
                         {"photo_id", hit.photo_id},
                         {"path", hit.path},
                         {"box", box_json(hit.box)},
                         {"probability", hit.probability},
                         {"same_person", hit.same_person},
                         {"quality", stored_quality_json(hit.quality)},
                         {"searchable", hit.searchable},
                         {"capture_time", optional_text(hit.capture_time)},
                         {"person", person},
                         {"face_url", "/api/faces/" + std::to_string(hit.face_id) + "/crop"},
                         {"photo_url", "/api/photos/" + std::to_string(hit.photo_id) + "/image"}});
    }
  }
  nlohmann::json out{{"face", chosen},
                     {"query_searchable", query.searchable},
                     {"threshold", found.threshold},
                     {"candidates", found.candidates},
                     {"results", results}};
  if (!found.note.empty()) out["message"] = found.note;
  send_json(response, out);
}

}  // namespace likeness::server
