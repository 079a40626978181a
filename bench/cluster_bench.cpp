// Clustering benchmark: groups the faces of five_celeb (118 photos, 5 people)
// and of the LFW people with at least 5 photos (423 people, 5,985 photos)
// into people with every method of library/clustering.h at several
// thresholds, and scores the result against the labels.
//
//   OPENBLAS_NUM_THREADS=1 build/bench/cluster_bench --threads 2 --cache /tmp/cluster_cache.bin
//
// One face per photo, the one its label names: five_celeb's largest face
// (of its two photos with two faces, elton_john/train_9's largest is the
// woman beside him: one wrong label, kept as the data says), LFW's the face
// nearest the centre. Photos where no face is found count as left out. Detection and description
// (~65 ms per face per core) are cached in --cache, so re-runs with other methods or thresholds
// take seconds; delete the file after changing detection or the recognizer.
//
// Scores (pairwise, over all pairs of the dataset's photos): precision =
// same-cluster pairs that are one person / same-cluster pairs; recall =
// same-person pairs that share a cluster / same-person pairs; faces left out
// (no face, low quality, clusters below the minimum size) are in no pair.
// "*_clustered" are the same over the clustered faces only.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "likeness/core/error.h"
#include "likeness/detect/detector.h"
#include "likeness/io/image.h"
#include "likeness/library/clustering.h"
#include "likeness/match/recognizer.h"

namespace fs = std::filesystem;
using namespace likeness;

namespace {

struct Photo {
  std::string key;  // "<dataset>/<path>", the cache key
  fs::path file;
  std::string identity;
};

// What the benchmark keeps of a photo: its chosen face's description.
struct Record {
  bool found = false;
  std::uint32_t faces_in_photo = 0;
  match::FaceDescription description;
};

std::vector<Photo> five_celeb_photos(const fs::path& dir) {
  std::ifstream in(dir / "labels.csv");
  if (!in) throw UsageError("cannot read " + (dir / "labels.csv").string());
  std::vector<Photo> out;
  std::string line;
  std::getline(in, line);  // header: path,identity,split
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string path, identity;
    if (!std::getline(s, path, ',') || !std::getline(s, identity, ',')) continue;
    out.push_back({"five_celeb/" + path, dir / path, identity});
  }
  return out;
}

std::vector<Photo> lfw_photos(const fs::path& dir, int min_photos) {
  std::ifstream in(dir / "lfw-names.txt");
  if (!in) throw UsageError("cannot read " + (dir / "lfw-names.txt").string());
  std::vector<Photo> out;
  std::string name;
  int count = 0;
  while (in >> name >> count) {
    if (count < min_photos) continue;
    for (int i = 1; i <= count; ++i) {
      char file[16];
      std::snprintf(file, sizeof file, "_%04d.jpg", i);
      const std::string rel = name + "/" + name + file;
      out.push_back({"lfw/" + rel, dir / "images" / rel, name});
    }
  }
  return out;
}

// --- Cache: a signature line, then binary records (key, record) ---

template <typename T>
void put(std::ostream& out, T value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof value);
}
template <typename T>
bool get(std::istream& in, T& value) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&value), sizeof value));
}
void put_floats(std::ostream& out, const std::vector<float>& v) {
  put(out, static_cast<std::uint32_t>(v.size()));
  out.write(reinterpret_cast<const char*>(v.data()),
            static_cast<std::streamsize>(v.size() * sizeof(float)));
}
bool get_floats(std::istream& in, std::vector<float>& v) {
  std::uint32_t n = 0;
  if (!get(in, n) || n > (1u << 20)) return false;
  v.resize(n);
  return static_cast<bool>(
      in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float))));
}

void write_record(std::ostream& out, const std::string& key, const Record& r) {
  put(out, static_cast<std::uint32_t>(key.size()));
  out.write(key.data(), static_cast<std::streamsize>(key.size()));
  put(out, static_cast<std::uint8_t>(r.found));
  put(out, r.faces_in_photo);
  put(out, r.description.quality.overall);
  put(out, static_cast<std::uint8_t>(r.description.searchable));
  put(out, static_cast<std::uint32_t>(r.description.member_vectors.size()));
  for (const auto& v : r.description.member_vectors) put_floats(out, v);
  put_floats(out, r.description.fused);
}

bool read_record(std::istream& in, std::string& key, Record& r) {
  std::uint32_t key_size = 0, members = 0;
  std::uint8_t found = 0, searchable = 0;
  if (!get(in, key_size) || key_size > 4096) return false;
  key.resize(key_size);
  if (!in.read(key.data(), key_size)) return false;
  if (!get(in, found) || !get(in, r.faces_in_photo) || !get(in, r.description.quality.overall) ||
      !get(in, searchable) || !get(in, members) || members > 64) {
    return false;
  }
  r.found = found != 0;
  r.description.quality.measured = r.found;
  r.description.searchable = searchable != 0;
  r.description.member_vectors.resize(members);
  for (auto& v : r.description.member_vectors) {
    if (!get_floats(in, v)) return false;
  }
  return get_floats(in, r.description.fused);
}

// The records of `file` made under `signature`; a file of another signature
// is ignored, a truncated tail (an interrupted run) dropped. The file is
// rewritten with what parsed, ready for appending.
std::map<std::string, Record> load_cache(const fs::path& file, const std::string& signature) {
  std::map<std::string, Record> out;
  {
    std::ifstream in(file, std::ios::binary);
    std::string line;
    if (in && std::getline(in, line) && line == signature) {
      std::string key;
      Record r;
      while (read_record(in, key, r)) out[key] = r;
    }
  }
  std::ofstream clean(file, std::ios::binary | std::ios::trunc);
  if (!clean) throw UsageError("cannot write the cache " + file.string());
  clean << signature << '\n';
  for (const auto& [key, r] : out) write_record(clean, key, r);
  return out;
}

template <typename Fn>
void parallel_for(std::size_t count, int threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&] {
      for (std::size_t i; (i = next++) < count;) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

const detect::Detection* largest(const std::vector<detect::Detection>& faces) {
  const detect::Detection* best = nullptr;
  for (const auto& d : faces) {
    if (!best || d.box.area() > best->box.area()) best = &d;
  }
  return best;
}

const detect::Detection* nearest_centre(const Image& image,
                                        const std::vector<detect::Detection>& faces) {
  const cv::Point2f centre(static_cast<float>(image.width()) / 2,
                           static_cast<float>(image.height()) / 2);
  const detect::Detection* best = nullptr;
  double best_distance = 0.0;
  for (const auto& d : faces) {
    const double distance = cv::norm((d.box.tl() + d.box.br()) * 0.5f - centre);
    if (!best || distance < best_distance) {
      best = &d;
      best_distance = distance;
    }
  }
  return best;
}

void describe_missing(const std::vector<Photo>& photos, bool centre_face,
                      const detect::Detector& detector, const match::Recognizer& recognizer,
                      int threads, const fs::path& cache_file,
                      std::map<std::string, Record>& cache) {
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < photos.size(); ++i) {
    if (!cache.count(photos[i].key)) todo.push_back(i);
  }
  if (todo.empty()) return;
  std::cerr << "describing " << todo.size() << " photos\n";
  std::ofstream out(cache_file, std::ios::binary | std::ios::app);
  std::mutex lock;
  std::size_t done = 0;
  parallel_for(todo.size(), threads, [&](std::size_t k) {
    const Photo& photo = photos[todo[k]];
    Record r;
    const auto decoded = io::decode_image_file(photo.file);
    if (decoded.ok()) {
      const Image& image = decoded.value->image;
      const auto found = detector.detect(image);
      r.faces_in_photo = static_cast<std::uint32_t>(found.faces.size());
      const auto* face = centre_face ? nearest_centre(image, found.faces) : largest(found.faces);
      if (face) {
        r.found = true;
        r.description = recognizer.describe(image, *face);
      }
    }
    std::lock_guard guard(lock);
    write_record(out, photo.key, r);
    out.flush();
    cache[photo.key] = std::move(r);
    if (++done % 250 == 0) std::cerr << "  " << done << " / " << todo.size() << '\n';
  });
}

// --- Scores ---

struct Scores {
  double precision = 0, recall = 0, f1 = 0;
};

double pairs_of(std::size_t n) { return static_cast<double>(n) * static_cast<double>(n - 1) / 2; }

// Pairwise scores of `cluster` (kUnclustered = in no pair) against
// `identity`; only faces with keep[i] count.
Scores pairwise(const std::vector<int>& cluster, const std::vector<int>& identity,
                const std::vector<bool>& keep) {
  std::map<int, std::size_t> by_cluster, by_identity;
  std::map<std::pair<int, int>, std::size_t> by_both;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (!keep[i]) continue;
    ++by_identity[identity[i]];
    if (cluster[i] == library::kUnclustered) continue;
    ++by_cluster[cluster[i]];
    ++by_both[{cluster[i], identity[i]}];
  }
  double predicted = 0, actual = 0, correct = 0;
  for (const auto& [c, n] : by_cluster) predicted += pairs_of(n);
  for (const auto& [c, n] : by_identity) actual += pairs_of(n);
  for (const auto& [c, n] : by_both) correct += pairs_of(n);
  Scores s;
  s.precision = predicted > 0 ? correct / predicted : 1.0;
  s.recall = actual > 0 ? correct / actual : 1.0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

const char* method_name(library::ClusterMethod m) {
  switch (m) {
    case library::ClusterMethod::kAverageLinkage:
      return "average_linkage";
    case library::ClusterMethod::kChineseWhispers:
      return "chinese_whispers";
    case library::ClusterMethod::kSingleLinkage:
      return "single_linkage";
  }
  return "?";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Options {
  std::vector<double> thresholds;
  library::GraphOptions graph;
  std::size_t min_cluster_size = 2;
  library::AssignOptions assign;
  int threads = 2;
};

nlohmann::json evaluate(const std::vector<Photo>& photos,
                        const std::map<std::string, Record>& cache,
                        const match::Recognizer& recognizer, const Options& options) {
  // Faces: one per photo with a face; identities as numbers, per photo.
  std::vector<match::FaceDescription> faces;
  std::vector<int> identity;        // per face
  std::vector<int> photo_identity;  // per photo
  std::vector<int> face_of_photo;   // per photo, -1 when no face was found
  std::map<std::string, int> identity_number;
  std::size_t no_face = 0, several = 0;
  for (const auto& p : photos) {
    const Record& r = cache.at(p.key);
    several += r.faces_in_photo > 1;
    photo_identity.push_back(
        identity_number.emplace(p.identity, static_cast<int>(identity_number.size()))
            .first->second);
    face_of_photo.push_back(r.found ? static_cast<int>(faces.size()) : -1);
    if (!r.found) {
      ++no_face;
      continue;
    }
    faces.push_back(r.description);
    identity.push_back(photo_identity.back());
  }
  library::ClusterConstraints rules;
  for (std::size_t i = 0; i < faces.size(); ++i) {
    rules.photo_of_face.push_back(static_cast<std::int64_t>(i));
  }
  const auto graph_start = std::chrono::steady_clock::now();
  const auto graph = library::build_similarity_graph(faces, recognizer, options.graph);
  const double graph_seconds = seconds_since(graph_start);
  std::size_t low_quality = 0;
  for (const bool in : graph.in_graph) low_quality += !in;
  const std::vector<bool> all(photos.size(), true);

  nlohmann::json results = nlohmann::json::array();
  for (const auto method :
       {library::ClusterMethod::kAverageLinkage, library::ClusterMethod::kChineseWhispers,
        library::ClusterMethod::kSingleLinkage}) {
    for (const double t : options.thresholds) {
      const auto start = std::chrono::steady_clock::now();
      const auto clustering = library::cluster_faces(
          graph, rules,
          {.method = method, .threshold = t, .min_cluster_size = options.min_cluster_size});
      const double seconds = seconds_since(start);
      // Per photo; a photo without a face is in no cluster.
      std::vector<int> cluster(photos.size(), library::kUnclustered);
      std::vector<bool> clustered(photos.size());
      std::size_t left_out = 0;
      for (std::size_t i = 0; i < photos.size(); ++i) {
        if (face_of_photo[i] >= 0) {
          cluster[i] = clustering.cluster_of_face[static_cast<std::size_t>(face_of_photo[i])];
        }
        clustered[i] = cluster[i] != library::kUnclustered;
        left_out += !clustered[i];
      }
      const Scores s = pairwise(cluster, photo_identity, all);
      const Scores c = pairwise(cluster, photo_identity, clustered);
      results.push_back({{"method", method_name(method)},
                         {"threshold", t},
                         {"precision", s.precision},
                         {"recall", s.recall},
                         {"f1", s.f1},
                         {"precision_clustered", c.precision},
                         {"recall_clustered", c.recall},
                         {"f1_clustered", c.f1},
                         {"clusters", clustering.cluster_count()},
                         {"left_out", left_out},
                         {"seconds", seconds}});
    }
  }

  // Incremental: every 5th face arrives later; the rest is clustered with the
  // default options, then the late faces are attached by assign_new_faces()
  // at each threshold.
  nlohmann::json incremental = nlohmann::json::array();
  {
    std::vector<match::FaceDescription> early;
    std::vector<std::size_t> early_face;
    for (std::size_t i = 0; i < faces.size(); ++i) {
      if (i % 5 != 4) {
        early.push_back(faces[i]);
        early_face.push_back(i);
      }
    }
    const auto early_graph = library::build_similarity_graph(early, recognizer, options.graph);
    library::ClusterConstraints early_rules;
    for (const auto f : early_face)
      early_rules.photo_of_face.push_back(static_cast<std::int64_t>(f));
    const auto people = library::cluster_faces(early_graph, early_rules,
                                               {.min_cluster_size = options.min_cluster_size});
    std::vector<std::int64_t> person(faces.size(), library::kNoPerson);
    for (std::size_t k = 0; k < early_face.size(); ++k) {
      if (people.cluster_of_face[k] != library::kUnclustered) {
        person[early_face[k]] = people.cluster_of_face[k];
      }
    }
    // A cluster "is" the identity most of its faces have.
    std::map<std::int64_t, std::map<int, int>> votes;
    for (std::size_t i = 0; i < faces.size(); ++i) {
      if (person[i] != library::kNoPerson) ++votes[person[i]][identity[i]];
    }
    std::map<int, bool> identity_has_cluster;
    for (const auto& [p, v] : votes) {
      for (const auto& [id, n] : v) identity_has_cluster[id] = true;
    }
    std::vector<std::size_t> late;
    std::size_t late_with_person = 0;
    for (std::size_t i = 4; i < faces.size(); i += 5) {
      late.push_back(i);
      late_with_person += identity_has_cluster.count(identity[i]);
    }
    for (const double t : options.thresholds) {
      library::AssignOptions assign = options.assign;
      assign.threshold = t;
      const auto start = std::chrono::steady_clock::now();
      const auto joined = library::assign_new_faces(faces, person, late, rules, recognizer, assign);
      const double seconds = seconds_since(start);
      std::size_t right = 0;
      for (const auto& a : joined) {
        const auto& v = votes[a.person];
        const auto majority =
            std::max_element(v.begin(), v.end(), [](const auto& x, const auto& y) {
              return x.second < y.second;
            })->first;
        right += majority == identity[a.face];
      }
      incremental.push_back(
          {{"threshold", t},
           {"late_faces", late.size()},
           {"late_faces_whose_person_has_a_cluster", late_with_person},
           {"attached", joined.size()},
           {"attached_to_their_person", right},
           {"attachment_precision",
            joined.empty() ? 1.0 : static_cast<double>(right) / static_cast<double>(joined.size())},
           {"seconds", seconds}});
    }
  }

  return {{"photos", photos.size()},
          {"people", identity_number.size()},
          {"photos_with_several_faces", several},
          {"no_face", no_face},
          {"low_quality", low_quality},
          {"graph",
           {{"edges", graph.edges.size()},
            {"neighbours", options.graph.neighbours},
            {"exact", faces.size() - low_quality <= options.graph.exact_up_to},
            {"seconds", graph_seconds}}},
          {"results", results},
          {"incremental", incremental}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Clustering benchmark: five_celeb and LFW people with >= N photos"};
  fs::path datasets = LIKENESS_BENCH_DATASETS_DIR;
  fs::path cache_file = "cluster_cache.bin";
  std::string which = "five_celeb,lfw";
  std::string thresholds_text = "0.5,calibration,0.8,0.9,0.95,0.99,0.999";
  int min_photos = 5;
  Options options;
  app.add_option("--datasets-dir", datasets, "The shared datasets folder")->capture_default_str();
  app.add_option("--cache", cache_file, "Description cache file")->capture_default_str();
  app.add_option("--datasets", which, "five_celeb, lfw or both")->capture_default_str();
  app.add_option("--min-photos", min_photos, "LFW: people with at least this many photos")
      ->capture_default_str();
  app.add_option("--thresholds", thresholds_text,
                 "Comma-separated probabilities; 'calibration' = the calibration's")
      ->capture_default_str();
  app.add_option("--neighbours", options.graph.neighbours, "Candidate neighbours per face")
      ->capture_default_str();
  app.add_option("--exact-up-to", options.graph.exact_up_to,
                 "Exact neighbour search up to this many faces (0: always HNSW)")
      ->capture_default_str();
  app.add_option("--min-cluster-size", options.min_cluster_size, "Smaller clusters are left out")
      ->capture_default_str();
  app.add_option("--assign-margin", options.assign.margin,
                 "Incremental: a face joins its best person by this much over the next")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Worker threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  options.graph.threads = options.threads;

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  try {
    const auto store = infer::ModelStore::open();
    const auto detector = detect::Detector::create("default", store, {.threads = 1});
    const auto recognizer = match::Recognizer::create(store, {.threads = 1});
    for (const auto& t : CLI::detail::split(thresholds_text, ',')) {
      options.thresholds.push_back(
          t == "calibration" ? recognizer->calibration().probability_threshold() : std::stod(t));
    }
    std::string signature = "likeness-cluster-cache 1 " + std::string(detector->name());
    for (const auto& m : recognizer->members()) signature += " " + m;
    auto cache = load_cache(cache_file, signature);

    nlohmann::json report{
        {"command", command},
        {"members", recognizer->members()},
        {"calibration_threshold", recognizer->calibration().probability_threshold()},
        {"min_cluster_size", options.min_cluster_size}};
    for (const auto& name : CLI::detail::split(which, ',')) {
      std::vector<Photo> photos;
      bool centre_face = false;
      if (name == "five_celeb") {
        photos = five_celeb_photos(datasets / "five_celeb");
      } else if (name == "lfw") {
        photos = lfw_photos(datasets / "lfw", min_photos);
        centre_face = true;
      } else {
        throw UsageError("unknown dataset '" + name + "' (five_celeb, lfw)");
      }
      describe_missing(photos, centre_face, *detector, *recognizer, options.threads, cache_file,
                       cache);
      report[name] = evaluate(photos, cache, *recognizer, options);
    }
    std::cout << report.dump(2) << '\n';
  } catch (const Error& e) {
    std::cerr << "cluster_bench: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
