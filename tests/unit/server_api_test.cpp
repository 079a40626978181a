// `likeness serve`'s JSON API end to end: a server started in-process on a
// free port over a small library indexed from LFW photos, driven with
// httplib::Client the way the web page drives it. Every route's happy path
// and its refusals (status, error code, message), and the server still
// healthy after each refusal. Needs the models (scripts/setup.sh models) and
// ../shared/datasets/lfw; skips with a message without them.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "likeness/library/indexer.h"
#include "likeness/library/library.h"
#include "likeness/library/people_cluster.h"
#include "likeness/match/embedded_calibration.h"
#include "likeness/server/server.h"
#include "likeness/server/static_files.h"
#include "support/models.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uint64_t kMaxUpload = 1 << 20;  // small, so that 413 is cheap to provoke

fs::path lfw_image(const std::string& name, int index) {
  char file[16];
  std::snprintf(file, sizeof file, "_%04d.jpg", index);
  return testing::datasets_dir() / "lfw" / "images" / name / (name + file);
}

void copy_photo(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
}

std::string file_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

json body_json(const httplib::Result& result) {
  if (!result) return json();
  return json::parse(result->body, nullptr, false);
}

// One server for the suite (loading the models is the slow part) over a
// library of three people's LFW photos, clustered into people.
class ServerApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(testing::datasets_dir() / "lfw")) return;
    {
      const infer::ModelStore store = infer::ModelStore::open();
      if (!testing::pipeline_models_installed(store)) return;
      dir_ = std::make_unique<testing::TempDir>("server_api");
      const fs::path photos = dir_->path() / "photos";
      for (int i = 1; i <= 3; ++i) {
        copy_photo(lfw_image("George_W_Bush", i), photos / ("bush_" + std::to_string(i) + ".jpg"));
        copy_photo(lfw_image("Colin_Powell", i), photos / ("powell_" + std::to_string(i) + ".jpg"));
      }
      copy_photo(lfw_image("Tony_Blair", 1), photos / "blair_1.jpg");
      // Deleted by a test after indexing: a photo that vanished from disk.
      copy_photo(lfw_image("Tony_Blair", 2), photos / "vanishing.jpg");
      auto library = library::Library::open(dir_->path() / "library");
      library::IndexerOptions indexer_options;
      indexer_options.workers = 1;
      auto indexer = library::Indexer::create(store, indexer_options);
      const std::vector<fs::path> folders = {photos};
      indexer->run(*library, folders);
      library::cluster_people(*library, indexer->analyzer().recognizer());
    }
    ServerOptions options;
    options.library_dir = dir_->path() / "library";
    options.port = 0;
    options.max_upload_bytes = kMaxUpload;
    options.index_workers = 1;
    options.index_batch_size = 2;  // many commits: reads happen between them
    server_ = Server::create(options).release();
    serving_ = new std::thread([] { server_->run(); });
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->stop();
    if (serving_ != nullptr) serving_->join();
    delete serving_;
    delete server_;
    serving_ = nullptr;
    server_ = nullptr;
    dir_.reset();
  }

  void SetUp() override {
    LIKENESS_REQUIRE_DATASET("lfw");
    if (server_ == nullptr) GTEST_SKIP() << "models not installed (scripts/setup.sh models)";
  }

  static fs::path photos_dir() { return dir_->path() / "photos"; }

  static httplib::Client client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(std::chrono::seconds(120));
    return c;
  }
  static httplib::Headers token_headers() { return {{"X-Likeness-Token", server_->token()}}; }
  static httplib::Result post_json(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), token_headers(), body, "application/json");
  }
  static httplib::Result upload(const std::string& bytes, const std::string& filename,
                                const std::string& type = "image/jpeg") {
    httplib::MultipartFormDataItems items = {{"photo", bytes, filename, type}};
    return client().Post("/api/uploads", token_headers(), items);
  }

  // The status and the error code of a refusal, and a message a person can act on.
  static void expect_error(const httplib::Result& result, int status, const std::string& code) {
    ASSERT_TRUE(result) << "no response: " << httplib::to_string(result.error());
    EXPECT_EQ(result->status, status) << result->body;
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    const json body = body_json(result);
    ASSERT_TRUE(body.is_object()) << result->body;
    EXPECT_EQ(body["error"]["code"], code) << result->body;
    ASSERT_TRUE(body["error"]["message"].is_string());
    EXPECT_GT(body["error"]["message"].get<std::string>().size(), 20u) << result->body;
    expect_healthy();
  }

  static void expect_healthy() {
    const auto health = client().Get("/api/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(body_json(health), json({{"ok", true}}));
  }

  static std::unique_ptr<testing::TempDir> dir_;
  static Server* server_;
  static std::thread* serving_;
};

std::unique_ptr<testing::TempDir> ServerApi::dir_;
Server* ServerApi::server_ = nullptr;
std::thread* ServerApi::serving_ = nullptr;

TEST_F(ServerApi, SessionGivesTheTokenAndTheLibrary) {
  const auto result = client().Get("/api/session");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(result->has_header("Access-Control-Allow-Origin"));
  const json session = body_json(result);
  EXPECT_EQ(session["token"], server_->token());
  EXPECT_EQ(session["token"].get<std::string>().size(), 64u);
  EXPECT_EQ(session["library"]["photos"], 8);
  EXPECT_GE(session["library"]["faces"].get<int>(), 8);
  EXPECT_GE(session["library"]["people"].get<int>(), 2);
  EXPECT_EQ(session["max_upload_bytes"], kMaxUpload);
  EXPECT_EQ(session["min_face_px"], 30);
  EXPECT_NE(server_->url().find(":" + std::to_string(server_->port()) + "/"), std::string::npos);
}

TEST_F(ServerApi, ForeignHostIsForbiddenAndLoopbackNamesAreNot) {
  httplib::Client c = client();
  const std::string port = std::to_string(server_->port());
  expect_error(c.Get("/api/session", {{"Host", "evil.example:" + port}}), 403, "forbidden_host");
  expect_error(c.Get("/api/health", {{"Host", "127.0.0.1:1"}}), 403, "forbidden_host");
  const auto localhost = c.Get("/api/health", {{"Host", "localhost:" + port}});
  ASSERT_TRUE(localhost);
  EXPECT_EQ(localhost->status, 200);
  const auto v6 = c.Get("/api/health", {{"Host", "[::1]:" + port}});
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->status, 200);
}

TEST_F(ServerApi, WritesNeedTheSessionToken) {
  httplib::Client c = client();
  expect_error(c.Post("/api/search", R"({"upload_id": "u1"})", "application/json"), 403,
               "missing_token");
  expect_error(c.Post("/api/search", {{"X-Likeness-Token", "0123"}}, R"({"upload_id": "u1"})",
                      "application/json"),
               403, "bad_token");
  expect_error(c.Post("/api/people/cluster", {{"X-Likeness-Token", ""}}, "", "application/json"),
               403, "missing_token");
  expect_error(c.Post("/api/people/cluster", {{"X-Likeness-Token", server_->token() + "0"}}, "",
                      "application/json"),
               403, "bad_token");
}

TEST_F(ServerApi, UnknownRoutesAre404AndWrongMethods405) {
  httplib::Client c = client();
  expect_error(c.Get("/api/nothing"), 404, "unknown_route");
  expect_error(c.Get("/api/photos/abc"), 404, "unknown_route");
  expect_error(c.Get("/etc/passwd"), 404, "unknown_route");
  const auto wrong = c.Delete("/api/session", token_headers());
  expect_error(wrong, 405, "method_not_allowed");
  EXPECT_NE(wrong->get_header_value("Allow").find("GET"), std::string::npos);
  expect_error(c.Put("/api/people/1", token_headers(), "{}", "application/json"), 405,
               "method_not_allowed");
  expect_error(c.Get("/api/uploads"), 405, "method_not_allowed");
}

TEST_F(ServerApi, BadJsonIs400WithTheField) {
  expect_error(post_json("/api/search", "{not json"), 400, "malformed_json");
  expect_error(post_json("/api/search", "[1, 2]"), 400, "wrong_type");
  expect_error(post_json("/api/search", R"({"upload_id": 7})"), 400, "wrong_type");
  expect_error(post_json("/api/search", R"({})"), 400, "missing_field");
  expect_error(post_json("/api/search", R"({"upload_id": "u1", "top": 0})"), 400, "out_of_range");
  expect_error(post_json("/api/search", R"({"upload_id": "u1", "threshold": "high"})"), 400,
               "wrong_type");
  expect_error(post_json("/api/people/1/merge", R"({"other": "two"})"), 400, "wrong_type");
  expect_error(client().Get("/api/faces/1/crop?size=9999"), 400, "bad_query");
  expect_error(client().Get("/api/people?limit=abc"), 400, "bad_query");
}

TEST_F(ServerApi, UploadsAreBoundedAndMustBePhotos) {
  std::string big = file_text(lfw_image("George_W_Bush", 4));
  big.resize(kMaxUpload + 1000, 'x');
  expect_error(upload(big, "big.jpg"), 413, "upload_too_large");
  expect_error(upload("hello, this is not a photo at all", "notes.txt", "text/plain"), 415,
               "unsupported_media");
  std::string truncated = file_text(lfw_image("George_W_Bush", 4));
  truncated.resize(truncated.size() / 3);
  expect_error(upload(truncated, "cut.jpg"), 400, "bad_photo");
  expect_error(client().Post("/api/uploads", token_headers(), "{}", "application/json"), 400,
               "missing_field");
}

TEST_F(ServerApi, UploadWithoutAFaceSaysWhatToDo) {
  cv::Mat plain(240, 320, CV_8UC3);
  cv::randu(plain, cv::Scalar::all(90), cv::Scalar::all(110));
  std::vector<std::uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", plain, jpeg));
  const auto result = upload(std::string(jpeg.begin(), jpeg.end()), "wall.jpg");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  const json body = body_json(result);
  EXPECT_EQ(body["faces"], json::array());
  EXPECT_EQ(body["width"], 320);
  EXPECT_EQ(
      body["message"].get<std::string>().rfind("No face found. Use a clear, well-lit photo", 0),
      0u);
  // Searching it is an answer, not an error.
  const auto search = post_json("/api/search", json({{"upload_id", body["upload_id"]}}).dump());
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 200);
  EXPECT_EQ(body_json(search)["results"], json::array());
}

TEST_F(ServerApi, SearchWithAnUploadFindsThatPersonFirst) {
  // Bush's fourth LFW photo is not in the library; his first three are.
  const auto uploaded = upload(file_text(lfw_image("George_W_Bush", 4)), "query.jpg");
  ASSERT_TRUE(uploaded);
  ASSERT_EQ(uploaded->status, 200) << uploaded->body;
  const json photo = body_json(uploaded);
  ASSERT_GE(photo["faces"].size(), 1u) << uploaded->body;
  EXPECT_TRUE(photo["faces"][0]["searchable"].get<bool>());
  const cv::Mat query = cv::imread(lfw_image("George_W_Bush", 4).string());
  EXPECT_EQ(photo["width"], query.cols);
  EXPECT_EQ(photo["height"], query.rows);
  const auto found =
      post_json("/api/search", json({{"upload_id", photo["upload_id"]}, {"top", 5}}).dump());
  ASSERT_TRUE(found);
  ASSERT_EQ(found->status, 200) << found->body;
  const json results = body_json(found)["results"];
  ASSERT_GE(results.size(), 1u) << found->body;
  const std::string first = results[0]["path"];
  EXPECT_NE(fs::path(first).filename().string().rfind("bush_", 0), std::string::npos) << first;
  EXPECT_TRUE(results[0]["same_person"].get<bool>());
  EXPECT_TRUE(results[0]["person"].is_object()) << results[0];
  for (const json& hit : results) {
    EXPECT_EQ(fs::path(hit["path"].get<std::string>()).filename().string().rfind("bush_", 0), 0u)
        << "a false match: " << hit;
  }
  // The face's crop and photo the result links to.
  const auto crop = client().Get(results[0]["face_url"].get<std::string>().c_str());
  ASSERT_TRUE(crop);
  EXPECT_EQ(crop->status, 200);
  EXPECT_EQ(crop->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_NE(crop->get_header_value("Cache-Control").find("private"), std::string::npos);
  const cv::Mat crop_image = cv::imdecode(
      std::vector<std::uint8_t>(crop->body.begin(), crop->body.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(crop_image.cols, 160);
  EXPECT_EQ(crop_image.rows, 160);
  const auto image =
      client().Get((results[0]["photo_url"].get<std::string>() + "?max=100").c_str());
  ASSERT_TRUE(image);
  EXPECT_EQ(image->status, 200);
  const cv::Mat photo_image = cv::imdecode(
      std::vector<std::uint8_t>(image->body.begin(), image->body.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(std::max(photo_image.cols, photo_image.rows), 100);
  // A face the upload does not have.
  expect_error(
      post_json("/api/search", json({{"upload_id", photo["upload_id"]}, {"face", 50}}).dump()), 400,
      "out_of_range");
}

TEST_F(ServerApi, UnknownIdsAre404) {
  httplib::Client c = client();
  expect_error(c.Get("/api/photos/999999"), 404, "unknown_photo");
  expect_error(c.Get("/api/photos/999999/image"), 404, "unknown_photo");
  expect_error(c.Get("/api/faces/999999"), 404, "unknown_face");
  expect_error(c.Get("/api/faces/999999/crop"), 404, "unknown_face");
  expect_error(c.Get("/api/people/999999"), 404, "unknown_person");
  expect_error(
      c.Patch("/api/people/999999", token_headers(), R"({"name": "X"})", "application/json"), 404,
      "unknown_person");
  expect_error(post_json("/api/search", R"({"upload_id": "u-gone"})"), 404, "unknown_upload");
  expect_error(post_json("/api/people/1/reject", R"({"face_id": 999999})"), 404, "unknown_face");
}

TEST_F(ServerApi, PhotoAndFaceDetails) {
  const json people = body_json(client().Get("/api/people"));
  ASSERT_GE(people["people"].size(), 1u);
  const std::int64_t face_id = people["people"][0]["cover_face_id"];
  const auto face_result = client().Get(("/api/faces/" + std::to_string(face_id)).c_str());
  ASSERT_TRUE(face_result);
  ASSERT_EQ(face_result->status, 200);
  const json face = body_json(face_result);
  EXPECT_EQ(face["id"], face_id);
  EXPECT_EQ(face["landmarks"].size(), 5u);
  EXPECT_TRUE(face["attributes"].is_object());
  EXPECT_GT(face["box"]["w"].get<double>(), 30.0);
  EXPECT_GE(face["people"].size(), 1u);
  const auto photo_result =
      client().Get(("/api/photos/" + std::to_string(face["photo_id"].get<int>())).c_str());
  ASSERT_TRUE(photo_result);
  ASSERT_EQ(photo_result->status, 200);
  const json photo = body_json(photo_result);
  const cv::Mat file = cv::imread(photo["path"].get<std::string>());
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(photo["width"], file.cols);
  EXPECT_EQ(photo["height"], file.rows);
  EXPECT_EQ(photo["status"], "indexed");
  std::set<std::int64_t> ids;
  for (const json& f : photo["faces"]) ids.insert(f["id"].get<std::int64_t>());
  EXPECT_EQ(ids.count(face_id), 1u);
}

TEST_F(ServerApi, VanishedPhotoIs404SayingSo) {
  std::optional<std::int64_t> vanishing;
  for (int id = 1; id <= 20 && !vanishing; ++id) {
    const json photo = body_json(client().Get(("/api/photos/" + std::to_string(id)).c_str()));
    if (photo.is_object() && photo.contains("path") &&
        fs::path(photo["path"].get<std::string>()).filename() == "vanishing.jpg") {
      vanishing = id;
    }
  }
  ASSERT_TRUE(vanishing);
  fs::remove(photos_dir() / "vanishing.jpg");
  const auto image = client().Get(("/api/photos/" + std::to_string(*vanishing) + "/image").c_str());
  expect_error(image, 404, "photo_missing");
  EXPECT_NE(body_json(image)["error"]["message"].get<std::string>().find("no longer on disk"),
            std::string::npos);
  const json photo = body_json(client().Get(("/api/photos/" + std::to_string(*vanishing)).c_str()));
  EXPECT_EQ(photo["on_disk"], false);
}

TEST_F(ServerApi, PeopleListShowRenameRejectConfirmMerge) {
  const auto list_result = client().Get("/api/people?limit=60");
  ASSERT_TRUE(list_result);
  ASSERT_EQ(list_result->status, 200);
  const json list = body_json(list_result);
  ASSERT_GE(list["total"].get<int>(), 2) << list;
  const json& first = list["people"][0];
  EXPECT_GE(first["faces"].get<int>(), list["people"][1]["faces"].get<int>());
  EXPECT_TRUE(first["cover_face_id"].is_number_integer());
  const std::int64_t id = first["id"];
  const std::int64_t other = list["people"][1]["id"];
  const std::string path = "/api/people/" + std::to_string(id);

  // Paging.
  const json page = body_json(client().Get("/api/people?offset=1&limit=1"));
  ASSERT_EQ(page["people"].size(), 1u);
  EXPECT_EQ(page["people"][0]["id"], other);

  // Rename, find by name, remove the name.
  auto renamed =
      client().Patch(path.c_str(), token_headers(), R"({"name": "Ada"})", "application/json");
  ASSERT_TRUE(renamed);
  ASSERT_EQ(renamed->status, 200) << renamed->body;
  EXPECT_EQ(body_json(renamed)["name"], "Ada");
  const json by_name = body_json(client().Get("/api/people?q=ad"));
  ASSERT_EQ(by_name["total"], 1);
  EXPECT_EQ(by_name["people"][0]["id"], id);
  expect_error(client().Patch(path.c_str(), token_headers(), R"({"name": 5})", "application/json"),
               400, "wrong_type");
  renamed = client().Patch(path.c_str(), token_headers(), R"({"name": null})", "application/json");
  ASSERT_TRUE(renamed);
  EXPECT_TRUE(body_json(renamed)["name"].is_null());

  // Show: the faces with their links.
  const json person = body_json(client().Get(path.c_str()));
  ASSERT_GE(person["faces"].size(), 2u) << person;
  const std::int64_t face_id = person["faces"][0]["face_id"];
  EXPECT_EQ(person["faces"][0]["face_url"], "/api/faces/" + std::to_string(face_id) + "/crop");

  // Reject one face: it leaves the person; confirm it: it comes back.
  const std::string face_body = json({{"face_id", face_id}}).dump();
  const auto rejected = post_json(path + "/reject", face_body);
  ASSERT_TRUE(rejected);
  ASSERT_EQ(rejected->status, 200) << rejected->body;
  EXPECT_EQ(body_json(rejected)["faces"].size(), person["faces"].size() - 1);
  const auto confirmed = post_json(path + "/confirm", face_body);
  ASSERT_TRUE(confirmed);
  ASSERT_EQ(confirmed->status, 200) << confirmed->body;
  const json after = body_json(confirmed);
  ASSERT_EQ(after["faces"].size(), person["faces"].size());
  bool is_confirmed = false;
  for (const json& f : after["faces"]) {
    if (f["face_id"] == face_id) is_confirmed = f["origin"] == "confirmed";
  }
  EXPECT_TRUE(is_confirmed);

  // Merge the second person into the first: the second is gone.
  expect_error(post_json(path + "/merge", json({{"other", id}}).dump()), 400, "same_person");
  const auto merged = post_json(path + "/merge", json({{"other", other}}).dump());
  ASSERT_TRUE(merged);
  ASSERT_EQ(merged->status, 200) << merged->body;
  EXPECT_EQ(body_json(merged)["faces"].size(),
            person["faces"].size() + list["people"][1]["faces"].get<std::size_t>());
  expect_error(client().Get(("/api/people/" + std::to_string(other)).c_str()), 404,
               "unknown_person");

  // Re-clustering keeps the user's decisions and answers with counts.
  const auto clustered = post_json("/api/people/cluster", "");
  ASSERT_TRUE(clustered);
  ASSERT_EQ(clustered->status, 200) << clustered->body;
  EXPECT_GE(body_json(clustered)["people"].get<int>(), 1);
  EXPECT_GE(body_json(clustered)["faces_clustered"].get<int>(), 2);
}

// Erasure through the API: refused without the user's confirmation; then the
// person, their faces and crops are gone, and the audit log says so.
TEST_F(ServerApi, ErasingAPersonNeedsConfirmationAndIsLogged) {
  const json list = body_json(client().Get("/api/people?limit=60"));
  ASSERT_GE(list["total"].get<int>(), 2) << list;
  const json& last = list["people"][list["people"].size() - 1];
  const std::int64_t id = last["id"];
  const std::string path = "/api/people/" + std::to_string(id);
  const json person = body_json(client().Get(path.c_str()));
  ASSERT_FALSE(person["faces"].empty()) << person;
  const std::int64_t face_id = person["faces"][0]["face_id"];
  const std::string crop = "/api/faces/" + std::to_string(face_id) + "/crop";
  ASSERT_EQ(client().Get(crop.c_str())->status, 200);  // now cached in memory

  expect_error(post_json(path + "/erase", "{}"), 400, "not_confirmed");
  expect_error(client().Post((path + "/erase").c_str(), R"({"confirm": true})", "application/json"),
               403, "missing_token");
  expect_error(post_json("/api/people/999999/erase", R"({"confirm": true})"), 404,
               "unknown_person");
  const auto erased = post_json(path + "/erase", R"({"confirm": true})");
  ASSERT_TRUE(erased);
  ASSERT_EQ(erased->status, 200) << erased->body;
  EXPECT_EQ(body_json(erased)["faces"], person["faces"].size());
  EXPECT_EQ(body_json(erased)["people"], 1);
  expect_error(client().Get(path.c_str()), 404, "unknown_person");
  expect_error(client().Get(crop.c_str()), 404, "unknown_face");
  const json log = body_json(client().Get("/api/privacy/log"));
  ASSERT_FALSE(log["entries"].empty()) << log;
  const json& entry = log["entries"][log["entries"].size() - 1];
  EXPECT_EQ(entry["action"], "erase");
  EXPECT_EQ(entry["details"]["scope"], "person");
  EXPECT_EQ(entry["details"]["faces"], person["faces"].size());
}

// Export gives a ZIP with person.json listing the person's faces; retention
// rules round-trip, refuse bad values, and applying them deletes nothing while
// every face is recent.
TEST_F(ServerApi, ExportAndRetention) {
  const json list = body_json(client().Get("/api/people?limit=60"));
  ASSERT_GE(list["total"].get<int>(), 1) << list;
  const std::int64_t id = list["people"][0]["id"];
  const std::string path = "/api/people/" + std::to_string(id);
  const auto exported = post_json(path + "/export", "");
  ASSERT_TRUE(exported);
  ASSERT_EQ(exported->status, 200) << exported->body;
  EXPECT_EQ(exported->get_header_value("Content-Type"), "application/zip");
  ASSERT_GT(exported->body.size(), 100u);
  EXPECT_EQ(exported->body.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_NE(exported->body.find("person.json"), std::string::npos);
  EXPECT_NE(exported->body.find("likeness-person-export/1"), std::string::npos);
  expect_error(post_json("/api/people/999999/export", ""), 404, "unknown_person");

  const json none = body_json(client().Get("/api/privacy/retention"));
  EXPECT_TRUE(none["unnamed_face_days"].is_null()) << none;
  const auto set =
      client().Put("/api/privacy/retention", token_headers(),
                   R"({"unnamed_face_days": 30, "vanished_photos": true})", "application/json");
  ASSERT_TRUE(set);
  ASSERT_EQ(set->status, 200) << set->body;
  const json policy = body_json(client().Get("/api/privacy/retention"));
  EXPECT_EQ(policy["unnamed_face_days"], 30);
  EXPECT_EQ(policy["vanished_photos"], true);
  expect_error(client().Put("/api/privacy/retention", token_headers(),
                            R"({"unnamed_face_days": -3})", "application/json"),
               400, "out_of_range");
  const std::int64_t faces_before = body_json(client().Get("/api/session"))["library"]["faces"];
  const auto applied = post_json("/api/privacy/apply-retention", "");
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->status, 200) << applied->body;
  EXPECT_EQ(body_json(applied)["faces"], 0);  // every face was indexed minutes ago
  EXPECT_EQ(body_json(client().Get("/api/session"))["library"]["faces"], faces_before);
  const json log = body_json(client().Get("/api/privacy/log"));
  std::set<std::string> actions;
  for (const json& e : log["entries"]) actions.insert(e["action"]);
  EXPECT_TRUE(actions.count("export") && actions.count("retention_policy")) << log;
}

TEST_F(ServerApi, IndexingRunsInTheBackgroundAndNewFacesAreSearchable) {
  const json before = body_json(client().Get("/api/session"));
  expect_error(post_json("/api/index", R"({"folder": "/no/such/folder/anywhere"})"), 400,
               "missing_folder");
  expect_error(post_json("/api/index", R"({"folder": "relative/photos"})"), 400, "relative_folder");
  expect_error(post_json("/api/index", R"({"folder": 3})"), 400, "wrong_type");

  const fs::path more = dir_->path() / "more";
  copy_photo(lfw_image("Gerhard_Schroeder", 1), more / "schroeder_1.jpg");
  copy_photo(lfw_image("Gerhard_Schroeder", 2), more / "schroeder_2.jpg");
  std::ofstream(more / "broken.jpg") << "not really a jpeg";
  const std::string start = json({{"folder", more.string()}}).dump();
  const auto started = post_json("/api/index", start);
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  EXPECT_EQ(body_json(started)["state"], "running");
  // The first run loads the indexer's models: it is still going.
  expect_error(post_json("/api/index", start), 409, "index_running");

  json status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    status = body_json(client().Get("/api/index"));
  } while (status["state"] == "running" && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(status["state"], "done") << status;
  EXPECT_EQ(status["summary"]["photos_new"], 2) << status;
  EXPECT_EQ(status["summary"]["failed"], 1) << status;
  EXPECT_EQ(status["photos_total"], 3);
  EXPECT_EQ(status["errors"].size(), 1u) << status;
  ASSERT_EQ(status["recent_errors"].size(), 1u) << status;
  EXPECT_EQ(fs::path(status["recent_errors"][0]["path"].get<std::string>()).filename(),
            "broken.jpg");

  // The server's library sees the new photos, and searches find them.
  const json after = body_json(client().Get("/api/session"));
  EXPECT_EQ(after["library"]["photos"].get<int>(), before["library"]["photos"].get<int>() + 2);
  const json uploaded =
      body_json(upload(file_text(lfw_image("Gerhard_Schroeder", 3)), "schroeder.jpg"));
  ASSERT_GE(uploaded["faces"].size(), 1u);
  const json found =
      body_json(post_json("/api/search", json({{"upload_id", uploaded["upload_id"]}}).dump()));
  ASSERT_GE(found["results"].size(), 1u) << found;
  EXPECT_EQ(fs::path(found["results"][0]["path"].get<std::string>()).parent_path(), more);

  // Stopping when nothing runs is harmless.
  const auto stopped = post_json("/api/index/stop", "");
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, 200);
  EXPECT_EQ(body_json(stopped)["state"], "done");
}

// Concurrent use: while an indexing run writes to the library (its own
// handle, batches of 2 photos), searches, people lists, person pages and
// crops keep being answered, with no error and no torn read: every search
// finds Bush's photos first, and every person page lists only faces the
// server can crop.
TEST_F(ServerApi, SearchingAndBrowsingWhileAnIndexRunWrites) {
  const fs::path more = dir_->path() / "concurrent";
  const std::vector<std::string> people = {"Gerhard_Schroeder", "Donald_Rumsfeld", "Ariel_Sharon",
                                           "Hugo_Chavez"};
  for (const std::string& name : people) {
    for (int i = 1; i <= 5; ++i) {
      copy_photo(lfw_image(name, i), more / (name + "_" + std::to_string(i) + ".jpg"));
    }
  }
  const json query = body_json(upload(file_text(lfw_image("George_W_Bush", 4)), "bush.jpg"));
  ASSERT_GE(query["faces"].size(), 1u) << query;
  const std::string search = json({{"upload_id", query["upload_id"]}}).dump();
  const auto started = post_json("/api/index", json({{"folder", more.string()}}).dump());
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;

  std::size_t requests_while_running = 0;
  json status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  do {
    const auto found = post_json("/api/search", search);
    ASSERT_TRUE(found);
    ASSERT_EQ(found->status, 200) << found->body;
    const json hits = body_json(found)["results"];
    ASSERT_FALSE(hits.empty());
    EXPECT_NE(hits[0]["path"].get<std::string>().find("bush_"), std::string::npos) << hits[0];
    const auto list = client().Get("/api/people?limit=60");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->status, 200) << list->body;
    for (const json& person : body_json(list)["people"]) {
      const json shown = body_json(
          client().Get(("/api/people/" + std::to_string(person["id"].get<int>())).c_str()));
      ASSERT_TRUE(shown.contains("faces")) << shown;
      for (const json& face : shown["faces"]) {
        const auto crop = client().Get(face["face_url"].get<std::string>().c_str());
        ASSERT_TRUE(crop);
        EXPECT_EQ(crop->status, 200) << face;
      }
    }
    status = body_json(client().Get("/api/index"));
    if (status["state"] == "running") ++requests_while_running;
  } while (status["state"] == "running" && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(status["state"], "done") << status;
  EXPECT_EQ(status["summary"]["photos_new"], 20) << status;
  EXPECT_EQ(status["summary"]["failed"], 0) << status;
  // The loop ran while the run wrote (the run takes seconds; one pass of the
  // loop a fraction of one).
  EXPECT_GE(requests_while_running, 3u);
  expect_healthy();
}

TEST_F(ServerApi, ServesThePageOrSaysItIsNotBuiltIn) {
  const auto page = client().Get("/");
  ASSERT_TRUE(page);
  if (find_web_file("/index.html") != nullptr) {
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(page->body.size(), find_web_file("/index.html")->size);
  } else {
    expect_error(page, 404, "no_web_page");
  }
  expect_error(client().Post("/index.html", token_headers(), "", "text/plain"),
               find_web_file("/index.html") != nullptr ? 405 : 404,
               find_web_file("/index.html") != nullptr ? "method_not_allowed" : "unknown_route");
}

}  // namespace
}  // namespace likeness::server

namespace likeness::server {
namespace {

// A broken library (fused vectors of two lengths: the models changed
// between runs) fails loudly: the search is a 500 whose message is the
// library's, and the server keeps answering.
TEST(ServerBrokenLibrary, ErrorsInHandlersAre500WithTheMessageAndTheServerStaysUp) {
  LIKENESS_REQUIRE_DATASET("lfw");
  if (!testing::pipeline_models_installed(infer::ModelStore::open())) {
    GTEST_SKIP() << "models not installed (scripts/setup.sh models)";
  }
  testing::TempDir dir("server_broken");
  {
    auto library = library::Library::open(dir.path() / "library");
    store::Catalog& catalog = library->catalog();
    store::Photo photo;
    photo.path = (dir.path() / "a.jpg").string();
    photo.content_hash = std::string(64, '0');
    const std::int64_t photo_id = catalog.upsert_photo(photo);
    store::Face face;
    face.photo_id = photo_id;
    const std::vector<store::FaceVector> short_vector = {{"fused", {1.0f, 0.0f, 0.0f}}};
    const std::vector<store::FaceVector> long_vector = {{"fused", {1.0f, 0.0f, 0.0f, 0.0f, 0.0f}}};
    catalog.add_face(face, short_vector);
    face.box.x = 10.0f;  // another face of the photo (one box is one face)
    catalog.add_face(face, long_vector);
  }
  ServerOptions options;
  options.library_dir = dir.path() / "library";
  options.port = 0;
  std::unique_ptr<Server> server = Server::create(options);
  std::thread serving([&] { server->run(); });
  httplib::Client c("127.0.0.1", server->port());
  const httplib::Headers token = {{"X-Likeness-Token", server->token()}};
  httplib::MultipartFormDataItems items = {
      {"photo", file_text(lfw_image("George_W_Bush", 4)), "query.jpg", "image/jpeg"}};
  const json uploaded = body_json(c.Post("/api/uploads", token, items));
  ASSERT_TRUE(uploaded.contains("upload_id")) << uploaded;
  const auto search =
      c.Post("/api/search", token, json({{"upload_id", uploaded["upload_id"]}}).dump(),
             "application/json");
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 500) << search->body;
  const json error = body_json(search);
  EXPECT_EQ(error["error"]["code"], "internal") << search->body;
  EXPECT_GT(error["error"]["message"].get<std::string>().size(), 20u);
  const auto health = c.Get("/api/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const auto session = c.Get("/api/session");
  ASSERT_TRUE(session);
  EXPECT_EQ(session->status, 200);
  server->stop();
  serving.join();
}

}  // namespace
}  // namespace likeness::server
