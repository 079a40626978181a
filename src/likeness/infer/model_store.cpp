#include "likeness/infer/model_store.h"

#include <algorithm>
#include <cstdlib>

#include "likeness/core/error.h"
#include "likeness/io/hash.h"

namespace likeness::infer {

namespace fs = std::filesystem;

std::string_view to_string(ModelStatus status) {
  switch (status) {
    case ModelStatus::ok:
      return "ok";
    case ModelStatus::missing:
      return "missing";
    case ModelStatus::checksum_mismatch:
      return "checksum mismatch";
  }
  return "unknown";
}

std::string repair_hint() {
  return "run `scripts/setup.sh models` in the Likeness source folder to fetch and verify it "
         "again (models directory: $LIKENESS_MODELS or --models)";
}

fs::path ModelStore::default_models_dir() {
  if (const char* dir = std::getenv("LIKENESS_MODELS"); dir && *dir) return dir;
  if (const char* data = std::getenv("XDG_DATA_HOME"); data && *data) {
    return fs::path(data) / "likeness" / "models";
  }
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".local" / "share" / "likeness" / "models";
}

ModelStore ModelStore::open(const ModelStoreOptions& options) {
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(embedded_manifest());
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(
        std::string("the model manifest compiled into this binary is not valid JSON (") + e.what() +
        "); fix models/manifest.json and rebuild");
  }
  return from_manifest(manifest, options);
}

ModelStore ModelStore::from_manifest(const nlohmann::json& manifest,
                                     const ModelStoreOptions& options) {
  ModelStore store;
  store.directory_ = options.models_dir.empty() ? default_models_dir() : options.models_dir;
  try {
    for (const auto& entry : manifest.at("models")) {
      ModelSpec spec;
      spec.name = entry.at("name").get<std::string>();
      spec.task = entry.at("task").get<std::string>();
      spec.file = entry.at("file").get<std::string>();
      spec.format = entry.at("format").get<std::string>();
      spec.license = entry.at("license").get<std::string>();
      spec.sha256 = entry.at("sha256").get<std::string>();
      spec.source_package = entry.at("source").at("package").get<std::string>();
      spec.source_path = entry.at("source").at("path").get<std::string>();
      spec.converted = !entry.at("conversion").is_null();
      spec.input = entry.value("input", nlohmann::json::object());
      spec.outputs = entry.value("outputs", nlohmann::json::array());
      spec.entry = entry;
      if (spec.sha256.size() != 64) {
        throw ModelError("manifest entry '" + spec.name + "' has no valid sha256");
      }
      store.models_.push_back(std::move(spec));
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("malformed model manifest: ") + e.what() +
                     "; every model needs name, task, file, format, license, sha256, source "
                     "{package, path} and conversion");
  }
  return store;
}

const ModelSpec* ModelStore::find(std::string_view name) const {
  for (const auto& model : models_) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

const ModelSpec& ModelStore::spec(std::string_view name) const {
  if (const ModelSpec* model = find(name)) return *model;
  std::string known;
  for (const auto& model : models_) known += (known.empty() ? "" : ", ") + model.name;
  throw UsageError("unknown model '" + std::string(name) + "'; known models: " + known);
}

ModelCheck ModelStore::check(std::string_view name) const {
  ModelCheck result;
  result.spec = &spec(name);
  result.path = directory_ / result.spec->file;
  std::error_code ec;
  if (!fs::is_regular_file(result.path, ec)) return result;  // status stays "missing"
  result.size_bytes = fs::file_size(result.path, ec);
  const io::FileHash digest = io::sha256_file(result.path);
  if (!digest.ok()) return result;  // unreadable counts as missing
  result.actual_sha256 = digest.hex;
  result.status =
      digest.hex == result.spec->sha256 ? ModelStatus::ok : ModelStatus::checksum_mismatch;
  return result;
}

fs::path ModelStore::require(std::string_view name) const {
  ModelCheck result = check(name);
  switch (result.status) {
    case ModelStatus::ok:
      return result.path;
    case ModelStatus::missing:
      throw ModelError("model '" + result.spec->name + "' is missing: " + result.path.string() +
                       " does not exist or cannot be read; " + repair_hint());
    case ModelStatus::checksum_mismatch:
      throw ModelError("model '" + result.spec->name + "' is corrupt: " + result.path.string() +
                       " has sha256 " + result.actual_sha256 + ", expected " + result.spec->sha256 +
                       "; " + repair_hint());
  }
  throw ModelError("unreachable model status");
}

std::unique_ptr<Session> ModelStore::open_session(std::string_view name,
                                                  const SessionOptions& options) const {
  const ModelSpec& model = spec(name);
  if (model.format != "onnx") {
    throw UsageError("model '" + model.name + "' is a " + model.format +
                     " model, not an ONNX model; it has its own loader");
  }
  auto session = Session::create(require(name), options);
  check_interface(model, *session);
  return session;
}

void check_interface(const ModelSpec& model, const Session& session) {
  // The manifest's input spec is what the backends feed; if the file declares
  // something else, the manifest (or the file) is wrong and results would be
  // silently meaningless.
  const auto mismatch = [&](const std::string& what) {
    return ModelError("model '" + model.name + "' (" + session.path().string() + "): " + what +
                      "; fix its entry in models/manifest.json");
  };
  if (model.input.contains("name")) {
    const std::string name = model.input.at("name").get<std::string>();
    if (session.inputs().empty() || session.inputs()[0].name != name) {
      throw mismatch(
          "the manifest names the input '" + name + "' but the model's first input is '" +
          (session.inputs().empty() ? std::string("(none)") : session.inputs()[0].name) + "'");
    }
    if (model.input.contains("shape")) {
      auto declared = session.inputs()[0].shape;
      auto expected = model.input.at("shape").get<std::vector<int64_t>>();
      // A dynamic batch dimension (-1) accepts the manifest's fixed example batch.
      if (!declared.empty() && declared[0] < 0 && !expected.empty()) declared[0] = expected[0];
      if (declared != expected) throw mismatch("input shape differs from the manifest");
    }
  }
  for (const auto& output : model.outputs) {
    if (!output.contains("shape")) continue;
    const std::string name = output.at("name").get<std::string>();
    const auto found = std::find_if(session.outputs().begin(), session.outputs().end(),
                                    [&](const TensorInfo& info) { return info.name == name; });
    if (found == session.outputs().end()) {
      throw mismatch("the model has no output named '" + name + "'");
    }
  }
}

}  // namespace likeness::infer
