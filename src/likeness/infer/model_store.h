// The model store: which models Likeness knows (the manifest, compiled into
// the binary from models/manifest.json) and where their files live (the
// models directory). At run time models are read only from that directory;
// scripts/setup.sh fills it.
//
//   auto store = likeness::infer::ModelStore::open();          // default directory
//   auto session = store.open_session("faceplugin_feature");   // verified, then loaded
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "likeness/infer/session.h"

namespace likeness::infer {

// One manifest entry. `input` and `outputs` keep the manifest's own JSON (size,
// layout, channel order, normalisation) for the backend that feeds the model.
struct ModelSpec {
  std::string name;
  std::string task;    // detection, landmarks, recognition, attributes, quality
  std::string file;    // file name inside the models directory
  std::string format;  // onnx, dlib, opencv-cascade
  std::string license;
  std::string sha256;  // of the final (possibly converted) file
  std::string source_package;
  std::string source_path;
  bool converted = false;
  nlohmann::json input;
  nlohmann::json outputs;
  // The whole manifest entry, for fields that only one backend reads.
  nlohmann::json entry;
};

enum class ModelStatus { ok, missing, checksum_mismatch };
std::string_view to_string(ModelStatus status);

struct ModelCheck {
  const ModelSpec* spec = nullptr;
  ModelStatus status = ModelStatus::missing;
  std::filesystem::path path;
  std::uintmax_t size_bytes = 0;  // 0 when missing
  std::string actual_sha256;      // empty when missing
};

struct ModelStoreOptions {
  // Empty = ModelStore::default_models_dir().
  std::filesystem::path models_dir;
};

// The command that repairs a missing or corrupt model, for error messages.
std::string repair_hint();

class ModelStore {
 public:
  // $LIKENESS_MODELS if set, else $XDG_DATA_HOME/likeness/models, else
  // ~/.local/share/likeness/models.
  static std::filesystem::path default_models_dir();

  // The store described by the manifest compiled into this binary. Does not
  // touch the files (see check/require). Throws ModelError if the embedded
  // manifest is malformed (a build problem).
  static ModelStore open(const ModelStoreOptions& options = {});
  // The store described by `manifest` (the models/manifest.json schema).
  static ModelStore from_manifest(const nlohmann::json& manifest,
                                  const ModelStoreOptions& options = {});

  const std::filesystem::path& directory() const { return directory_; }
  const std::vector<ModelSpec>& models() const { return models_; }

  // nullptr when no model has that name.
  const ModelSpec* find(std::string_view name) const;
  // Throws UsageError naming the known models when there is no such model.
  const ModelSpec& spec(std::string_view name) const;

  // Hashes the file and compares it with the manifest. Never throws for a
  // missing or corrupt file: that is the status. Thread-safe.
  ModelCheck check(std::string_view name) const;
  // The path of a verified model file. Throws ModelError naming the file and
  // the repair command when it is missing or its checksum does not match.
  std::filesystem::path require(std::string_view name) const;
  // require(), Session::create(), then check_interface(). Throws UsageError
  // for a model that is not an ONNX model.
  std::unique_ptr<Session> open_session(std::string_view name,
                                        const SessionOptions& options = {}) const;

 private:
  std::filesystem::path directory_;
  std::vector<ModelSpec> models_;
};

// Throws ModelError when the session's declared first input (name, shape; a
// dynamic batch matches any) or its outputs differ from the manifest entry.
// open_session() calls it; exposed for tests and for models opened directly.
void check_interface(const ModelSpec& model, const Session& session);

// The manifest compiled into the binary (generated from models/manifest.json).
std::string_view embedded_manifest();

}  // namespace likeness::infer
