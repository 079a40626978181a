// `likeness serve` and the library's writer lock (store/catalog.h): while
// another process writes the library (here: another Catalog of this process
// holding the lock, which excludes like another process does), an edit
// answers 409 library_busy naming the holder, POST /api/index refuses to
// start a run, and reads go on; once the lock is released the same edit
// works. Needs the models the server loads (scripts/setup.sh models).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "likeness/infer/model_store.h"
#include "likeness/server/server.h"
#include "likeness/store/catalog.h"
#include "support/synthetic_library.h"
#include "support/temp_dir.h"
#include "support/test_env.h"

namespace likeness::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(ServerWriterLock, EditsAnswer409WhileAnotherProcessWrites) {
  {
    const infer::ModelStore store = infer::ModelStore::open();
    LIKENESS_REQUIRE_MODEL(store, "ultraface_rfb320");
    LIKENESS_REQUIRE_MODEL(store, "faceplugin_landmark_68");
    LIKENESS_REQUIRE_MODEL(store, "faceplugin_feature");
  }
  const testing::TempDir temp("server_writer_lock");
  const fs::path dir = temp.path() / "library";
  std::int64_t person = 0;
  {
    testing::SyntheticLibrary lib(dir, 2, 2);
    person = lib.people[0];
  }
  ServerOptions options;
  options.library_dir = dir;
  options.port = 0;
  std::unique_ptr<Server> server = Server::create(options);
  std::thread serving([&] { server->run(); });
  httplib::Client client("127.0.0.1", server->port());
  const httplib::Headers token = {{"X-Likeness-Token", server->token()}};
  const std::string person_path = "/api/people/" + std::to_string(person);
  const std::string rename = R"({"name": "Ada"})";
  const std::string index_body = json{{"folder", temp.path().string()}}.dump();

  auto other = store::Catalog::open(dir);
  auto lock = other->lock_for_writing({.command = "likeness index"});
  const auto busy = client.Patch(person_path.c_str(), token, rename, "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 409) << busy->body;
  const json error = json::parse(busy->body)["error"];
  EXPECT_EQ(error["code"], "library_busy");
  EXPECT_NE(error["message"].get<std::string>().find("`likeness index`"), std::string::npos)
      << error;
  const auto index = client.Post("/api/index", token, index_body, "application/json");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 409) << index->body;
  EXPECT_EQ(json::parse(index->body)["error"]["code"], "library_busy");
  const auto read = client.Get(person_path.c_str());
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(json::parse(read->body)["name"], "Person 0");  // the refused rename changed nothing

  lock.reset();
  const auto renamed = client.Patch(person_path.c_str(), token, rename, "application/json");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->status, 200) << renamed->body;
  EXPECT_EQ(json::parse(renamed->body)["name"], "Ada");
  EXPECT_EQ(other->find_person(person)->name, "Ada");
  server->stop();
  serving.join();
}

}  // namespace
}  // namespace likeness::server
