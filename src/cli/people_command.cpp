// `likeness people cluster | list | show | name | merge | split | reject |
// confirm`: the people in the library, and the user's corrections.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "likeness/library/people.h"
#include "likeness/library/people_cluster.h"
#include "likeness/library/person_attributes.h"

namespace likeness::cli {
namespace {

struct PeopleCommandOptions {
  LibraryLocation library;
  bool json = false;
  bool timeline = false;
  bool attributes = false;
  std::string person, other, name;
  std::int64_t face = 0;
  std::vector<std::int64_t> faces;
  double threshold = -1.0;
};

std::unique_ptr<library::Library> open_library(const PeopleCommandOptions& options) {
  return open_library(options.library, {.create_if_missing = false});
}

std::unique_ptr<library::Library> open_for_writing(const PeopleCommandOptions& options) {
  return open_library_for_writing(options.library, {.create_if_missing = false});
}

nlohmann::json person_json(const store::Person& p) {
  return {{"id", p.id}, {"name", p.name ? nlohmann::json(*p.name) : nlohmann::json(nullptr)}};
}

int run_cluster(const GlobalOptions& global, const PeopleCommandOptions& options) {
  auto lib = open_for_writing(options);
  const infer::ModelStore store = infer::ModelStore::open({.models_dir = global.models_dir});
  // Only the calibration and the minimum quality are needed: the vectors are
  // stored. Creating the recognizer also loads the models, which is cheap
  // next to clustering a library.
  auto recognizer = match::Recognizer::create(store, {});
  library::ReclusterOptions recluster;
  if (options.threshold >= 0.0) recluster.cluster.threshold = options.threshold;
  recluster.graph.threads = 2;
  const library::ReclusterReport r = library::cluster_people(*lib, *recognizer, recluster);
  if (options.json) {
    std::cout << json_text(nlohmann::json{{"faces", r.faces},
                                          {"faces_clustered", r.faces_clustered},
                                          {"faces_left_out", r.faces_left_out},
                                          {"people", r.people},
                                          {"people_created", r.people_created},
                                          {"people_deleted", r.people_deleted},
                                          {"links_changed", r.links_changed},
                                          {"seconds", r.seconds}},
                           2)
              << '\n';
  } else {
    std::cout << r.people << " people from " << r.faces_clustered << " of " << r.faces << " faces ("
              << r.faces_left_out << " left out: low quality, or seen once); " << r.people_created
              << " new, " << r.people_deleted << " removed, " << r.links_changed
              << " links changed.\n"
              << "Your confirmations and rejections were kept. Name people with `likeness "
                 "people name ID NAME`.\n";
  }
  return 0;
}

int run_list(const PeopleCommandOptions& options) {
  auto lib = open_library(options);
  const std::vector<library::PersonSummary> people = library::list_people(lib->catalog());
  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : people) {
      nlohmann::json p = person_json(s.person);
      p["faces"] = s.faces;
      p["photos"] = s.photos;
      p["confirmed"] = s.confirmed;
      out.push_back(p);
    }
    std::cout << json_text(nlohmann::json{{"people", out}}, 2) << '\n';
    return 0;
  }
  if (people.empty()) {
    std::cout << "No people yet: run `likeness people cluster`.\n";
    return 0;
  }
  for (const auto& s : people) {
    std::cout << library::person_label(s.person) << ": " << s.faces << " faces in " << s.photos
              << " photos"
              << (s.confirmed > 0 ? ", " + std::to_string(s.confirmed) + " confirmed" : "") << '\n';
  }
  return 0;
}

nlohmann::json person_attributes_json(const library::PersonAttributes& a) {
  nlohmann::json years = nlohmann::json::array();
  for (const auto& y : a.age_by_year) {
    years.push_back({{"year", y.year}, {"median_age", y.median_age}, {"faces", y.faces}});
  }
  const auto optional = [](const std::optional<double>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  return {{"faces", a.faces},
          {"faces_with_attributes", a.faces_with_attributes},
          {"median_age", optional(a.median_age)},
          {"age_by_year", years},
          {"age_change_per_year", optional(a.age_change_per_year)},
          {"expression_counts", a.expression_counts},
          {"most_frequent_expression", a.most_frequent_expression.empty()
                                           ? nlohmann::json(nullptr)
                                           : nlohmann::json(a.most_frequent_expression)}};
}

void print_person_attributes(const library::PersonAttributes& a) {
  std::cout << "Attributes (estimates, " << a.faces_with_attributes << " of " << a.faces
            << " faces analysed):\n";
  if (a.median_age) std::printf("  median estimated age %.0f\n", *a.median_age);
  if (!a.age_by_year.empty()) {
    std::cout << "  age progression (median estimated age by capture year):\n";
    for (const auto& y : a.age_by_year) {
      std::printf("    %d  %.0f  (%zu face%s)\n", y.year, y.median_age, y.faces,
                  y.faces == 1 ? "" : "s");
    }
  }
  if (!a.most_frequent_expression.empty()) {
    std::cout << "  most frequent expression: " << a.most_frequent_expression << " ("
              << a.expression_counts.at(a.most_frequent_expression) << " faces)\n";
  }
}

int run_show(const PeopleCommandOptions& options) {
  auto lib = open_library(options);
  const store::Person person = library::find_person(lib->catalog(), options.person);
  const std::vector<library::PersonFace> faces = library::person_faces(lib->catalog(), person.id);
  if (options.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& f : faces) {
      list.push_back({{"face_id", f.face.id},
                      {"path", f.photo.path},
                      {"box", {f.face.box.x, f.face.box.y, f.face.box.w, f.face.box.h}},
                      {"quality", f.face.quality.overall},
                      {"origin", store::to_string(f.origin)},
                      {"capture_time", f.photo.capture_time ? nlohmann::json(*f.photo.capture_time)
                                                            : nlohmann::json(nullptr)}});
    }
    nlohmann::json out = person_json(person);
    out["faces"] = list;
    if (options.attributes) {
      out["attributes"] = person_attributes_json(library::summarize_person_attributes(faces));
    }
    std::cout << json_text(out, 2) << '\n';
    return 0;
  }
  std::cout << library::person_label(person) << ": " << faces.size() << " faces\n";
  if (options.attributes) print_person_attributes(library::summarize_person_attributes(faces));
  if (options.timeline) {
    // By capture date (EXIF), year by year; undated photos last.
    std::string year;
    for (const auto& f : faces) {
      const std::string y = f.photo.capture_time ? f.photo.capture_time->substr(0, 4) : "undated";
      if (y != year) {
        year = y;
        std::cout << year << '\n';
      }
      std::cout << "  " << (f.photo.capture_time ? *f.photo.capture_time : std::string(19, ' '))
                << "  " << f.photo.path << "  (face " << f.face.id << ")\n";
    }
    return 0;
  }
  for (const auto& f : faces) {
    std::cout << "  face " << f.face.id << "  " << f.photo.path << "  ("
              << store::to_string(f.origin) << ", quality " << f.face.quality.overall << ")\n";
  }
  return 0;
}

}  // namespace

void register_people_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "people",
      "People in the library: group faces into people, list and show them, and correct the "
      "grouping (name, merge, split, reject, confirm). Corrections survive re-clustering.");
  cmd->require_subcommand(1);
  auto o = std::make_shared<PeopleCommandOptions>();

  CLI::App* cluster = cmd->add_subcommand(
      "cluster",
      "Group the library's faces into people by the calibrated ensemble (faces of one photo "
      "are never one person; low-quality faces are left out). Keeps confirmed and rejected "
      "faces as the user left them.");
  add_writing_library_option(cluster, o->library);
  cluster
      ->add_option("--threshold", o->threshold,
                   "Probability (0-1) above which faces are grouped (default: the "
                   "calibrated decision threshold)")
      ->check(CLI::Range(0.0, 1.0));
  cluster->add_flag("--json", o->json, "JSON output");
  cluster->callback([o, &global, &exit_code] { exit_code = run_cluster(global, *o); });

  CLI::App* list = cmd->add_subcommand("list", "Every person with face and photo counts");
  add_library_option(list, o->library);
  list->add_flag("--json", o->json, "JSON output");
  list->callback([o, &exit_code] { exit_code = run_list(*o); });

  CLI::App* show = cmd->add_subcommand("show", "A person's faces and photos");
  add_library_option(show, o->library);
  show->add_option("person", o->person, "Name or id")->required();
  show->add_flag("--timeline", o->timeline, "By capture date, year by year");
  show->add_flag("--attributes", o->attributes,
                 "Also the person's estimated attributes: median estimated age per capture year "
                 "(age progression) and most frequent expression");
  show->add_flag("--json", o->json, "JSON output");
  show->callback([o, &exit_code] { exit_code = run_show(*o); });

  CLI::App* name = cmd->add_subcommand("name", "Name a person (accepts their faces)");
  add_writing_library_option(name, o->library);
  name->add_option("person", o->person, "Id (or current name)")->required();
  name->add_option("name", o->name, "New name")->required();
  name->callback([o, &exit_code] {
    auto lib = open_for_writing(*o);
    const store::Person p = library::find_person(lib->catalog(), o->person);
    library::name_person(lib->catalog(), p.id, o->name);
    std::cout << "Person #" << p.id << " is now " << o->name << ".\n";
    exit_code = 0;
  });

  CLI::App* merge = cmd->add_subcommand("merge", "Merge person B into person A (same person)");
  add_writing_library_option(merge, o->library);
  merge->add_option("a", o->person, "Person kept (name or id)")->required();
  merge->add_option("b", o->other, "Person merged into A (name or id)")->required();
  merge->callback([o, &exit_code] {
    auto lib = open_for_writing(*o);
    const store::Person a = library::find_person(lib->catalog(), o->person);
    const store::Person b = library::find_person(lib->catalog(), o->other);
    library::merge_people(lib->catalog(), a.id, b.id);
    std::cout << "Merged " << library::person_label(b) << " into " << library::person_label(a)
              << ".\n";
    exit_code = 0;
  });

  CLI::App* split = cmd->add_subcommand(
      "split", "Move some of a person's faces to a new person (they are someone else)");
  add_writing_library_option(split, o->library);
  split->add_option("person", o->person, "Name or id")->required();
  split->add_option("faces", o->faces, "Face ids to move (see `people show`)")->required();
  split->add_option("--name", o->name, "Name of the new person");
  split->callback([o, &exit_code] {
    auto lib = open_for_writing(*o);
    const store::Person p = library::find_person(lib->catalog(), o->person);
    const std::int64_t created =
        library::split_person(lib->catalog(), p.id, o->faces,
                              o->name.empty() ? std::nullopt : std::optional<std::string>(o->name));
    std::cout << "Moved " << o->faces.size() << " faces to person #" << created << ".\n";
    exit_code = 0;
  });

  CLI::App* reject =
      cmd->add_subcommand("reject", "This face is not this person (kept through re-clustering)");
  add_writing_library_option(reject, o->library);
  reject->add_option("face", o->face, "Face id")->required();
  reject->add_option("person", o->person, "Name or id")->required();
  reject->callback([o, &exit_code] {
    auto lib = open_for_writing(*o);
    const store::Person p = library::find_person(lib->catalog(), o->person);
    library::reject_face(lib->catalog(), o->face, p.id);
    std::cout << "Face " << o->face << " is no longer " << library::person_label(p) << ".\n";
    exit_code = 0;
  });

  CLI::App* confirm = cmd->add_subcommand("confirm", "This face is this person");
  add_writing_library_option(confirm, o->library);
  confirm->add_option("face", o->face, "Face id")->required();
  confirm->add_option("person", o->person, "Name or id")->required();
  confirm->callback([o, &exit_code] {
    auto lib = open_for_writing(*o);
    const store::Person p = library::find_person(lib->catalog(), o->person);
    library::confirm_face(lib->catalog(), o->face, p.id);
    std::cout << "Face " << o->face << " is " << library::person_label(p) << ".\n";
    exit_code = 0;
  });
}

}  // namespace likeness::cli
