// `likeness search PHOTO`: where else is this person in the library?
// `likeness search --person NAME`: a known person's photos.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/library/indexer.h"
#include "likeness/library/library_json.h"
#include "likeness/library/people.h"
#include "likeness/library/search.h"

namespace likeness::cli {
namespace {

struct SearchCommandOptions {
  LibraryLocation library;
  std::filesystem::path photo;
  std::string person;
  int face = -1;
  std::size_t top = 10;
  double threshold = -1.0;
  bool include_low_quality = false;
  bool json = false;
  std::string detector = "default";
};

nlohmann::json box_json(const store::FaceBox& b) { return {b.x, b.y, b.w, b.h}; }

int run_person_search(const SearchCommandOptions& options) {
  auto lib = open_library(options.library, {.create_if_missing = false});
  const std::vector<store::Person> found = library::find_people(lib->catalog(), options.person);
  if (found.empty()) {
    std::cerr << "likeness: no person '" << options.person
              << "' in the library (see `likeness people list`)\n";
    return 1;
  }
  nlohmann::json people = nlohmann::json::array();
  for (const store::Person& person : found) {
    const std::vector<library::PersonFace> faces = library::person_faces(lib->catalog(), person.id);
    nlohmann::json photos = nlohmann::json::array();
    for (const library::PersonFace& f : faces) {
      photos.push_back(
          {{"path", f.photo.path},
           {"box", box_json(f.face.box)},
           {"face_id", f.face.id},
           {"quality", f.face.quality.overall},
           {"origin", store::to_string(f.origin)},
           {"capture_time", f.photo.capture_time ? nlohmann::json(*f.photo.capture_time)
                                                 : nlohmann::json(nullptr)}});
    }
    if (options.json) {
      people.push_back({{"id", person.id},
                        {"name", person.name ? nlohmann::json(*person.name) : nullptr},
                        {"results", photos}});
      continue;
    }
    std::cout << library::person_label(person) << ": " << faces.size() << " faces\n";
    for (const library::PersonFace& f : faces) {
      std::cout << "  " << f.photo.path << "  (face " << f.face.id << ", "
                << store::to_string(f.origin) << ")\n";
    }
  }
  if (options.json) {
    // One person: its photos are the results; several with that name: each listed.
    nlohmann::json out = people.size() == 1 ? people[0] : nlohmann::json{{"people", people}};
    std::cout << json_text(out, 2) << '\n';
  }
  return 0;
}

int run_search(const GlobalOptions& global, const SearchCommandOptions& options) {
  if (!options.person.empty()) return run_person_search(options);
  if (options.photo.empty()) {
    std::cerr << "likeness: search needs a PHOTO (or --person NAME)\n";
    return 2;
  }
  auto lib = open_library(options.library, {.create_if_missing = false});
  const infer::ModelStore store = infer::ModelStore::open({.models_dir = global.models_dir});
  library::AnalyzerOptions analyzer_options;
  analyzer_options.detector = options.detector;
  auto analyzer = library::PhotoAnalyzer::create(store, analyzer_options);
  const library::DetectedPhoto photo = analyzer->detect(options.photo);
  if (!photo.ok()) {
    if (options.json) {
      std::cout << json_text(nlohmann::json{{"query", options.photo.string()},
                                            {"error", photo.reason},
                                            {"message", photo.message},
                                            {"results", nlohmann::json::array()}},
                             2)
                << '\n';
    }
    std::cerr << "likeness: " << photo.message << '\n';
    return 1;
  }
  if (photo.faces.empty()) {
    const std::string message =
        options.photo.string() +
        ": no face found. Use a photo with a clear, well-lit face at least 30x30 pixels" +
        (photo.too_small > 0 ? " (the faces found are smaller than that)." : ".");
    if (options.json) {
      std::cout << json_text(nlohmann::json{{"query", options.photo.string()},
                                            {"error", "no_face"},
                                            {"message", message},
                                            {"results", nlohmann::json::array()}},
                             2)
                << '\n';
    }
    std::cerr << "likeness: " << message << '\n';
    return 1;
  }
  const std::size_t chosen = options.face < 0 ? library::largest_face(photo.faces)
                                              : static_cast<std::size_t>(options.face);
  if (chosen >= photo.faces.size()) {
    std::cerr << "likeness: --face " << options.face << ": the photo has " << photo.faces.size()
              << " faces (0 to " << photo.faces.size() - 1 << ")\n";
    return 2;
  }
  const match::FaceDescription query = analyzer->describe(photo, chosen);
  library::SearchOptions search;
  search.top_k = options.top;
  if (options.threshold >= 0.0) search.min_probability = options.threshold;
  search.include_low_quality = options.include_low_quality;
  const library::SearchResult result =
      library::search_face(*lib, analyzer->recognizer(), query, search);

  nlohmann::json faces = nlohmann::json::array();
  for (std::size_t i = 0; i < photo.faces.size(); ++i) {
    const auto& b = photo.faces[i].box;
    faces.push_back(
        {{"index", i}, {"box", {b.x, b.y, b.width, b.height}}, {"score", photo.faces[i].score}});
  }
  if (options.json) {
    nlohmann::json results = nlohmann::json::array();
    for (const library::SearchHit& hit : result.hits) {
      results.push_back({{"path", hit.path},
                         {"box", box_json(hit.box)},
                         {"probability", hit.probability},
                         {"quality", hit.quality.overall},
                         {"quality_measures", library::stored_quality_json(hit.quality)},
                         {"searchable", hit.searchable},
                         {"same_person", hit.same_person},
                         {"face_id", hit.face_id},
                         {"photo_id", hit.photo_id},
                         {"capture_time", hit.capture_time ? nlohmann::json(*hit.capture_time)
                                                           : nlohmann::json(nullptr)}});
    }
    nlohmann::json out{{"query", options.photo.string()},
                       {"faces", faces},
                       {"face", chosen},
                       {"query_quality", quality_json(query.quality)},
                       {"query_searchable", query.searchable},
                       {"threshold", result.threshold},
                       {"candidates", result.candidates},
                       {"results", results}};
    if (!result.note.empty()) out["note"] = result.note;
    std::cout << json_text(out, 2) << '\n';
    return 0;
  }
  if (photo.faces.size() > 1) {
    std::cout << "The photo has " << photo.faces.size() << " faces; searching face " << chosen
              << (options.face < 0 ? " (the largest)" : "") << ". Others: --face N\n";
    for (std::size_t i = 0; i < photo.faces.size(); ++i) {
      const auto& b = photo.faces[i].box;
      std::printf("  %s%zu: %.0fx%.0f at (%.0f, %.0f)\n", i == chosen ? "*" : " ", i, b.width,
                  b.height, b.x, b.y);
    }
  }
  if (!query.searchable) {
    std::cout << "Note: the query face is of low quality (" << query.quality.overall
              << "); results are less reliable.\n";
  }
  if (!result.note.empty()) std::cout << result.note << '\n';
  if (result.hits.empty()) {
    std::cout << "No match above probability " << result.threshold << " among " << result.candidates
              << " candidates.\n";
    return 0;
  }
  std::printf("%-4s %-11s %-7s %s\n", "#", "probability", "quality", "photo (face box)");
  for (std::size_t i = 0; i < result.hits.size(); ++i) {
    const library::SearchHit& h = result.hits[i];
    std::printf("%-4zu %-11.4f %-7.2f %s (%.0fx%.0f at %.0f,%.0f)\n", i + 1, h.probability,
                h.quality.overall, h.path.c_str(), h.box.w, h.box.h, h.box.x, h.box.y);
  }
  return 0;
}

}  // namespace

void register_search_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<SearchCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "search",
      "Find a person in the library from a photo: detects the faces in PHOTO, takes the largest "
      "(or --face N), and lists the library's faces of the same person, most probable first. "
      "With --person NAME, lists a known person's photos instead.");
  add_library_option(cmd, options->library);
  cmd->add_option("photo", options->photo, "Photo with the face to look for");
  cmd->add_option("--person", options->person, "List the photos of this person (name or id)");
  cmd->add_option("--face", options->face,
                  "Face of PHOTO to search, as numbered in the listing (0 = first; default: the "
                  "largest)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top,-k", options->top, "At most this many results")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threshold,-t", options->threshold,
                  "Minimum probability (0-1) of a result (default: the calibrated decision "
                  "threshold, false-accept rate 1e-3)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--include-low-quality", options->include_low_quality,
                "Also return faces below the minimum quality (blurred, turned, tiny)");
  cmd->add_option("--detector,-d", options->detector, "Detector backend for PHOTO")
      ->capture_default_str();
  cmd->add_flag("--json", options->json,
                "JSON: {query, faces, face, threshold, results: [{path, box, probability, "
                "quality, ...}]}");
  cmd->callback([options, &global, &exit_code] { exit_code = run_search(global, *options); });
}

}  // namespace likeness::cli
