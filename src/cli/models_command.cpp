// `likeness models` and `likeness models verify`.
#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/infer/model_store.h"

namespace likeness::cli {

std::string format_bytes(std::uintmax_t bytes) {
  char text[32];
  const double value = static_cast<double>(bytes);
  if (bytes >= 1000 * 1000) {
    std::snprintf(text, sizeof text, "%.1f MB", value / 1e6);
  } else if (bytes >= 1000) {
    std::snprintf(text, sizeof text, "%.1f kB", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%ju B", bytes);
  }
  return text;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string joined;
  for (const auto& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
}

namespace {

struct ModelsOptions {
  bool json = false;
};

// Checks every model; prints a table or JSON; returns the number not ok.
int report_models(const GlobalOptions& global, const ModelsOptions& options, bool verbose_hashes) {
  auto store = infer::ModelStore::open({.models_dir = global.models_dir});
  int problems = 0;
  nlohmann::json rows = nlohmann::json::array();
  // The name column fits the longest name.
  int name_width = 24;
  for (const auto& spec : store.models()) {
    name_width = std::max(name_width, static_cast<int>(spec.name.size()) + 2);
  }
  if (!options.json) {
    std::cout << "Models directory: " << store.directory().string() << "\n\n"
              << std::left << std::setw(name_width) << "NAME" << std::setw(13) << "TASK"
              << std::setw(10) << "SIZE" << std::setw(19) << "STATUS"
              << "LICENCE\n";
  }
  for (const auto& spec : store.models()) {
    const infer::ModelCheck check = store.check(spec.name);
    if (check.status != infer::ModelStatus::ok) ++problems;
    if (options.json) {
      rows.push_back({{"name", spec.name},
                      {"task", spec.task},
                      {"license", spec.license},
                      {"file", check.path.string()},
                      {"size_bytes", check.size_bytes},
                      {"status", infer::to_string(check.status)},
                      {"sha256_expected", spec.sha256},
                      {"sha256_actual", check.actual_sha256}});
      continue;
    }
    std::cout << std::left << std::setw(name_width) << spec.name << std::setw(13) << spec.task
              << std::setw(10) << (check.size_bytes ? format_bytes(check.size_bytes) : "-")
              << std::setw(19) << infer::to_string(check.status) << spec.license << '\n';
    if (verbose_hashes && check.status == infer::ModelStatus::checksum_mismatch) {
      std::cout << "    " << check.path.string() << "\n    expected " << spec.sha256
                << "\n    actual   " << check.actual_sha256 << '\n';
    }
  }
  if (options.json) {
    std::cout << nlohmann::json{{"models_dir", store.directory().string()},
                                {"models", rows},
                                {"problems", problems}}
                     .dump(2)
              << '\n';
  } else {
    std::cout << '\n'
              << store.models().size() << " models, " << store.models().size() - problems << " ok, "
              << problems << " with problems\n";
  }
  if (problems > 0) {
    std::cerr << "likeness: " << problems << " model(s) missing or corrupt; "
              << infer::repair_hint() << '\n';
  }
  return problems;
}

}  // namespace

void register_models_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<ModelsOptions>();
  CLI::App* models = app.add_subcommand(
      "models",
      "List the models with task, licence, size and status (ok / missing / checksum "
      "mismatch). Exits 1 if any model is not ok.");
  models->add_flag("--json", options->json, "Print JSON instead of a table");
  models->callback([&global, &exit_code, options, models] {
    if (models->get_subcommands().empty()) {
      exit_code = report_models(global, *options, /*verbose_hashes=*/false) ? 1 : 0;
    }
  });

  CLI::App* verify = models->add_subcommand(
      "verify",
      "Re-check the sha256 of every model file against the manifest; exits 1 on any "
      "problem and prints expected and actual checksums");
  verify->add_flag("--json", options->json, "Print JSON instead of a table");
  verify->callback([&global, &exit_code, options] {
    exit_code = report_models(global, *options, /*verbose_hashes=*/true) ? 1 : 0;
  });
}

}  // namespace likeness::cli
