#include "likeness/library/export.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "likeness/core/error.h"
#include "likeness/io/image.h"
#include "likeness/library/library_json.h"
#include "likeness/library/people.h"

namespace likeness::library {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json optional_text(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

// The face with a margin of half its size on every side, long side
// `size`, as JPEG bytes; empty when the photo cannot be read.
std::vector<std::uint8_t> face_crop(const store::Photo& photo, const store::Face& face, int size,
                                    std::string& error) {
  const float margin = 0.5f * std::max(face.box.w, face.box.h);
  const cv::Rect region(static_cast<int>(std::floor(face.box.x - margin)),
                        static_cast<int>(std::floor(face.box.y - margin)),
                        static_cast<int>(std::ceil(face.box.w + 2 * margin)),
                        static_cast<int>(std::ceil(face.box.h + 2 * margin)));
  io::DecodeResult decoded;
  try {
    decoded = io::decode_image_region_file(photo.path, region);
  } catch (const UsageError& e) {  // the box is outside the photo: it changed on disk
    error = std::string("the photo changed since it was indexed: ") + e.what();
    return {};
  }
  if (!decoded.ok()) {
    error = decoded.message;
    return {};
  }
  cv::Mat rgb = decoded.value->image.rgb;
  const double scale = static_cast<double>(size) / std::max(rgb.cols, rgb.rows);
  if (scale < 1.0) cv::resize(rgb, rgb, cv::Size(), scale, scale, cv::INTER_AREA);
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  return jpeg;
}

// ---- output: a folder, or a .zip of the same files --------------------------

class ExportWriter {
 public:
  virtual ~ExportWriter() = default;
  virtual void add(const std::string& name, const std::string& bytes) = 0;
  virtual void finish() = 0;
};

class FolderWriter final : public ExportWriter {
 public:
  explicit FolderWriter(fs::path dir) : dir_(std::move(dir)) {
    if (fs::exists(dir_) && (!fs::is_directory(dir_) || !fs::is_empty(dir_))) {
      throw UsageError("export: " + dir_.string() +
                       " exists and is not an empty folder; choose a new --out");
    }
    fs::create_directories(dir_);
  }
  void add(const std::string& name, const std::string& bytes) override {
    const fs::path file = dir_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw store::StoreError("export: cannot write " + file.string() + " (disk full?)");
  }
  void finish() override {}

 private:
  fs::path dir_;
};

// A ZIP archive with stored (uncompressed) entries: JPEGs do not compress, and
// every unzip tool reads method 0. Entries are kept in memory until finish().
class ZipWriter final : public ExportWriter {
 public:
  explicit ZipWriter(fs::path file) : file_(std::move(file)) {
    if (fs::exists(file_)) {
      throw UsageError("export: " + file_.string() + " exists; choose a new --out");
    }
  }
  void add(const std::string& name, const std::string& bytes) override {
    entries_.push_back({name, bytes, crc32(bytes)});
  }
  void finish() override {
    std::string archive;
    std::string directory;
    for (const Entry& e : entries_) {
      if (e.bytes.size() >= 0xffffffffu || archive.size() >= 0xffffffffu) {
        throw store::StoreError(
            "export: the archive is too large for a plain ZIP; export to a folder");
      }
      const auto offset = static_cast<std::uint32_t>(archive.size());
      // Local file header.
      put32(archive, 0x04034b50);
      put16(archive, 20);      // version needed
      put16(archive, 0x0800);  // flags: UTF-8 names
      put16(archive, 0);       // method: stored
      put16(archive, 0);       // time
      put16(archive, 0x21);    // date: 1980-01-01
      put32(archive, e.crc);
      put32(archive, static_cast<std::uint32_t>(e.bytes.size()));
      put32(archive, static_cast<std::uint32_t>(e.bytes.size()));
      put16(archive, static_cast<std::uint16_t>(e.name.size()));
      put16(archive, 0);
      archive += e.name;
      archive += e.bytes;
      // Its central directory record.
      put32(directory, 0x02014b50);
      put16(directory, 20);  // made by
      put16(directory, 20);  // needed
      put16(directory, 0x0800);
      put16(directory, 0);
      put16(directory, 0);
      put16(directory, 0x21);
      put32(directory, e.crc);
      put32(directory, static_cast<std::uint32_t>(e.bytes.size()));
      put32(directory, static_cast<std::uint32_t>(e.bytes.size()));
      put16(directory, static_cast<std::uint16_t>(e.name.size()));
      put16(directory, 0);  // extra
      put16(directory, 0);  // comment
      put16(directory, 0);  // disk
      put16(directory, 0);  // internal attributes
      put32(directory, 0);  // external attributes
      put32(directory, offset);
      directory += e.name;
    }
    const auto directory_offset = static_cast<std::uint32_t>(archive.size());
    archive += directory;
    put32(archive, 0x06054b50);
    put16(archive, 0);
    put16(archive, 0);
    put16(archive, static_cast<std::uint16_t>(entries_.size()));
    put16(archive, static_cast<std::uint16_t>(entries_.size()));
    put32(archive, static_cast<std::uint32_t>(directory.size()));
    put32(archive, directory_offset);
    put16(archive, 0);
    if (file_.has_parent_path()) fs::create_directories(file_.parent_path());
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    out.write(archive.data(), static_cast<std::streamsize>(archive.size()));
    if (!out) throw store::StoreError("export: cannot write " + file_.string() + " (disk full?)");
  }

 private:
  struct Entry {
    std::string name, bytes;
    std::uint32_t crc;
  };
  static void put16(std::string& s, std::uint16_t v) {
    s += static_cast<char>(v & 0xff);
    s += static_cast<char>(v >> 8);
  }
  static void put32(std::string& s, std::uint32_t v) {
    put16(s, static_cast<std::uint16_t>(v & 0xffff));
    put16(s, static_cast<std::uint16_t>(v >> 16));
  }
  // CRC-32 (IEEE 802.3, reflected), as ZIP requires.
  static std::uint32_t crc32(const std::string& bytes) {
    static const std::array<std::uint32_t, 256> table = [] {
      std::array<std::uint32_t, 256> t{};
      for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
      }
      return t;
    }();
    std::uint32_t c = 0xffffffffu;
    for (const char ch : bytes) c = table[(c ^ static_cast<std::uint8_t>(ch)) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
  }

  fs::path file_;
  std::vector<Entry> entries_;
};

}  // namespace

ExportReport export_person(Library& library, std::int64_t person_id, const fs::path& out,
                           const ExportOptions& options) {
  store::Catalog& catalog = library.catalog();
  const std::optional<store::Person> person = catalog.find_person(person_id);
  if (!person) {
    throw UsageError("there is no person #" + std::to_string(person_id) + " in the library");
  }
  std::unique_ptr<ExportWriter> writer;
  if (out.extension() == ".zip") {
    writer = std::make_unique<ZipWriter>(out);
  } else {
    writer = std::make_unique<FolderWriter>(out);
  }

  ExportReport report;
  report.out = out;
  std::map<std::int64_t, bool> photos_seen;
  json faces = json::array();
  for (const PersonFace& f : person_faces(catalog, person_id)) {
    ++report.faces;
    photos_seen[f.photo.id] = true;
    json face{
        {"face_id", f.face.id},
        {"added", iso_utc_time(f.face.created_at)},
        {"photo",
         {{"path", f.photo.path},
          {"content_sha256", f.photo.content_hash},
          {"size_bytes", f.photo.size_bytes},
          {"capture_time", optional_text(f.photo.capture_time)},
          {"indexed", iso_utc_time(f.photo.indexed_at)}}},
        {"box",
         {{"x", f.face.box.x}, {"y", f.face.box.y}, {"w", f.face.box.w}, {"h", f.face.box.h}}},
        {"detector_score", f.face.detector_score}};
    json landmarks = json::array();
    for (const store::FacePoint& p : f.face.landmarks) landmarks.push_back({p.x, p.y});
    face["landmarks"] = landmarks;
    face["quality"] = stored_quality_json(f.face.quality);
    face["attributes"] =
        f.face.attributes.empty() ? json::object() : json::parse(f.face.attributes, nullptr, false);
    for (const store::FacePersonLink& link : catalog.people_of_face(f.face.id)) {
      if (link.person_id == person_id) {
        face["link"] = {{"origin", store::to_string(link.origin)},
                        {"added", iso_utc_time(link.created_at)}};
      }
    }
    json models = json::array();
    for (const store::FaceVector& v : catalog.vectors_of_face(f.face.id)) {
      json model{{"model", v.model}, {"dimensions", v.values.size()}};
      if (options.with_vectors) model["values"] = v.values;
      models.push_back(model);
    }
    face["descriptions"] = models;
    std::string error;
    const std::vector<std::uint8_t> crop = face_crop(f.photo, f.face, options.crop_size, error);
    if (crop.empty()) {
      ++report.missing_crops;
      face["crop"] = nullptr;
      face["crop_error"] = error;
    } else {
      const std::string name = "faces/face_" + std::to_string(f.face.id) + ".jpg";
      writer->add(name, std::string(crop.begin(), crop.end()));
      face["crop"] = name;
      ++report.crops;
    }
    faces.push_back(face);
  }
  report.photos = photos_seen.size();
  const json document{
      {"format", "likeness-person-export/1"},
      {"exported", iso_utc_time(static_cast<std::int64_t>(std::time(nullptr)))},
      {"person",
       {{"id", person->id},
        {"name", optional_text(person->name)},
        {"added", iso_utc_time(person->created_at)}}},
      {"faces", faces},
      {"about",
       "Everything this Likeness library stores about this person: each face found in the "
       "photos, where, how good it is, what the attribute models estimated, and how it was "
       "linked to the person. The recognition models' descriptions of each face (vectors, "
       "biometric templates) are listed by model; their numbers are included only when asked "
       "for. The photos themselves stay where they are (their paths are listed)."}};
  writer->add("person.json", document.dump(2, ' ', false, json::error_handler_t::replace));
  writer->finish();
  report.audit_id = catalog.add_audit_entry("export", json{{"person", person_id},
                                                           {"faces", report.faces},
                                                           {"crops", report.crops},
                                                           {"with_vectors", options.with_vectors}}
                                                          .dump());
  return report;
}

}  // namespace likeness::library
