// Checks of sense for the face attribute models on LFW, and their cost.
//
//   build/bench/attributes_bench --variants          # input conventions compared
//   build/bench/attributes_bench                     # the shipped conventions only
//
// No labelled age/gender/expression set ships here, so this measures what can
// be measured honestly:
//  - gender consistency: on LFW people with many photos, the share of a
//    person's photos whose label agrees with that person's majority label
//    (mean over people), and whether the majority matches the publicly
//    presented gender of a few well-known public figures (that fixes which end
//    of the score is "male");
//  - age scatter: how far one photo's estimate lies from the median of the
//    same person's photos (90th percentile), which sets the stored age range;
//  - expression: photos checked by eye as clearly smiling or clearly neutral;
//  - gender_gear: also the share of photos whose label agrees with the default
//    gender model's (gender_ssrnet), which shows a wrong input convention;
//  - ethnicity_gear (sensitive; only when named with --models): per-person
//    consistency of the top label, a check of sense only. LFW has no such
//    labels and none are used: this is not an accuracy;
//  - cost: median milliseconds per face of each model, one thread (with
//    --mirror: the crop and its mirror image).
// Faces: the face nearest the centre of each LFW photo (detection not timed).
// Prints JSON.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "likeness/attributes/attributes.h"
#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

struct Face {
  std::string person;
  std::string file;  // Name_NNNN
  Image image;
  detect::Detection detection;
};

// Publicly presented gender of well-known public figures with many LFW photos:
// only used to tell which end of a model's score means which label.
const std::map<std::string, std::string> kKnownGender = {
    {"George_W_Bush", "male"},     {"Colin_Powell", "male"},
    {"Tony_Blair", "male"},        {"Donald_Rumsfeld", "male"},
    {"Gerhard_Schroeder", "male"}, {"Ariel_Sharon", "male"},
    {"Hugo_Chavez", "male"},       {"Vladimir_Putin", "male"},
    {"Serena_Williams", "female"}, {"Jennifer_Capriati", "female"},
    {"Laura_Bush", "female"},      {"Gloria_Macapagal_Arroyo", "female"},
    {"Hillary_Clinton", "female"}, {"Jennifer_Lopez", "female"},
    {"Venus_Williams", "female"},  {"Lindsay_Davenport", "female"},
};

// Public birth years of public figures with many LFW photos. LFW's photos are
// news pictures of about 2002-2004, so 2003 - birth year is each person's age
// within about two years: a rough reference for choosing an input convention
// and for the age error, not a labelled test set.
const std::map<std::string, int> kBirthYear = {
    {"George_W_Bush", 1946},
    {"Colin_Powell", 1937},
    {"Tony_Blair", 1953},
    {"Donald_Rumsfeld", 1932},
    {"Gerhard_Schroeder", 1944},
    {"Ariel_Sharon", 1928},
    {"Hugo_Chavez", 1954},
    {"Junichiro_Koizumi", 1942},
    {"Jean_Chretien", 1934},
    {"John_Ashcroft", 1942},
    {"Jacques_Chirac", 1932},
    {"Serena_Williams", 1981},
    {"Vladimir_Putin", 1952},
    {"Lleyton_Hewitt", 1981},
    {"Jennifer_Capriati", 1976},
    {"Laura_Bush", 1946},
    {"Arnold_Schwarzenegger", 1947},
    {"Gloria_Macapagal_Arroyo", 1947},
    {"Hillary_Clinton", 1947},
    {"Andre_Agassi", 1970},
    {"Tiger_Woods", 1975},
    {"Kofi_Annan", 1938},
    {"Silvio_Berlusconi", 1936},
    {"Luiz_Inacio_Lula_da_Silva", 1945},
    {"Alvaro_Uribe", 1952},
    {"Jennifer_Lopez", 1969},
    {"Venus_Williams", 1980},
    {"Lindsay_Davenport", 1976},
    {"Tom_Ridge", 1945},
    {"Saddam_Hussein", 1937},
    {"Pete_Sampras", 1971},
    {"Juan_Carlos_Ferrero", 1980},
    {"Jiang_Zemin", 1926},
    {"Bill_Clinton", 1946},
    {"Megawati_Sukarnoputri", 1947},
};

// Checked by eye (open smile vs relaxed closed mouth); the same list is in
// tests/unit/attributes_lfw_test.cpp.
const std::vector<std::pair<std::string, std::string>> kExpressions = {
    {"Cameron_Diaz_0001", "happy"},     {"Cameron_Diaz_0003", "happy"},
    {"Cameron_Diaz_0004", "happy"},     {"Serena_Williams_0002", "happy"},
    {"Serena_Williams_0003", "happy"},  {"Serena_Williams_0004", "happy"},
    {"Vladimir_Putin_0004", "neutral"}, {"Vladimir_Putin_0007", "neutral"},
    {"Vladimir_Putin_0008", "neutral"}, {"Vladimir_Putin_0012", "neutral"},
    {"Tom_Hanks_0005", "neutral"},      {"Tom_Hanks_0009", "neutral"},
};

std::optional<Face> load_face(const detect::Detector& detector, const fs::path& lfw,
                              const std::string& person, const std::string& file) {
  auto decoded = io::decode_image_file(lfw / "images" / person / (file + ".jpg"));
  if (!decoded.ok()) return std::nullopt;
  const auto found = detector.detect(decoded.value->image);
  if (found.faces.empty()) return std::nullopt;
  const cv::Point2f centre(static_cast<float>(decoded.value->image.width()) / 2.0f,
                           static_cast<float>(decoded.value->image.height()) / 2.0f);
  const auto distance = [&](const detect::Detection& d) {
    const cv::Point2f c(d.box.x + d.box.width / 2, d.box.y + d.box.height / 2);
    return std::hypot(c.x - centre.x, c.y - centre.y);
  };
  const auto best =
      std::min_element(found.faces.begin(), found.faces.end(),
                       [&](const auto& a, const auto& b) { return distance(a) < distance(b); });
  return Face{person, file, decoded.value->image, *best};
}

struct Variant {
  std::string name;
  attributes::ModelInputOptions input;
};

std::vector<Variant> variants_for(const std::string& model, bool all) {
  std::vector<Variant> out;
  if (!all) return {{"shipped", {}}};
  const attributes::PixelNormalization imagenet{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  attributes::PixelNormalization imagenet_bgr = imagenet;
  imagenet_bgr.bgr = true;
  const attributes::PixelNormalization unit{};
  const attributes::PixelNormalization symmetric{{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
  std::vector<std::pair<std::string, attributes::PixelNormalization>> norms;
  if (model.find("ssrnet") != std::string::npos) {
    norms = {{"imagenet_rgb", imagenet}, {"imagenet_bgr", imagenet_bgr}, {"unit_rgb", unit}};
  } else if (model.find("minixception") != std::string::npos) {
    norms = {{"minus1_1", symmetric}, {"unit", unit}};
  } else if (model.find("gear") != std::string::npos) {
    attributes::PixelNormalization unit_bgr = unit;
    unit_bgr.bgr = true;
    const attributes::PixelNormalization raw{{0.0f, 0.0f, 0.0f},
                                             {1.0f / 255.0f, 1.0f / 255.0f, 1.0f / 255.0f}};
    norms = {{"unit_rgb", unit}, {"unit_bgr", unit_bgr}, {"raw255_rgb", raw}};
  } else {
    norms = {{"unit_rgb", unit}, {"imagenet_rgb", imagenet}};
  }
  std::vector<float> zooms = {0.6f, 0.7f, 0.8f, 1.0f};
  if (model.find("gear") != std::string::npos) zooms = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
  for (float zoom : zooms) {
    for (const auto& [norm_name, norm] : norms) {
      attributes::ModelInputOptions input;
      input.zoom = zoom;
      input.normalization = norm;
      char label[64];
      std::snprintf(label, sizeof label, "zoom%.1f_%s", static_cast<double>(zoom),
                    norm_name.c_str());
      out.push_back({label, input});
    }
  }
  return out;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[i];
}

nlohmann::json gender_figures(const std::vector<Face>& faces,
                              const std::vector<float>& male_probability) {
  std::map<std::string, std::pair<int, int>> votes;  // person -> (male, total)
  for (std::size_t i = 0; i < faces.size(); ++i) {
    auto& [male, total] = votes[faces[i].person];
    male += male_probability[i] >= 0.5f ? 1 : 0;
    ++total;
  }
  double consistency = 0.0;
  int known = 0, known_right = 0, known_photos = 0, known_photos_right = 0;
  std::vector<std::string> known_wrong;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    const auto it = kKnownGender.find(faces[i].person);
    if (it == kKnownGender.end()) continue;
    ++known_photos;
    known_photos_right += (male_probability[i] >= 0.5f) == (it->second == "male") ? 1 : 0;
  }
  for (const auto& [person, vote] : votes) {
    const int majority = std::max(vote.first, vote.second - vote.first);
    consistency += static_cast<double>(majority) / vote.second;
    if (const auto it = kKnownGender.find(person); it != kKnownGender.end()) {
      ++known;
      const std::string label = 2 * vote.first >= vote.second ? "male" : "female";
      known_right += label == it->second ? 1 : 0;
      if (label != it->second) known_wrong.push_back(person);
    }
  }
  return {{"people", votes.size()},
          {"consistency", consistency / static_cast<double>(votes.size())},
          {"known_people", known},
          {"known_majority_right", known_right},
          {"known_majority_wrong", known_wrong},
          {"known_photo_accuracy",
           known_photos > 0 ? static_cast<double>(known_photos_right) / known_photos : 0.0}};
}

// Per-person consistency of a label: the share of a person's photos whose label
// is that person's most frequent one, averaged over people.
nlohmann::json label_consistency(const std::vector<Face>& faces,
                                 const std::vector<std::string>& labels) {
  std::map<std::string, std::map<std::string, int>> votes;
  std::map<std::string, int> histogram;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    ++votes[faces[i].person][labels[i]];
    ++histogram[labels[i]];
  }
  double consistency = 0.0;
  int unanimous = 0;
  for (const auto& [person, counts] : votes) {
    int total = 0, top = 0;
    for (const auto& [label, n] : counts) {
      total += n;
      top = std::max(top, n);
    }
    consistency += static_cast<double>(top) / total;
    unanimous += top == total ? 1 : 0;
  }
  return {{"people", votes.size()},
          {"consistency", consistency / static_cast<double>(votes.size())},
          {"people_unanimous", unanimous},
          {"photo_label_histogram", histogram}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Checks of sense and cost of Likeness' face attribute models on LFW"};
  fs::path lfw = LIKENESS_BENCH_LFW_DIR;
  int min_photos = 20, max_photos = 15, timed_faces = 100;
  bool all_variants = false;
  bool mirror = false;
  // The sensitive model is measured only when asked for by name.
  std::vector<std::string> models = attributes::AttributeModel::known_models();
  std::erase(models, "ethnicity_gear");
  app.add_option("lfw", lfw, "LFW folder (images/, lfw-names.txt)")->capture_default_str();
  app.add_option("--min-photos", min_photos, "People with at least this many photos")
      ->capture_default_str();
  app.add_option("--max-photos", max_photos, "Photos used per person")->capture_default_str();
  app.add_option("--timed-faces", timed_faces, "Faces timed per model")->capture_default_str();
  app.add_option("--models", models, "Attribute models to measure")->capture_default_str();
  app.add_flag("--variants", all_variants, "Also measure other crops and normalisations");
  app.add_flag("--mirror", mirror, "Also run each face mirrored and average (not the default)");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto store = infer::ModelStore::open();
    const auto detector = detect::Detector::create("default", store, {.threads = 1});
    std::vector<Face> faces;
    std::ifstream names(lfw / "lfw-names.txt");
    if (!names) throw UsageError("no " + (lfw / "lfw-names.txt").string());
    std::string person;
    int count = 0;
    while (names >> person >> count) {
      if (count < min_photos) continue;
      for (int i = 1; i <= std::min(count, max_photos); ++i) {
        char file[256];
        std::snprintf(file, sizeof file, "%s_%04d", person.c_str(), i);
        if (auto face = load_face(*detector, lfw, person, file)) faces.push_back(*face);
      }
    }
    std::vector<Face> expression_faces;
    for (const auto& [file, label] : kExpressions) {
      const std::string who = file.substr(0, file.size() - 5);
      if (auto face = load_face(*detector, lfw, who, file)) expression_faces.push_back(*face);
    }
    if (faces.empty()) throw UsageError("no LFW faces under " + lfw.string());

    nlohmann::json report = {
        {"faces", faces.size()}, {"min_photos", min_photos}, {"max_photos_per_person", max_photos}};
    std::map<std::string, std::vector<float>> shipped_male;  // gender model -> per face
    for (const std::string& name : models) {
      nlohmann::json per_variant = nlohmann::json::object();
      for (const Variant& variant : variants_for(name, all_variants)) {
        attributes::ModelInputOptions input = variant.input;
        input.threads = 1;
        input.mirror = mirror;
        const auto model = attributes::AttributeModel::create(name, store, input);
        nlohmann::json figures;
        if (model->attribute() == "gender") {
          std::vector<float> male;
          for (const Face& f : faces) {
            attributes::FaceAttributes a;
            model->estimate(f.image, f.detection, a);
            male.push_back(!a.gender                   ? 0.5f
                           : a.gender->label == "male" ? a.gender->probability
                                                       : 1 - a.gender->probability);
          }
          figures = gender_figures(faces, male);
          if (const auto ssr = shipped_male.find("gender_ssrnet");
              name != "gender_ssrnet" && ssr != shipped_male.end()) {
            int agree = 0;
            for (std::size_t i = 0; i < male.size(); ++i) {
              agree += (male[i] >= 0.5f) == (ssr->second[i] >= 0.5f) ? 1 : 0;
            }
            figures["agreement_with_gender_ssrnet"] =
                static_cast<double>(agree) / static_cast<double>(male.size());
          }
          if (variant.name == "shipped") shipped_male[name] = male;
        } else if (model->attribute() == "age") {
          std::map<std::string, std::vector<double>> ages;
          for (const Face& f : faces) {
            attributes::FaceAttributes a;
            model->estimate(f.image, f.detection, a);
            if (a.age) ages[f.person].push_back(a.age->years);
          }
          std::vector<double> deviations, medians;
          for (auto& [who, years] : ages) {
            const double median = percentile(years, 0.5);
            medians.push_back(median);
            for (double y : years) deviations.push_back(std::abs(y - median));
          }
          std::vector<double> errors;
          for (const auto& [who, years] : ages) {
            const auto born = kBirthYear.find(who);
            if (born != kBirthYear.end()) {
              errors.push_back(percentile(years, 0.5) - (2003 - born->second));
            }
          }
          double mean_error = 0.0;
          std::vector<double> absolute;
          for (double e : errors) {
            mean_error += e / static_cast<double>(errors.size());
            absolute.push_back(std::abs(e));
          }
          double mae = 0.0;
          for (double a : absolute) mae += a / static_cast<double>(absolute.size());
          figures = {{"reference_people", errors.size()},
                     {"person_median_vs_reference_mae_years", mae},
                     {"person_median_vs_reference_bias_years", mean_error},
                     {"scatter_p50_years", percentile(deviations, 0.5)},
                     {"scatter_p90_years", percentile(deviations, 0.9)},
                     {"person_median_age_min", percentile(medians, 0.0)},
                     {"person_median_age_p50", percentile(medians, 0.5)},
                     {"person_median_age_max", percentile(medians, 1.0)}};
        } else if (model->attribute() == "ethnicity") {
          std::vector<std::string> labels;
          double top = 0.0;
          for (const Face& f : faces) {
            attributes::FaceAttributes a;
            model->estimate(f.image, f.detection, a);
            labels.push_back(a.ethnicity ? a.ethnicity->label : "none");
            if (a.ethnicity) {
              top += *std::max_element(a.ethnicity->probabilities.begin(),
                                       a.ethnicity->probabilities.end()) /
                     static_cast<double>(faces.size());
            }
          }
          figures = label_consistency(faces, labels);
          figures["mean_top_probability"] = top;
        } else {
          int right = 0;
          nlohmann::json checked = nlohmann::json::object();
          for (std::size_t i = 0; i < expression_faces.size(); ++i) {
            attributes::FaceAttributes a;
            model->estimate(expression_faces[i].image, expression_faces[i].detection, a);
            const std::string expected = kExpressions[i].second;
            // Smiling vs neutral: the more probable of the two must be the one seen.
            const float happy = a.emotion ? a.emotion->probabilities[3] : 0.0f;
            const float neutral = a.emotion ? a.emotion->probabilities[6] : 0.0f;
            const bool ok = (expected == "happy") == (happy > neutral);
            right += ok ? 1 : 0;
            checked[expression_faces[i].file] = a.emotion ? a.emotion->label : "none";
          }
          std::map<std::string, int> histogram;
          for (const Face& f : faces) {
            attributes::FaceAttributes a;
            model->estimate(f.image, f.detection, a);
            ++histogram[a.emotion ? a.emotion->label : "none"];
          }
          figures = {{"checked_photos", expression_faces.size()},
                     {"happy_vs_neutral_right", right},
                     {"labels", checked},
                     {"lfw_label_histogram", histogram}};
        }
        per_variant[variant.name] = figures;
      }
      // Cost with the shipped convention, one thread.
      attributes::ModelInputOptions shipped;
      shipped.threads = 1;
      shipped.mirror = mirror;
      const auto model = attributes::AttributeModel::create(name, store, shipped);
      std::vector<double> ms;
      for (std::size_t i = 0; i < faces.size() && static_cast<int>(ms.size()) < timed_faces; ++i) {
        attributes::FaceAttributes a;
        const auto start = std::chrono::steady_clock::now();
        model->estimate(faces[i].image, faces[i].detection, a);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
      report["models"][name] = {{"figures", per_variant},
                                {"ms_per_face_median", percentile(ms, 0.5)},
                                {"timed_faces", ms.size()}};
    }
    const std::vector<float>& ssr_male = shipped_male["gender_ssrnet"];
    const std::vector<float>& xception_male = shipped_male["gender_minixception"];
    if (!ssr_male.empty() && ssr_male.size() == xception_male.size()) {
      std::vector<float> mean(ssr_male.size());
      for (std::size_t i = 0; i < mean.size(); ++i) mean[i] = (ssr_male[i] + xception_male[i]) / 2;
      report["gender_mean_of_both"] = gender_figures(faces, mean);
    }
    std::cout << report.dump(2) << '\n';
  } catch (const Error& e) {
    std::cerr << "attributes_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
