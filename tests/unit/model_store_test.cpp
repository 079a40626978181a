#include "likeness/infer/model_store.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "likeness/core/error.h"
#include "likeness/io/hash.h"
#include "support/test_env.h"

namespace likeness::infer {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("likeness-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

nlohmann::json manifest_with(const std::string& file, const std::string& sha256) {
  return {{"models",
           {{{"name", "tiny"},
             {"task", "recognition"},
             {"file", file},
             {"format", "onnx"},
             {"license", "MIT"},
             {"sha256", sha256},
             {"source", {{"package", "x@1"}, {"path", "package/x.onnx"}}},
             {"conversion", nullptr}}}}};
}

TEST(ModelStore, EmbeddedManifestDescribesEveryModel) {
  const ModelStore store = ModelStore::open();
  ASSERT_GE(store.models().size(), 10u);
  std::set<std::string> names;
  std::set<std::string> tasks;
  for (const auto& model : store.models()) {
    EXPECT_TRUE(names.insert(model.name).second) << "duplicate model name " << model.name;
    tasks.insert(model.task);
    EXPECT_EQ(model.sha256.size(), 64u) << model.name;
    EXPECT_FALSE(model.license.empty()) << model.name;
    EXPECT_FALSE(model.source_package.empty()) << model.name;
    EXPECT_TRUE(model.input.contains("channel_order")) << model.name << " lacks its input spec";
    EXPECT_TRUE(model.input.contains("normalization")) << model.name << " lacks its input spec";
    EXPECT_FALSE(model.outputs.empty()) << model.name << " lacks its outputs";
  }
  EXPECT_TRUE(tasks.count("detection"));
  EXPECT_TRUE(tasks.count("recognition"));
}

TEST(ModelStore, ReportsMissingFileWithRepairHint) {
  TempDir dir;
  const auto store =
      ModelStore::from_manifest(manifest_with("tiny.onnx", std::string(64, 'a')), {dir.path()});
  const ModelCheck check = store.check("tiny");
  EXPECT_EQ(check.status, ModelStatus::missing);
  try {
    store.require("tiny");
    FAIL() << "require() accepted a missing model";
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((dir.path() / "tiny.onnx").string()), std::string::npos) << message;
    EXPECT_NE(message.find("scripts/setup.sh models"), std::string::npos) << message;
    EXPECT_NE(message.find("missing"), std::string::npos) << message;
  }
}

TEST(ModelStore, ReportsCorruptFileWithBothChecksums) {
  TempDir dir;
  const std::string good = "pretend model bytes";
  const auto store =
      ModelStore::from_manifest(manifest_with("tiny.onnx", io::sha256_hex(good)), {dir.path()});
  write_file(dir.path() / "tiny.onnx", good);
  EXPECT_EQ(store.check("tiny").status, ModelStatus::ok);
  EXPECT_EQ(store.require("tiny"), dir.path() / "tiny.onnx");

  write_file(dir.path() / "tiny.onnx", "pretend model bytez");  // one byte flipped
  const ModelCheck check = store.check("tiny");
  EXPECT_EQ(check.status, ModelStatus::checksum_mismatch);
  EXPECT_EQ(check.actual_sha256, io::sha256_hex(std::string("pretend model bytez")));
  try {
    store.require("tiny");
    FAIL() << "require() accepted a corrupt model";
  } catch (const ModelError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
    EXPECT_NE(message.find(io::sha256_hex(good)), std::string::npos) << message;
    EXPECT_NE(message.find("scripts/setup.sh models"), std::string::npos) << message;
  }
}

TEST(ModelStore, UnknownModelNamesTheKnownOnes) {
  TempDir dir;
  const auto store =
      ModelStore::from_manifest(manifest_with("tiny.onnx", std::string(64, 'a')), {dir.path()});
  EXPECT_EQ(store.find("nope"), nullptr);
  try {
    store.spec("nope");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tiny"), std::string::npos);
  }
}

TEST(ModelStore, MalformedManifestFailsLoudly) {
  nlohmann::json manifest = manifest_with("tiny.onnx", std::string(64, 'a'));
  manifest["models"][0].erase("sha256");
  EXPECT_THROW(ModelStore::from_manifest(manifest), ModelError);
}

TEST(ModelStore, DefaultDirectoryFollowsEnvironment) {
  const char* saved = std::getenv("LIKENESS_MODELS");
  const std::string saved_value = saved ? saved : "";
  ::setenv("LIKENESS_MODELS", "/some/where", 1);
  EXPECT_EQ(ModelStore::default_models_dir(), fs::path("/some/where"));
  ::unsetenv("LIKENESS_MODELS");
  EXPECT_EQ(ModelStore::default_models_dir().filename(), "models");
  if (saved) ::setenv("LIKENESS_MODELS", saved_value.c_str(), 1);
}

// The installed models (scripts/setup.sh fills the directory before the tests
// run): every one must verify.
TEST(ModelStore, InstalledModelsAllVerify) {
  const ModelStore store = ModelStore::open();
  for (const auto& model : store.models()) {
    const ModelCheck check = store.check(model.name);
    EXPECT_EQ(check.status, ModelStatus::ok)
        << model.name << " at " << check.path << " is " << to_string(check.status)
        << "; run scripts/setup.sh models";
  }
}

}  // namespace
}  // namespace likeness::infer

namespace likeness::infer {
namespace {

// Every ONNX model opens, and the names and shapes the manifest gives the
// backends are the ones the file declares.
TEST(ModelStore, EveryOnnxModelMatchesItsManifestEntry) {
  const ModelStore store = ModelStore::open();
  int opened = 0;
  for (const auto& model : store.models()) {
    if (model.format != "onnx") continue;
    EXPECT_NO_THROW(store.open_session(model.name, {.threads = 1})) << model.name;
    ++opened;
  }
  EXPECT_GE(opened, 8);
}

TEST(ModelStore, InterfaceMismatchIsAModelError) {
  const ModelStore store = ModelStore::open();
  ModelSpec wrong = store.spec("faceplugin_feature");
  auto session = Session::create(store.require("faceplugin_feature"), {.threads = 1});
  EXPECT_NO_THROW(check_interface(wrong, *session));
  wrong.input["shape"] = {1, 3, 128, 128};
  EXPECT_THROW(check_interface(wrong, *session), ModelError);
  wrong = store.spec("faceplugin_feature");
  wrong.input["name"] = "data";
  EXPECT_THROW(check_interface(wrong, *session), ModelError);
  wrong = store.spec("faceplugin_feature");
  wrong.outputs = {{{"name", "fc1"}, {"shape", {1, 512}}}};
  EXPECT_THROW(check_interface(wrong, *session), ModelError);
}

}  // namespace
}  // namespace likeness::infer
