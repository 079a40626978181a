// Camera-size test photos for the indexing throughput benchmark
// (bench/index_throughput.sh): N JPEGs of 4000x3000 pixels, each a synthetic
// scene with 0..5 LFW faces pasted at varied sizes and non-overlapping
// positions, and DIR/truth.csv naming what was pasted.
//
//   build/bench/make_photos --out /tmp/photos --count 200 --threads 2
//
// Reproducible: photo i depends only on (seed, i) and the size/quality
// options, so the same arguments give byte-identical files and --count 100 is
// a prefix of --count 1000. Randomness is std::mt19937_64 (whose output the
// standard fixes) mapped to numbers here, never through std::*_distribution
// (implementation-defined); the JPEG encoder settings are fixed (baseline,
// 4:2:0, no Huffman optimisation). Identical bytes therefore hold for one
// build with the same OpenCV and libjpeg; another OpenCV or libjpeg version may
// round differently.
//
// The scene: a smooth colour field with a few soft-edged shapes, modulated by
// multi-octave value noise (texture from hundreds of pixels down to a few),
// plus per-pixel sensor noise. It has no face-like structure at any scale (a
// blurred mosaic of LFW frames would still contain faces once a detector
// looks at the downscaled photo) and is about as costly to decode as a camera
// photo: 2-5 MB at quality 90.
//
// A face: an LFW frame (images/<Name>/<Name>_NNNN.jpg, 150x150), cropped to its
// central 70% (the frame's edges sometimes hold a second person), scaled so
// the face is 60..600 px tall (log-uniform: small faces are more common), and
// blended with a feathered elliptical mask so the paste leaves no box edge.
//
// truth.csv: file,faces,identities,boxes — identities ';'-separated LFW names;
// boxes ';'-separated "x y w h" of each face in the photo, estimated from the
// median box Likeness' default detector draws on LFW frames (for matching found
// faces to pasted ones; accurate to roughly 10% of the face size).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Where the face sits in a 150x150 LFW frame, in frame pixels: the median box
// of Likeness' default detector (ultraface, calibrated box) over LFW frames.
constexpr double kLfwFrame = 150.0;
constexpr double kFaceCx = 77.0, kFaceCy = 80.0, kFaceW = 61.0, kFaceH = 59.0;
constexpr double kCropFraction = 0.70;  // central part of the frame kept
// The mask is opaque inside this fraction of the crop's half-size (keeps the
// face) and fades to nothing at the crop's edge.
constexpr double kOpaqueRadius = 0.65;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Numbers from the generator, mapped here so that every standard library gives
// the same values.
class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t bits() { return engine_(); }
  // [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  // Integer in [lo, hi], both included.
  int integer(int lo, int hi) {
    const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
    // Multiply-shift (Lemire) on 32 random bits: no modulo, bias < span / 2^32.
    const std::uint64_t r = engine_() >> 32;
    return lo + static_cast<int>((r * span) >> 32);
  }

 private:
  std::mt19937_64 engine_;
};

struct LfwImage {
  fs::path path;
  std::string name;  // the person: the image's folder
};

struct Options {
  fs::path out;
  fs::path lfw = LIKENESS_BENCH_LFW_DIR;
  int count = 0;
  std::uint64_t seed = 1;
  int width = 4000;
  int height = 3000;
  int max_faces = 5;
  double min_face = 60;
  double max_face = 600;
  int quality = 90;
  int threads = 2;
};

struct PastedFace {
  std::string name;
  cv::Rect2d box;  // estimated face box in the photo
};

struct PhotoResult {
  std::string file;
  std::vector<PastedFace> faces;
  std::size_t bytes = 0;
  double seconds = 0;
  std::string error;
};

std::vector<LfwImage> list_lfw(const fs::path& lfw) {
  const fs::path images = lfw / "images";
  std::error_code ec;
  if (!fs::is_directory(images, ec)) {
    throw std::runtime_error("LFW not found: no folder " + images.string() +
                             " (expected images/<Name>/<Name>_NNNN.jpg; pass --lfw DIR)");
  }
  std::vector<LfwImage> list;
  for (const auto& person : fs::directory_iterator(images)) {
    if (!person.is_directory()) continue;
    for (const auto& file : fs::directory_iterator(person.path())) {
      if (file.path().extension() == ".jpg") {
        list.push_back({file.path(), person.path().filename().string()});
      }
    }
  }
  // Directory order is the file system's: sort so that index -> image is fixed.
  std::sort(list.begin(), list.end(),
            [](const LfwImage& a, const LfwImage& b) { return a.path < b.path; });
  if (list.empty()) throw std::runtime_error("LFW has no .jpg under " + images.string());
  return list;
}

// Big images reused from photo to photo by one thread: a fresh 12-MP buffer
// per step costs more in page faults than the step itself.
struct Workspace {
  cv::Mat colour;   // 8UC3, photo size
  cv::Mat texture;  // 32F, photo size
  cv::Mat octave;   // 32F, photo size
  cv::Mat photo;    // 8UC3, photo size
  std::vector<uchar> jpeg;
};

// Value noise: a random grid of `cells_x` cells across, smoothly interpolated to
// texture's size and added, scaled to [-amplitude, amplitude].
void add_octave(cv::Mat& texture, cv::Mat& scratch, Random& rng, int cells_x, float amplitude) {
  const int gw = std::max(2, cells_x + 1);
  const int gh = std::max(
      2, static_cast<int>(std::lround(static_cast<double>(cells_x) * texture.rows / texture.cols)) +
             1);
  cv::Mat grid(gh, gw, CV_32F);
  for (int y = 0; y < gh; ++y) {
    auto* row = grid.ptr<float>(y);
    for (int x = 0; x < gw; ++x) row[x] = static_cast<float>(rng.uniform(-1, 1)) * amplitude;
  }
  cv::resize(grid, scratch, texture.size(), 0, 0, cv::INTER_CUBIC);
  texture += scratch;
}

// A colour near `around`: mostly a change of brightness, a little of hue, so
// that scenes look like scenes rather than paint charts.
cv::Vec3f nearby_colour(Random& rng, const cv::Vec3f& around, double light, double tint) {
  const double l = rng.uniform(-light, light);
  cv::Vec3f c;
  for (int k = 0; k < 3; ++k) {
    c[k] = static_cast<float>(std::clamp(around[k] + l + rng.uniform(-tint, tint), 8.0, 247.0));
  }
  return c;
}

// The scene behind the faces, 8-bit BGR, into ws.photo.
void make_background(Random& rng, int width, int height, Workspace& ws) {
  // One scene colour: a grey level with a moderate cast.
  const double grey = rng.uniform(70, 180);
  cv::Vec3f base;
  for (int k = 0; k < 3; ++k) base[k] = static_cast<float>(grey + rng.uniform(-45, 45));
  // A smooth colour field around it.
  const int cw = rng.integer(3, 7), ch = rng.integer(3, 6);
  cv::Mat field(ch, cw, CV_32FC3);
  for (int y = 0; y < ch; ++y) {
    for (int x = 0; x < cw; ++x) field.at<cv::Vec3f>(y, x) = nearby_colour(rng, base, 55, 20);
  }
  // The layout at quarter size: the field, then shapes (walls, furniture,
  // sky, ...) blended over it, then the coarse texture, blurred a little.
  const int sw = width / 4, sh = height / 4;
  cv::Mat layout;
  cv::resize(field, layout, cv::Size(sw, sh), 0, 0, cv::INTER_CUBIC);
  const int n_shapes = rng.integer(4, 14);
  cv::Mat one(sh, sw, CV_8U), blended;
  for (int s = 0; s < n_shapes; ++s) {
    const cv::Vec3f c = nearby_colour(rng, base, 80, 35);
    const double alpha = rng.uniform(0.5, 0.95);
    const cv::Point2f centre(static_cast<float>(rng.uniform(0, sw)),
                             static_cast<float>(rng.uniform(0, sh)));
    const cv::Size2f size(static_cast<float>(rng.uniform(0.05, 0.6) * sw),
                          static_cast<float>(rng.uniform(0.05, 0.6) * sh));
    const float angle = static_cast<float>(rng.uniform(-30, 30));
    one.setTo(cv::Scalar::all(0));
    if (rng.integer(0, 1) == 0) {
      cv::Point2f corners[4];
      cv::RotatedRect(centre, size, angle).points(corners);
      std::vector<cv::Point> poly;
      for (const auto& p : corners) poly.emplace_back(cvRound(p.x), cvRound(p.y));
      cv::fillConvexPoly(one, poly, cv::Scalar(255), cv::LINE_8);
    } else {
      cv::ellipse(one, cv::RotatedRect(centre, size, angle), cv::Scalar(255), cv::FILLED,
                  cv::LINE_8);
    }
    blended = layout * (1.0 - alpha) + cv::Scalar(c[0], c[1], c[2]) * alpha;
    blended.copyTo(layout, one);
  }
  const float texture_gain = static_cast<float>(rng.uniform(0.7, 1.3));
  cv::Mat coarse(sh, sw, CV_32F, cv::Scalar::all(1.0)), scratch;
  add_octave(coarse, scratch, rng, 6, 0.18f * texture_gain);
  add_octave(coarse, scratch, rng, 25, 0.12f * texture_gain);
  add_octave(coarse, scratch, rng, 100, 0.08f * texture_gain);
  cv::Mat coarse3;
  cv::merge(std::vector<cv::Mat>{coarse, coarse, coarse}, coarse3);
  layout = layout.mul(coarse3);
  cv::GaussianBlur(layout, layout, cv::Size(0, 0), 1.0);
  cv::Mat layout8;
  layout.convertTo(layout8, CV_8UC3);
  cv::resize(layout8, ws.colour, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);

  // Fine texture at full size, 10 and 4 pixels: relative brightness.
  ws.texture.create(height, width, CV_32F);
  ws.texture.setTo(cv::Scalar::all(1.0));
  add_octave(ws.texture, ws.octave, rng, 400, 0.07f * texture_gain);
  add_octave(ws.texture, ws.octave, rng, 1000, 0.08f * texture_gain);

  ws.photo.create(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    const auto* c = ws.colour.ptr<cv::Vec3b>(y);
    const auto* t = ws.texture.ptr<float>(y);
    auto* o = ws.photo.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      for (int k = 0; k < 3; ++k) {
        o[x][k] = cv::saturate_cast<uchar>(static_cast<float>(c[x][k]) * t[x]);
      }
    }
  }
}

// Pastes one LFW face scaled by `scale` with its crop's top-left at `at`.
void paste_face(cv::Mat& photo, const cv::Mat& frame, double scale, cv::Point at, int size) {
  const int crop = static_cast<int>(std::lround(kCropFraction * std::min(frame.cols, frame.rows)));
  const cv::Rect crop_rect((frame.cols - crop) / 2, (frame.rows - crop) / 2, crop, crop);
  cv::Mat patch;
  cv::resize(frame(crop_rect), patch, cv::Size(size, size), 0, 0,
             scale >= 1 ? cv::INTER_CUBIC : cv::INTER_AREA);
  const double half = size / 2.0;
  for (int y = 0; y < size; ++y) {
    const int py = at.y + y;
    if (py < 0 || py >= photo.rows) continue;
    const auto* p = patch.ptr<cv::Vec3b>(y);
    auto* o = photo.ptr<cv::Vec3b>(py);
    const double dy = (y + 0.5 - half) / half;
    for (int x = 0; x < size; ++x) {
      const int px = at.x + x;
      if (px < 0 || px >= photo.cols) continue;
      const double dx = (x + 0.5 - half) / half;
      const double r = std::sqrt(dx * dx + dy * dy);
      if (r >= 1.0) continue;
      double a = 1.0;
      if (r > kOpaqueRadius) {
        const double t = (1.0 - r) / (1.0 - kOpaqueRadius);
        a = t * t * (3.0 - 2.0 * t);  // smoothstep
      }
      for (int k = 0; k < 3; ++k) {
        o[px][k] = cv::saturate_cast<uchar>(a * p[x][k] + (1.0 - a) * o[px][k]);
      }
    }
  }
}

// Sensor noise: per pixel and channel, triangular with a standard deviation of
// about `sigma` levels, from a counter-based hash (independent of threads).
void add_sensor_noise(cv::Mat& photo, std::uint64_t key, double sigma) {
  // The sum of two uniform bytes minus 255 has a standard deviation of ~104.
  const float scale = static_cast<float>(sigma / 104.2);
  for (int y = 0; y < photo.rows; ++y) {
    auto* o = photo.ptr<cv::Vec3b>(y);
    for (int x = 0; x < photo.cols; ++x) {
      std::uint64_t h =
          splitmix64(key ^ (static_cast<std::uint64_t>(y) * static_cast<std::uint64_t>(photo.cols) +
                            static_cast<std::uint64_t>(x)));
      for (int k = 0; k < 3; ++k) {
        const int a = static_cast<int>(h & 0xFF), b = static_cast<int>((h >> 8) & 0xFF);
        h >>= 16;
        o[x][k] = cv::saturate_cast<uchar>(o[x][k] + scale * static_cast<float>(a + b - 255));
      }
    }
  }
}

std::string photo_name(int i) {
  std::ostringstream s;
  s << "photo_" << std::setw(6) << std::setfill('0') << i << ".jpg";
  return s.str();
}

PhotoResult make_photo(const Options& opt, const std::vector<LfwImage>& lfw, int index,
                       Workspace& ws) {
  const auto start = std::chrono::steady_clock::now();
  PhotoResult result;
  result.file = photo_name(index);
  Random rng(splitmix64(opt.seed ^ splitmix64(static_cast<std::uint64_t>(index))));
  const std::uint64_t noise_key = rng.bits();
  const double noise_sigma = rng.uniform(4.0, 6.5);

  make_background(rng, opt.width, opt.height, ws);
  cv::Mat& photo = ws.photo;

  const int n_faces = rng.integer(0, opt.max_faces);
  std::vector<cv::Rect> taken;
  for (int f = 0; f < n_faces; ++f) {
    const LfwImage& pick =
        lfw[static_cast<std::size_t>(rng.integer(0, static_cast<int>(lfw.size()) - 1))];
    double face_h = std::exp(rng.uniform(std::log(opt.min_face), std::log(opt.max_face)));
    const cv::Mat frame = cv::imread(pick.path.string(), cv::IMREAD_COLOR);
    if (frame.empty()) throw std::runtime_error("cannot read " + pick.path.string());
    const double frame_scale = std::min(frame.cols, frame.rows) / kLfwFrame;
    // Find a free place; if the photo is too full for this size, shrink.
    bool placed = false;
    while (!placed && face_h >= opt.min_face * 0.999) {
      const double scale = face_h / (kFaceH * frame_scale);
      const int crop =
          static_cast<int>(std::lround(kCropFraction * std::min(frame.cols, frame.rows)));
      const int size = std::max(8, static_cast<int>(std::lround(crop * scale)));
      if (size < opt.width && size < opt.height) {
        for (int attempt = 0; attempt < 60 && !placed; ++attempt) {
          const cv::Rect rect(rng.integer(0, opt.width - size), rng.integer(0, opt.height - size),
                              size, size);
          const bool overlaps = std::any_of(
              taken.begin(), taken.end(), [&](const cv::Rect& t) { return (rect & t).area() > 0; });
          if (overlaps) continue;
          paste_face(photo, frame, scale, rect.tl(), size);
          taken.push_back(rect);
          // The face box: frame coordinates -> crop -> photo.
          const double crop_x0 = (frame.cols - crop) / 2, crop_y0 = (frame.rows - crop) / 2;
          const double s = static_cast<double>(size) / crop;
          const double cx = rect.x + (kFaceCx * frame_scale - crop_x0) * s;
          const double cy = rect.y + (kFaceCy * frame_scale - crop_y0) * s;
          const double w = kFaceW * frame_scale * s, h = kFaceH * frame_scale * s;
          result.faces.push_back({pick.name, cv::Rect2d(cx - w / 2, cy - h / 2, w, h)});
          placed = true;
        }
      }
      face_h *= 0.85;
    }
  }

  add_sensor_noise(photo, noise_key, noise_sigma);

  std::vector<uchar>& bytes = ws.jpeg;
  const std::vector<int> params{
      cv::IMWRITE_JPEG_QUALITY,  opt.quality, cv::IMWRITE_JPEG_PROGRESSIVE,  0,
      cv::IMWRITE_JPEG_OPTIMIZE, 0,           cv::IMWRITE_JPEG_RST_INTERVAL, 0};
  if (!cv::imencode(".jpg", photo, bytes, params)) {
    throw std::runtime_error("JPEG encoding failed for " + result.file);
  }
  // Written under a temporary name and renamed, so a file that exists is whole.
  const fs::path final_path = opt.out / result.file;
  const fs::path tmp_path = opt.out / (result.file + ".tmp");
  {
    std::ofstream f(tmp_path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + tmp_path.string());
  }
  fs::rename(tmp_path, final_path);
  result.bytes = bytes.size();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

void write_truth(const fs::path& out, const std::vector<PhotoResult>& results) {
  const fs::path tmp = out / "truth.csv.tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << "file,faces,identities,boxes\n";
    for (const auto& r : results) {
      std::string names, boxes;
      for (std::size_t k = 0; k < r.faces.size(); ++k) {
        const auto& b = r.faces[k].box;
        names += (k ? ";" : "") + r.faces[k].name;
        boxes += (k ? ";" : "") + std::to_string(std::lround(b.x)) + " " +
                 std::to_string(std::lround(b.y)) + " " + std::to_string(std::lround(b.width)) +
                 " " + std::to_string(std::lround(b.height));
      }
      f << csv_field(r.file) << ',' << r.faces.size() << ',' << csv_field(names) << ','
        << csv_field(boxes) << '\n';
    }
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, out / "truth.csv");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Write camera-size JPEGs with 0..N LFW faces pasted at varied sizes and positions, and "
      "DIR/truth.csv (file,faces,identities,boxes). The same seed and options give the same "
      "bytes; photo i depends only on (seed, i)."};
  Options opt;
  app.add_option("--out", opt.out, "Output folder (created)")->required();
  app.add_option("--count", opt.count, "Photos to write")->required()->check(CLI::PositiveNumber);
  app.add_option("--seed", opt.seed, "Seed")->capture_default_str();
  app.add_option("--width", opt.width, "Photo width")
      ->capture_default_str()
      ->check(CLI::Range(64, 20000));
  app.add_option("--height", opt.height, "Photo height")
      ->capture_default_str()
      ->check(CLI::Range(64, 20000));
  app.add_option("--max-faces", opt.max_faces,
                 "At most this many faces per photo (0..max, uniform)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app.add_option("--min-face", opt.min_face, "Smallest face height in pixels")
      ->capture_default_str()
      ->check(CLI::Range(8.0, 5000.0));
  app.add_option("--max-face", opt.max_face, "Largest face height in pixels")
      ->capture_default_str()
      ->check(CLI::Range(8.0, 5000.0));
  app.add_option("--quality", opt.quality, "JPEG quality")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--lfw", opt.lfw, "LFW folder (with images/<Name>/<Name>_NNNN.jpg)")
      ->capture_default_str();
  app.add_option("--threads", opt.threads, "Photos made in parallel")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  if (opt.max_face < opt.min_face) {
    std::cerr << "make_photos: --max-face must be at least --min-face\n";
    return 2;
  }
  try {
    const auto lfw = list_lfw(opt.lfw);
    fs::create_directories(opt.out);
    // Parallel across photos, not inside OpenCV calls (2 cores; no oversubscription).
    cv::setNumThreads(1);
    const auto start = std::chrono::steady_clock::now();
    std::vector<PhotoResult> results(static_cast<std::size_t>(opt.count));
    std::atomic<int> next{0}, done{0};
    std::mutex io_mutex;
    auto work = [&] {
      Workspace ws;
      for (int i = next++; i < opt.count; i = next++) {
        try {
          results[static_cast<std::size_t>(i)] = make_photo(opt, lfw, i, ws);
        } catch (const std::exception& e) {
          results[static_cast<std::size_t>(i)].error = e.what();
        }
        const int d = ++done;
        if (d % 25 == 0 || d == opt.count) {
          std::lock_guard lock(io_mutex);
          std::cerr << "make_photos: " << d << "/" << opt.count << "\n";
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::min(opt.threads, opt.count); ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (const auto& r : results) {
      if (!r.error.empty()) throw std::runtime_error(r.error);
    }
    write_truth(opt.out, results);

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double busy = 0, bytes = 0;
    std::size_t faces = 0, min_bytes = SIZE_MAX, max_bytes = 0;
    for (const auto& r : results) {
      busy += r.seconds;
      bytes += static_cast<double>(r.bytes);
      faces += r.faces.size();
      min_bytes = std::min(min_bytes, r.bytes);
      max_bytes = std::max(max_bytes, r.bytes);
    }
    const double n = opt.count;
    std::cout << std::fixed << std::setprecision(3) << "{\"photos\": " << opt.count
              << ", \"faces\": " << faces << ", \"seed\": " << opt.seed
              << ", \"width\": " << opt.width << ", \"height\": " << opt.height
              << ", \"quality\": " << opt.quality << ", \"threads\": " << opt.threads
              << ", \"seconds\": " << seconds << ", \"seconds_per_photo\": " << seconds / n
              << ", \"thread_seconds_per_photo\": " << busy / n
              << ", \"mean_mb\": " << bytes / n / 1e6
              << ", \"min_mb\": " << static_cast<double>(min_bytes) / 1e6
              << ", \"max_mb\": " << static_cast<double>(max_bytes) / 1e6 << "}\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "make_photos: " << e.what() << "\n";
    return 1;
  }
}
