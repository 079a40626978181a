// LFW verification benchmark: detection + alignment + each recognition model on
// the images of pairs.txt, scored with the standard 10-fold protocol.
//
//   build/bench/lfw_bench --models faceplugin_feature,dlib_resnet --threads 2
//
// A model argument may override the input convention to measure alternatives:
// NAME[:CHANNELS[:NORMALIZATION[:ZOOM]]], empty fields = the manifest's value,
// e.g. "faceplugin_feature:RGB", "faceres:BGR:none:0.9", "mobilefacenet::x / 255".
//
// Detections and embeddings (plain and mirrored, so flip TTA is measured for
// free) are cached under --cache (default: <build>/lfw_cache); delete it after
// changing the pipeline.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "lfw_ensemble.h"
#include "likeness/align/align.h"
#include "likeness/align/landmarks.h"
#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/embed/embedder.h"
#include "likeness/infer/model_store.h"
#include "likeness/io/image.h"
#include "likeness/match/verification.h"
#include "likeness/quality/quality.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

struct Pair {
  int fold = 0;
  std::string a, b;  // relative to images/
  bool same = false;
};

std::string image_path(const std::string& name, int index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "_%04d.jpg", index);
  return name + "/" + name + buf;
}

std::vector<Pair> read_pairs(const fs::path& file, int limit) {
  std::ifstream in(file);
  if (!in) throw UsageError("cannot read " + file.string());
  int folds = 0, per = 0;
  in >> folds >> per;
  std::vector<Pair> pairs;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line) && (limit <= 0 || static_cast<int>(pairs.size()) < limit)) {
    std::istringstream s(line);
    std::vector<std::string> f;
    for (std::string w; s >> w;) f.push_back(w);
    Pair p;
    p.fold = static_cast<int>(pairs.size()) / (2 * per);
    if (f.size() == 3) {
      p = {p.fold, image_path(f[0], std::stoi(f[1])), image_path(f[0], std::stoi(f[2])), true};
    } else if (f.size() == 4) {
      p = {p.fold, image_path(f[0], std::stoi(f[1])), image_path(f[2], std::stoi(f[3])), false};
    } else {
      continue;
    }
    pairs.push_back(p);
  }
  return pairs;
}

// --- Detection, cached ---

struct FaceRecord {
  bool found = false;
  bool covers_centre = false;
  detect::Detection face;
};

std::string record_line(const std::string& path, const FaceRecord& r) {
  std::ostringstream o;
  o.precision(7);
  o << path << '\t' << r.found << ' ' << r.covers_centre << ' ' << r.face.box.x << ' '
    << r.face.box.y << ' ' << r.face.box.width << ' ' << r.face.box.height;
  for (const auto& p : r.face.landmarks) o << ' ' << p.x << ' ' << p.y;
  return o.str();
}

std::map<std::string, FaceRecord> load_records(const fs::path& file) {
  std::map<std::string, FaceRecord> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::istringstream s(line.substr(tab + 1));
    FaceRecord r;
    s >> r.found >> r.covers_centre >> r.face.box.x >> r.face.box.y >> r.face.box.width >>
        r.face.box.height;
    for (auto& p : r.face.landmarks) s >> p.x >> p.y;
    if (!s) continue;
    r.face.has_landmarks = r.found;
    out[line.substr(0, tab)] = r;
  }
  return out;
}

FaceRecord nearest_centre(const Image& image, const detect::DetectionResult& result) {
  const cv::Point2f centre(static_cast<float>(image.width()) / 2.0f,
                           static_cast<float>(image.height()) / 2.0f);
  FaceRecord best;
  float best_distance = 1e30f;
  for (const auto* list : {&result.faces, &result.too_small}) {
    for (const auto& d : *list) {
      const cv::Point2f c(d.box.x + d.box.width / 2.0f, d.box.y + d.box.height / 2.0f);
      const float distance = std::hypot(c.x - centre.x, c.y - centre.y);
      if (d.has_landmarks && distance < best_distance) {
        best_distance = distance;
        best.found = true;
        best.face = d;
        best.covers_centre = d.box.contains(centre);
      }
    }
    if (best.found) break;  // a full-size face beats a too-small one
  }
  return best;
}

template <typename Fn>
void parallel_for(std::size_t count, int threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i; (i = next++) < count;) fn(i, t);
    });
  }
  for (auto& th : pool) th.join();
}

// --- Metrics ---

struct Metrics {
  double acc_mean = 0, acc_std = 0, threshold_mean = 0, tar_at_far = 0, auc = 0;
  nlohmann::json json() const {
    return {{"accuracy_mean", acc_mean},
            {"accuracy_std", acc_std},
            {"threshold_mean", threshold_mean},
            {"tar_at_far_1e-3", tar_at_far},
            {"auc", auc}};
  }
};

Metrics evaluate(const std::vector<double>& s, const std::vector<Pair>& pairs) {
  std::vector<int> labels, folds;
  for (const auto& p : pairs) {
    labels.push_back(p.same ? 1 : 0);
    folds.push_back(p.fold);
  }
  const auto ten_fold = match::ten_fold_accuracy(s, labels, folds);
  const auto split = match::split_by_label(s, labels);
  Metrics m;
  m.acc_mean = ten_fold.accuracy_mean;
  m.acc_std = ten_fold.accuracy_std;
  m.threshold_mean = ten_fold.threshold_mean;
  m.tar_at_far = match::tar_at_far(split.positive, split.negative, 1e-3);
  m.auc = match::roc_auc(split.positive, split.negative);
  return m;
}

// --- Embeddings, cached ---

struct Views {
  std::vector<float> plain, mirrored;
};

struct ModelArg {
  std::string text, name;
  embed::EmbedderOptions options;
};

ModelArg parse_model(const std::string& text) {
  ModelArg m;
  m.text = text;
  std::vector<std::string> f;
  std::string field;
  std::istringstream s(text);
  while (std::getline(s, field, ':')) f.push_back(field);
  if (f.empty()) throw UsageError("empty model argument");
  m.name = f[0];
  if (f.size() > 1) m.options.channel_order = f[1];
  if (f.size() > 2) m.options.normalization = f[2];
  if (f.size() > 3 && !f[3].empty()) m.options.zoom = std::stof(f[3]);
  if (f.size() > 4 && !f[4].empty()) {
    if (f[4] != "1" && f[4] != "2") throw UsageError("ALIGNMENTS must be 1 or 2: " + text);
    m.options.alignment_tta = f[4] == "2";
  }
  return m;
}

std::string file_key(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' ? c : '_';
  return out;
}

std::map<std::string, Views> load_views(const fs::path& file) {
  std::map<std::string, Views> out;
  std::ifstream in(file, std::ios::binary);
  while (in) {
    std::uint32_t len = 0, dim = 0;
    if (!in.read(reinterpret_cast<char*>(&len), sizeof len)) break;
    std::string path(len, '\0');
    in.read(path.data(), len);
    in.read(reinterpret_cast<char*>(&dim), sizeof dim);
    Views v;
    v.plain.resize(dim);
    v.mirrored.resize(dim);
    in.read(reinterpret_cast<char*>(v.plain.data()), static_cast<std::streamsize>(dim * 4));
    in.read(reinterpret_cast<char*>(v.mirrored.data()), static_cast<std::streamsize>(dim * 4));
    if (in) out[path] = std::move(v);
  }
  return out;
}

void append_view(std::ofstream& out, const std::string& path, const Views& v) {
  const auto len = static_cast<std::uint32_t>(path.size());
  const auto dim = static_cast<std::uint32_t>(v.plain.size());
  out.write(reinterpret_cast<const char*>(&len), sizeof len);
  out.write(path.data(), len);
  out.write(reinterpret_cast<const char*>(&dim), sizeof dim);
  out.write(reinterpret_cast<const char*>(v.plain.data()), static_cast<std::streamsize>(dim * 4));
  out.write(reinterpret_cast<const char*>(v.mirrored.data()),
            static_cast<std::streamsize>(dim * 4));
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  return embed::cosine_similarity(std::span<const float>(a), std::span<const float>(b));
}

std::vector<float> summed(const Views& v) {
  std::vector<float> out(v.plain.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = v.plain[i] + v.mirrored[i];
  embed::l2_normalize(out);
  return out;
}

// Overall quality of each image's face under the classic and the full
// formula; cached (path, classic, full per line).
std::pair<std::vector<float>, std::vector<float>> image_quality(
    const fs::path& file, const fs::path& lfw, const std::vector<std::string>& images,
    const std::map<std::string, FaceRecord>& records, const detect::Detection& fallback,
    int threads) {
  std::map<std::string, std::pair<float, float>> cached;
  {
    std::ifstream in(file);
    std::string path;
    float classic = 0, full = 0;
    while (in >> path >> classic >> full) cached[path] = {classic, full};
  }
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (!cached.count(images[i])) todo.push_back(i);
  }
  std::cerr << "quality of " << todo.size() << " faces\n";
  {
    std::ofstream out(file, std::ios::app);
    std::mutex lock;
    parallel_for(todo.size(), threads, [&](std::size_t k, int) {
      const std::string& path = images[todo[k]];
      const auto decoded = io::decode_image_file(lfw / "images" / path);
      std::pair<float, float> q{0.0f, 0.0f};
      if (decoded.ok()) {
        const auto& r = records.at(path);
        const auto& face = r.found ? r.face : fallback;
        q.first = quality::assess(decoded.value->image, face).overall;
        q.second = quality::assess(decoded.value->image, face, {.formula = quality::Formula::full})
                       .overall;
      }
      std::lock_guard g(lock);
      out << path << ' ' << q.first << ' ' << q.second << '\n';
      cached[path] = q;
    });
  }
  std::pair<std::vector<float>, std::vector<float>> out;
  for (const auto& path : images) {
    out.first.push_back(cached[path].first);
    out.second.push_back(cached[path].second);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LFW verification benchmark (10-fold protocol) for Likeness' recognition models"};
  fs::path lfw = LIKENESS_BENCH_LFW_DIR;
  fs::path cache = LIKENESS_BENCH_CACHE_DIR;
  fs::path json_out;
  fs::path models_dir;
  std::string models_text = "faceplugin_feature,dlib_resnet,mobilefacenet,faceres,mobileface";
  std::string detector_name = "default";
  std::string landmark_name = detect::DetectorOptions{}.landmark_model;
  int limit_pairs = 0;
  int threads = 2;
  int time_faces = 50;
  float landmark_upscale = 1.0f;
  fs::path dump_crops;
  bool ensemble = false;
  std::string ensemble_members;
  fs::path write_calibration;
  app.add_option("lfw", lfw, "LFW folder (images/ and pairs.txt)");
  app.add_option("--models", models_text,
                 "Comma-separated NAME[:CHANNELS[:NORMALIZATION[:ZOOM[:ALIGNMENTS]]]] (ALIGNMENTS: "
                 "1 or 2, dlib_resnet)");
  app.add_option("--detector", detector_name, "Detector backend");
  app.add_option("--landmarks", landmark_name, "Landmark model (faceplugin68, dlib68)");
  app.add_option("--limit-pairs", limit_pairs, "Use only the first N pairs (600 per fold)");
  app.add_option("--threads", threads, "Worker threads (each runs single-threaded models)");
  app.add_option("--time-faces", time_faces, "Faces timed per model (single thread, median)");
  app.add_option("--json-out", json_out, "Also write the JSON report here");
  app.add_option("--cache", cache, "Cache folder for detections and embeddings");
  app.add_option("--landmark-upscale", landmark_upscale,
                 "Re-run the 68-point landmark model on the image enlarged this much (dlib's "
                 "points are whole pixels: finer on small faces)");
  app.add_option("--dump-crops", dump_crops, "Write the first 24 ArcFace crops here (PNG)");
  app.add_option("--models-dir", models_dir, "Models directory (default: the store's)");
  app.add_flag("--ensemble", ensemble,
               "Also learn and evaluate the ensemble (fold-wise), quality filters and metrics");
  app.add_option("--ensemble-members", ensemble_members,
                 "With --ensemble: the members, comma-separated NAME or NAME@plain / NAME@flip "
                 "(default: every model of --models, each with its default mirror setting)");
  app.add_option("--write-calibration", write_calibration,
                 "With --ensemble: learn on all pairs and write the calibration file here "
                 "(models/calibration.json ships it)");
  CLI11_PARSE(app, argc, argv);

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);

  try {
    const auto store = infer::ModelStore::open({.models_dir = models_dir});
    const std::vector<Pair> pairs = read_pairs(lfw / "pairs.txt", limit_pairs);
    std::vector<std::string> images;
    for (const auto& p : pairs) {
      images.push_back(p.a);
      images.push_back(p.b);
    }
    std::sort(images.begin(), images.end());
    images.erase(std::unique(images.begin(), images.end()), images.end());
    std::cerr << pairs.size() << " pairs, " << images.size() << " images\n";
    fs::create_directories(cache);

    // Detection.
    detect::DetectorOptions det_options;
    det_options.threads = 1;
    det_options.landmark_model = landmark_name;
    const auto detector = detect::Detector::create(detector_name, store, det_options);
    std::string det_key = std::string(detector->name());
    det_key += "_" + landmark_name;
    std::unique_ptr<align::LandmarkModel> landmark_model;
    if (landmark_upscale != 1.0f) {
      landmark_model = align::LandmarkModel::create("dlib68", store);
      det_key += "_lm" + std::to_string(landmark_upscale);
    }
    const fs::path det_file = cache / ("detect_" + file_key(det_key) + ".tsv");
    auto records = load_records(det_file);
    {
      // Rewrite the cache from what parsed: an interrupted run may have left half a line.
      std::ofstream clean(det_file, std::ios::trunc);
      for (const auto& [path, r] : records) clean << record_line(path, r) << '\n';
    }
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (!records.count(images[i])) todo.push_back(i);
    }
    std::cerr << "detecting " << todo.size() << " images with " << det_key << '\n';
    {
      std::ofstream out(det_file, std::ios::app);
      std::mutex lock;
      parallel_for(todo.size(), threads, [&](std::size_t k, int) {
        const std::string& path = images[todo[k]];
        const auto decoded = io::decode_image_file(lfw / "images" / path);
        FaceRecord r;
        if (decoded.ok()) {
          r = nearest_centre(decoded.value->image, detector->detect(decoded.value->image));
          if (r.found && landmark_model) {
            const float f = landmark_upscale;
            Image big;
            cv::resize(decoded.value->image.rgb, big.rgb, cv::Size(), f, f, cv::INTER_CUBIC);
            const cv::Rect2f box(r.face.box.x * f, r.face.box.y * f, r.face.box.width * f,
                                 r.face.box.height * f);
            const auto five = landmark_model->five_points(big, box);
            // Pixel centres: x_big = (x + 0.5) * f - 0.5.
            for (std::size_t j = 0; j < 5; ++j) {
              r.face.landmarks[j] = {(five[j].x + 0.5f) / f - 0.5f, (five[j].y + 0.5f) / f - 0.5f};
            }
          }
        }
        std::lock_guard g(lock);
        out << record_line(path, r) << '\n';
        records[path] = r;
      });
    }
    // Faces the detector missed get the median face of the others (LFW is
    // centred), as is usual on this protocol; counted in the report.
    std::size_t found = 0, covers = 0;
    std::vector<float> values[14];
    for (const auto& path : images) {
      const auto& r = records[path];
      found += r.found;
      covers += r.covers_centre;
      if (!r.found) continue;
      values[0].push_back(r.face.box.x);
      values[1].push_back(r.face.box.y);
      values[2].push_back(r.face.box.width);
      values[3].push_back(r.face.box.height);
      for (int j = 0; j < 5; ++j) {
        values[4 + 2 * j].push_back(r.face.landmarks[static_cast<std::size_t>(j)].x);
        values[5 + 2 * j].push_back(r.face.landmarks[static_cast<std::size_t>(j)].y);
      }
    }
    float median[14] = {};
    for (int j = 0; j < 14; ++j) {
      auto& v = values[j];
      if (v.empty()) continue;
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
      median[j] = v[v.size() / 2];
    }
    detect::Detection fallback;
    fallback.box = {median[0], median[1], median[2], median[3]};
    for (std::size_t j = 0; j < 5; ++j)
      fallback.landmarks[j] = {median[4 + 2 * j], median[5 + 2 * j]};
    fallback.has_landmarks = true;

    if (!dump_crops.empty()) {
      fs::create_directories(dump_crops);
      for (std::size_t i = 0; i < images.size() && i < 24; ++i) {
        const auto decoded = io::decode_image_file(lfw / "images" / images[i]);
        const auto& r = records[images[i]];
        auto aligned =
            align::align_face(decoded.value->image, r.found ? r.face.landmarks : fallback.landmarks,
                              align::arcface_112());
        cv::Mat bgr;
        cv::cvtColor(aligned->crop.rgb, bgr, cv::COLOR_RGB2BGR);
        for (const auto& p : align::arcface_112().points) cv::circle(bgr, p, 1, {0, 255, 0}, -1);
        cv::imwrite((dump_crops / (std::to_string(i) + ".png")).string(), bgr);
      }
    }

    nlohmann::json report;
    report["command"] = command;
    {
      const std::time_t now = std::time(nullptr);
      char date[32];
      std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
      report["date"] = date;
    }
    report["machine"] = std::to_string(std::thread::hardware_concurrency()) + " cores, no GPU";
    report["pairs"] = pairs.size();
    report["images"] = images.size();
    report["detector"] = {
        {"name", det_key},
        {"face_found_rate", static_cast<double>(found) / static_cast<double>(images.size())},
        {"centre_face_rate", static_cast<double>(covers) / static_cast<double>(images.size())},
        {"fallbacks", images.size() - found}};
    report["models"] = nlohmann::json::array();
    bench::EnsembleStudyInput study;
    std::map<std::string, std::size_t> image_index;
    for (std::size_t i = 0; i < images.size(); ++i) image_index[images[i]] = i;
    study.image_names = images;
    for (const auto& p : pairs) {
      study.image_a.push_back(image_index[p.a]);
      study.image_b.push_back(image_index[p.b]);
      study.labels.push_back(p.same ? 1 : 0);
      study.folds.push_back(p.fold);
    }

    std::stringstream list(models_text);
    for (std::string item; std::getline(list, item, ',');) {
      if (item.empty()) continue;
      const ModelArg arg = parse_model(item);
      std::vector<std::unique_ptr<embed::Embedder>> embedders;
      for (int t = 0; t < std::max(1, threads); ++t) {
        embedders.push_back(embed::Embedder::create(arg.name, store, arg.options));
      }
      // Two alignments are a different embedding: never read a one-alignment cache for them.
      const std::string key = arg.text + (embedders[0]->alignment_tta() ? "_2align" : "");
      const fs::path emb_file = cache / ("emb_" + file_key(det_key + "_" + key) + ".bin");
      auto views = load_views(emb_file);
      {
        // Rewrite the cache from what parsed: an interrupted run may have left half a record.
        std::ofstream clean(emb_file, std::ios::binary | std::ios::trunc);
        for (const auto& [path, v] : views) append_view(clean, path, v);
      }
      todo.clear();
      for (std::size_t i = 0; i < images.size(); ++i) {
        if (!views.count(images[i])) todo.push_back(i);
      }
      std::cerr << arg.text << ": embedding " << todo.size() << " images\n";
      {
        std::ofstream out(emb_file, std::ios::binary | std::ios::app);
        std::mutex lock;
        parallel_for(todo.size(), threads, [&](std::size_t k, int t) {
          const std::string& path = images[todo[k]];
          const auto decoded = io::decode_image_file(lfw / "images" / path);
          Views v;
          if (decoded.ok()) {
            const auto& r = records[path];
            auto got = embedders[static_cast<std::size_t>(t)]->embed_views(
                decoded.value->image, r.found ? r.face : fallback);
            if (got) v = {std::move(got->plain), std::move(got->mirrored)};
          }
          if (v.plain.empty()) {
            const auto dim = static_cast<std::size_t>(embedders[0]->dimension());
            v.plain.assign(dim, 0.0f);
            v.mirrored.assign(dim, 0.0f);
          }
          std::lock_guard g(lock);
          append_view(out, path, v);
          views[path] = std::move(v);
        });
      }
      // Timing: embed() with the model's own flip setting, one thread, sequential.
      std::vector<double> ms;
      for (std::size_t i = 0; i < images.size() && static_cast<int>(ms.size()) < time_faces; ++i) {
        const auto decoded = io::decode_image_file(lfw / "images" / images[i]);
        if (!decoded.ok()) continue;
        const auto& r = records[images[i]];
        const auto start = std::chrono::steady_clock::now();
        (void)embedders[0]->embed(decoded.value->image, r.found ? r.face : fallback);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
      std::sort(ms.begin(), ms.end());

      std::vector<double> plain(pairs.size()), flip(pairs.size());
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        const Views& a = views[pairs[i].a];
        const Views& b = views[pairs[i].b];
        plain[i] = dot(a.plain, b.plain);
        flip[i] = dot(summed(a), summed(b));
      }
      nlohmann::json entry{{"model", arg.text},
                           {"name", arg.name},
                           {"dimension", embedders[0]->dimension()},
                           {"default_flip_tta", embedders[0]->flip_tta()},
                           {"alignment_tta", embedders[0]->alignment_tta()},
                           {"plain", evaluate(plain, pairs).json()},
                           {"flip_tta", evaluate(flip, pairs).json()},
                           {"ms_per_face_median", ms.empty() ? 0.0 : ms[ms.size() / 2]},
                           {"timed_faces", ms.size()}};
      std::cerr << entry.dump() << '\n';
      report["models"].push_back(entry);
      // The member's mirror setting: its default unless --ensemble-members says.
      std::optional<bool> member_flip;
      if (ensemble_members.empty()) member_flip = embedders[0]->flip_tta();
      std::stringstream wanted(ensemble_members);
      for (std::string w; std::getline(wanted, w, ',');) {
        if (w == arg.name) member_flip = embedders[0]->flip_tta();
        if (w == arg.name + "@plain") member_flip = false;
        if (w == arg.name + "@flip") member_flip = true;
      }
      if (ensemble && member_flip) {
        bench::EnsembleStudyInput::Member member;
        member.model = arg.name;
        // Timed with the model's default setting: half or double for the other.
        const double timed = ms.empty() ? 0.0 : ms[ms.size() / 2];
        member.ms_per_face = *member_flip == embedders[0]->flip_tta() ? timed
                             : *member_flip                           ? 2 * timed
                                                                      : timed / 2;
        member.flip_tta = *member_flip;
        member.alignment_tta = embedders[0]->alignment_tta();
        for (const auto& path : images) {
          const Views& v = views[path];
          const bool none =
              std::all_of(v.plain.begin(), v.plain.end(), [](float x) { return x == 0; });
          member.vectors.push_back(none           ? std::vector<float>{}
                                   : *member_flip ? summed(v)
                                                  : v.plain);
        }
        study.members.push_back(std::move(member));
      }
    }
    if (ensemble) {
      const auto quality = image_quality(cache / ("quality_" + file_key(det_key) + ".tsv"), lfw,
                                         images, records, fallback, threads);
      study.quality_classic = quality.first;
      study.quality_full = quality.second;
      report["ensemble"] = bench::run_ensemble_study(
          study, {.write_calibration = write_calibration,
                  .provenance = {{"command", command},
                                 {"data", "LFW pairs.txt, 6000 pairs, all 10 folds"},
                                 {"detector", det_key},
                                 {"date", report["date"]}}});
    }
    const std::string text = report.dump(2);
    std::cout << text << '\n';
    if (!json_out.empty()) std::ofstream(json_out) << text << '\n';
  } catch (const Error& e) {
    std::cerr << "lfw_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
