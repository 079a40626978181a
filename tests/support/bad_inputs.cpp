#include "support/bad_inputs.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <png.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>
#include <system_error>

// clang-format off
#include <jpeglib.h>  // after <cstdio>: it needs FILE
// clang-format on

namespace likeness::testing {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("bad inputs corpus: " + what);
}

void put_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void put_le(Bytes& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void png_chunk(Bytes& out, const char* type, const Bytes& payload) {
  put_be32(out, static_cast<std::uint32_t>(payload.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), payload.begin(), payload.end());
  put_be32(out, crc32(out.data() + start, out.size() - start));
}

// A RIFF chunk: type, little-endian size, payload, a pad byte to even size.
void riff_chunk(Bytes& out, const char* type, const Bytes& payload) {
  out.insert(out.end(), type, type + 4);
  put_le(out, static_cast<std::uint32_t>(payload.size()), 4);
  out.insert(out.end(), payload.begin(), payload.end());
  if (payload.size() % 2 != 0) out.push_back(0);
}

Bytes riff_webp(const Bytes& chunks) {
  Bytes out = {'R', 'I', 'F', 'F'};
  put_le(out, static_cast<std::uint32_t>(4 + chunks.size()), 4);
  out.insert(out.end(), {'W', 'E', 'B', 'P'});
  out.insert(out.end(), chunks.begin(), chunks.end());
  return out;
}

constexpr std::uint8_t kAnimation = 0x02;  // VP8X flag

// The VP8X chunk (and for an animation the ANIM chunk) of an extended WEBP.
Bytes extended_header(std::uint8_t flags, std::uint32_t canvas_width, std::uint32_t canvas_height) {
  Bytes chunks;
  Bytes vp8x = {flags, 0, 0, 0};
  put_le(vp8x, canvas_width - 1, 3);
  put_le(vp8x, canvas_height - 1, 3);
  riff_chunk(chunks, "VP8X", vp8x);
  if ((flags & kAnimation) != 0) {
    Bytes anim;
    put_le(anim, 0xffffffffu, 4);  // background: white (B, G, R, A)
    put_le(anim, 0, 2);            // loop forever
    riff_chunk(chunks, "ANIM", anim);
  }
  return chunks;
}

// An ANMF chunk at (0, 0), 100 ms, no blending, holding the image chunk of
// `simple_webp` (a RIFF/WEBP file with one VP8 or VP8L chunk, as OpenCV and
// uniform_lossless_webp write them).
void add_frame(Bytes& chunks, const Bytes& simple_webp, std::uint32_t width, std::uint32_t height) {
  if (simple_webp.size() < 20 || (std::memcmp(simple_webp.data() + 12, "VP8 ", 4) != 0 &&
                                  std::memcmp(simple_webp.data() + 12, "VP8L", 4) != 0)) {
    fail("not a simple WEBP file (one VP8 or VP8L chunk)");
  }
  Bytes anmf;
  put_le(anmf, 0, 3);  // x / 2
  put_le(anmf, 0, 3);  // y / 2
  put_le(anmf, width - 1, 3);
  put_le(anmf, height - 1, 3);
  put_le(anmf, 100, 3);  // duration, ms
  anmf.push_back(0x02);  // do not blend, do not dispose
  anmf.insert(anmf.end(), simple_webp.begin() + 12, simple_webp.end());
  riff_chunk(chunks, "ANMF", anmf);
}

// VP8L's bit order: least significant bit first.
class BitWriter {
 public:
  void put(std::uint32_t value, int bits) {
    for (int i = 0; i < bits; ++i, ++pos_) {
      if (pos_ % 8 == 0) bytes_.push_back(0);
      bytes_.back() =
          static_cast<std::uint8_t>(bytes_.back() | (((value >> i) & 1u) << (pos_ % 8)));
    }
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
  std::size_t pos_ = 0;
};

cv::Mat read_rgb(const fs::path& file) {
  const cv::Mat bgr = cv::imread(file.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) fail("cannot read " + file.string());
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

void copy_file_bytes(const fs::path& from, const fs::path& to) { write_file(to, read_file(from)); }

}  // namespace

std::uint32_t crc32(const std::uint8_t* data, std::size_t n) {
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}

Bytes encode_rgb(const std::string& ext, const cv::Mat& rgb, const std::vector<int>& params) {
  cv::Mat bgr;
  if (rgb.channels() == 3) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  } else if (rgb.channels() == 4) {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGBA2BGRA);
  } else {
    bgr = rgb;
  }
  Bytes out;
  if (!cv::imencode(ext, bgr, out, params)) fail("OpenCV cannot encode " + ext);
  return out;
}

namespace {

// Encodes `stored` (CV_8UC1 or CV_8UC4, as written to the file) with libjpeg
// directly; configure(cinfo) runs after jpeg_set_defaults.
Bytes libjpeg_encode(const cv::Mat& stored, J_COLOR_SPACE in_color_space,
                     const std::function<void(jpeg_compress_struct&)>& configure) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr errors{};
  cinfo.err = jpeg_std_error(&errors);
  jpeg_CreateCompress(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(stored.cols);
  cinfo.image_height = static_cast<JDIMENSION>(stored.rows);
  cinfo.input_components = stored.channels();
  cinfo.in_color_space = in_color_space;
  jpeg_set_defaults(&cinfo);
  configure(cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const cv::Mat rows = stored.isContinuous() ? stored : stored.clone();
  while (cinfo.next_scanline < cinfo.image_height) {
    // libjpeg takes non-const rows but does not write to them.
    JSAMPROW row[] = {
        const_cast<JSAMPLE*>(rows.ptr<JSAMPLE>(static_cast<int>(cinfo.next_scanline)))};
    jpeg_write_scanlines(&cinfo, row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  std::free(buffer);
  return out;
}

}  // namespace

Bytes cmyk_jpeg(const cv::Mat& stored, bool ycck) {
  if (stored.type() != CV_8UC4) fail("cmyk_jpeg needs CV_8UC4");
  return libjpeg_encode(stored, JCS_CMYK, [&](jpeg_compress_struct& cinfo) {
    if (ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
    jpeg_set_quality(&cinfo, 95, TRUE);
  });
}

Bytes repeated_scan_jpeg(int width, int height, int scans) {
  if (width < 1 || height < 1 || scans < 2) fail("repeated_scan_jpeg: bad arguments");
  // Scan 1: the DC coefficients; scan 2: all AC coefficients at once.
  jpeg_scan_info script[2]{};
  script[0].comps_in_scan = 1;
  script[0].component_index[0] = 0;
  script[1] = script[0];
  script[1].Ss = 1;
  script[1].Se = 63;
  // Uniform grey: every AC coefficient is zero, so the AC scan is a few EOB
  // runs, whatever the size.
  const Bytes file = libjpeg_encode(cv::Mat(height, width, CV_8UC1, cv::Scalar(128)), JCS_GRAYSCALE,
                                    [&](jpeg_compress_struct& cinfo) {
                                      cinfo.scan_info = script;
                                      cinfo.num_scans = 2;
                                    });
  // The second SOS marker starts the AC scan, which runs to the EOI marker.
  std::size_t start_of_scan[2] = {0, 0};
  int found = 0;
  for (std::size_t i = 2; i + 1 < file.size() && found < 2; ++i) {
    if (file[i] == 0xFF && file[i + 1] == 0xDA) start_of_scan[found++] = i;
  }
  if (found != 2 || file[file.size() - 2] != 0xFF || file.back() != 0xD9) {
    fail("repeated_scan_jpeg: libjpeg wrote an unexpected layout");
  }
  const std::size_t ac = start_of_scan[1], end = file.size() - 2;
  Bytes out(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(ac));
  for (int k = 1; k < scans; ++k) {
    out.insert(out.end(), file.begin() + static_cast<std::ptrdiff_t>(ac),
               file.begin() + static_cast<std::ptrdiff_t>(end));
  }
  out.push_back(0xFF);
  out.push_back(0xD9);
  return out;
}

cv::Mat adobe_cmyk_of(const cv::Mat& rgb) {
  cv::Mat out(rgb.size(), CV_8UC4);
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x = 0; x < rgb.cols; ++x) {
      const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
      // Stored values are 255 - ink, and the decoder shows C * K / 255: the
      // brightest channel becomes K, the others their share of it.
      const int k = std::max({int{p[0]}, int{p[1]}, int{p[2]}});
      auto share = [k](int v) { return k == 0 ? 0 : (v * 255 + k / 2) / k; };
      out.at<cv::Vec4b>(y, x) =
          cv::Vec4b(static_cast<std::uint8_t>(share(p[0])), static_cast<std::uint8_t>(share(p[1])),
                    static_cast<std::uint8_t>(share(p[2])), static_cast<std::uint8_t>(k));
    }
  }
  return out;
}

Bytes simple_png(int width, int height, std::uint32_t format,
                 const std::vector<std::uint8_t>& pixels, const std::vector<std::uint8_t>& colormap,
                 int colormap_entries) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = format;
  image.colormap_entries = static_cast<png_uint_32>(colormap_entries);
  png_alloc_size_t size = 0;
  const void* map = colormap.empty() ? nullptr : colormap.data();
  if (png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, map) == 0) {
    fail(std::string("libpng: ") + image.message);
  }
  Bytes out(size);
  if (png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, map) == 0) {
    fail(std::string("libpng: ") + image.message);
  }
  out.resize(size);
  return out;
}

Bytes palette_png_with_alpha(const cv::Mat& rgb, int border) {
  constexpr int kR = 6, kG = 7, kB = 6, kTransparent = kR * kG * kB;  // 252
  std::vector<std::uint8_t> colormap;
  for (int r = 0; r < kR; ++r) {
    for (int g = 0; g < kG; ++g) {
      for (int b = 0; b < kB; ++b) {
        colormap.insert(colormap.end(), {static_cast<std::uint8_t>(r * 255 / (kR - 1)),
                                         static_cast<std::uint8_t>(g * 255 / (kG - 1)),
                                         static_cast<std::uint8_t>(b * 255 / (kB - 1)), 255});
      }
    }
  }
  colormap.insert(colormap.end(), {0, 0, 0, 0});
  auto level = [](int v, int levels) { return (v * (levels - 1) + 127) / 255; };
  std::vector<std::uint8_t> indices;
  indices.reserve(rgb.total());
  for (int y = 0; y < rgb.rows; ++y) {
    for (int x = 0; x < rgb.cols; ++x) {
      const bool frame =
          x < border || y < border || x >= rgb.cols - border || y >= rgb.rows - border;
      const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
      const int index =
          frame ? kTransparent : (level(p[0], kR) * kG + level(p[1], kG)) * kB + level(p[2], kB);
      indices.push_back(static_cast<std::uint8_t>(index));
    }
  }
  return simple_png(rgb.cols, rgb.rows, PNG_FORMAT_RGBA_COLORMAP, indices, colormap,
                    kTransparent + 1);
}

Bytes png_bomb(std::uint32_t width, std::uint32_t height) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB, no interlace
  png_chunk(out, "IHDR", ihdr);
  png_chunk(out, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  png_chunk(out, "IEND", {});
  return out;
}

Bytes uniform_lossless_webp(std::uint32_t width, std::uint32_t height,
                            std::array<std::uint8_t, 4> argb) {
  if (width < 1 || height < 1 || width > 16384 || height > 16384) fail("VP8L size out of range");
  BitWriter bits;
  bits.put(0x2f, 8);  // signature
  bits.put(width - 1, 14);
  bits.put(height - 1, 14);
  bits.put(argb[0] != 255 ? 1 : 0, 1);  // alpha is used
  bits.put(0, 3);                       // version
  bits.put(0, 1);                       // no transform
  bits.put(0, 1);                       // no colour cache
  bits.put(0, 1);                       // no meta prefix codes
  // Five "simple" prefix codes of one 8-bit symbol each (green, red, blue,
  // alpha), then the distance code (one 1-bit symbol): every code has zero
  // bits, so the pixels take no space at all.
  for (std::uint8_t symbol : {argb[2], argb[1], argb[3], argb[0]}) {
    bits.put(1, 1);  // simple code
    bits.put(0, 1);  // one symbol
    bits.put(1, 1);  // 8-bit symbol
    bits.put(symbol, 8);
  }
  bits.put(1, 1);
  bits.put(0, 1);
  bits.put(0, 1);  // 1-bit symbol
  bits.put(0, 1);
  Bytes data = bits.bytes();
  data.resize(16, 0);
  Bytes chunks;
  riff_chunk(chunks, "VP8L", data);
  return riff_webp(chunks);
}

Bytes animated_webp(const std::vector<cv::Mat>& frames_rgb) {
  if (frames_rgb.empty()) fail("an animation needs frames");
  const auto width = static_cast<std::uint32_t>(frames_rgb[0].cols);
  const auto height = static_cast<std::uint32_t>(frames_rgb[0].rows);
  Bytes chunks = extended_header(kAnimation, width, height);
  for (const cv::Mat& frame : frames_rgb) {
    if (frame.size() != frames_rgb[0].size()) fail("animation frames differ in size");
    add_frame(chunks, encode_rgb(".webp", frame, {cv::IMWRITE_WEBP_QUALITY, 90}), width, height);
  }
  return riff_webp(chunks);
}

Bytes webp_with_canvas(const Bytes& simple_webp, std::uint32_t image_width,
                       std::uint32_t image_height, std::uint32_t canvas_width,
                       std::uint32_t canvas_height, bool animated) {
  Bytes chunks = extended_header(animated ? kAnimation : 0, canvas_width, canvas_height);
  if (animated) {
    add_frame(chunks, simple_webp, image_width, image_height);
  } else {
    chunks.insert(chunks.end(), simple_webp.begin() + 12, simple_webp.end());
  }
  return riff_webp(chunks);
}

Bytes random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes out(size);
  for (std::uint8_t& b : out) b = static_cast<std::uint8_t>(rng());
  if (!out.empty()) out[0] = 'x';  // not by chance a photo's magic number
  return out;
}

Bytes read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail("cannot read " + file.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& file, const Bytes& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) fail("cannot write " + file.string());
}

std::vector<fs::path> corpus_face_photos(const fs::path& datasets_dir) {
  static const char* const kPhotos[] = {
      "Colin_Powell/Colin_Powell_0001.jpg",
      "Tony_Blair/Tony_Blair_0002.jpg",
      "Serena_Williams/Serena_Williams_0001.jpg",
      "Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg",
      "George_W_Bush/George_W_Bush_0001.jpg",
      "Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg",
      "Ariel_Sharon/Ariel_Sharon_0001.jpg",
      "Hugo_Chavez/Hugo_Chavez_0001.jpg",
      "Junichiro_Koizumi/Junichiro_Koizumi_0001.jpg",
      "Jean_Chretien/Jean_Chretien_0001.jpg",
      "John_Ashcroft/John_Ashcroft_0001.jpg",
      "Colin_Powell/Colin_Powell_0003.jpg",
  };
  std::vector<fs::path> out;
  const fs::path lfw = datasets_dir / "lfw" / "images";
  for (const char* photo : kPhotos) {
    if (!fs::exists(lfw / photo)) return {};
    out.push_back(lfw / photo);
  }
  return out;
}

Corpus write_bad_inputs_corpus(const fs::path& folder, const std::vector<fs::path>& face_photos) {
  if (face_photos.size() < 12) fail("needs 12 photos with a face");
  Corpus corpus;
  corpus.folder = folder;
  fs::create_directories(folder);
  auto good = [&](const std::string& what, const fs::path& name, const Bytes& bytes) {
    write_file(folder / name, bytes);
    corpus.files.push_back({what, folder / name, "", true});
  };
  auto bad = [&](const std::string& what, const fs::path& name, const std::string& reason,
                 const Bytes& bytes) {
    write_file(folder / name, bytes);
    corpus.files.push_back({what, folder / name, reason, false});
  };
  auto photo = [&](std::size_t i) { return read_file(face_photos[i]); };

  // Good photos, each with one face.
  good("JPEG", "good_1.jpg", photo(0));
  good("JPEG named .jpeg", "good_2.jpeg", photo(1));
  good("JPEG named .JPG", "good_3.JPG", photo(2));
  good("photo in a folder named like an image", fs::path("album.jpg") / "inside.jpg", photo(3));
  good("JPEG whose name is not UTF-8", std::string("\xff\xfe good \xe9.jpg"), photo(4));
  good("PNG named .jpg", "really_a_png.jpg", encode_rgb(".png", read_rgb(face_photos[5])));
  good("CMYK JPEG", "cmyk.jpg", cmyk_jpeg(adobe_cmyk_of(read_rgb(face_photos[6])), false));
  cv::Mat deep;
  read_rgb(face_photos[7]).convertTo(deep, CV_16UC3, 257.0);
  good("16-bit PNG", "deep.png", encode_rgb(".png", deep));
  good("palette PNG with alpha", "palette_alpha.png",
       palette_png_with_alpha(read_rgb(face_photos[8]), 8));
  const cv::Mat first = read_rgb(face_photos[9]);
  good("animated WEBP (first frame: a face)", "animated.webp",
       animated_webp({first, cv::Mat(first.size(), CV_8UC3, cv::Scalar(128, 128, 128))}));

  // Bad inputs.
  Bytes cut = photo(10);
  cut.resize(cut.size() / 2);
  bad("truncated JPEG", "truncated.jpg", "truncated", cut);
  bad("zero-byte file", "empty.jpg", "empty", {});
  bad("random bytes named .jpg", "random.jpg", "not_an_image", random_bytes(4096, 7));
  const std::string text = "not a photo, whatever its name says\n";
  bad("text file named .png", "notes.png", "not_an_image", Bytes(text.begin(), text.end()));
  bad("random bytes with a name that is not UTF-8", std::string("bad \xff\xfe.png"), "not_an_image",
      random_bytes(2000, 8));
  bad("PNG claiming 50000x50000 pixels", "bomb.png", "too_many_pixels", png_bomb(50000, 50000));
  bad("progressive JPEG repeating one scan 20,000 times", "scans.jpg", "corrupt",
      repeated_scan_jpeg(4000, 3000, 20000));
  bad("WEBP of 16383x16383 pixels", "huge.webp", "too_many_pixels",
      uniform_lossless_webp(16383, 16383, {255, 200, 100, 50}));
  if (::mkfifo((folder / "pipe.jpg").c_str(), 0600) != 0) {
    fail("mkfifo: " + std::string(std::strerror(errno)));
  }
  corpus.files.push_back({"FIFO named .jpg", folder / "pipe.jpg", "not_a_file", false});
  fs::create_symlink("loop_b.jpg", folder / "loop_a.jpg");
  fs::create_symlink("loop_a.jpg", folder / "loop_b.jpg");
  corpus.files.push_back({"symlink loop (a -> b)", folder / "loop_a.jpg", "symlink_loop", false});
  corpus.files.push_back({"symlink loop (b -> a)", folder / "loop_b.jpg", "symlink_loop", false});
  corpus.unreadable = folder / "locked.jpg";
  copy_file_bytes(face_photos[11], corpus.unreadable);
  fs::permissions(corpus.unreadable, fs::perms::none);
  corpus.files.push_back({"unreadable file (chmod 000)", corpus.unreadable, "unreadable", false});

  // Left alone.
  write_file(folder / "readme.txt", Bytes(text.begin(), text.end()));
  corpus.other_files = 1;
  fs::create_directory_symlink(".", folder / "self");
  fs::create_directory_symlink("..", folder / "album.jpg" / "up");
  fs::create_symlink("dir_loop_b", folder / "dir_loop_a");
  fs::create_symlink("dir_loop_a", folder / "dir_loop_b");
  return corpus;
}

// ------------------------------------------------------------ permissions --

namespace {

constexpr std::uint32_t kReadAnyFile = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

bool get_caps(std::array<__user_cap_data_struct, 2>& data) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return ::syscall(SYS_capget, &header, data.data()) == 0;
}

bool set_caps(std::array<__user_cap_data_struct, 2>& data) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};  // 0: this thread
  return ::syscall(SYS_capset, &header, data.data()) == 0;
}

}  // namespace

NoPermissionOverride::NoPermissionOverride() {
  std::array<__user_cap_data_struct, 2> data{};
  if (!get_caps(data) || (data[0].effective & kReadAnyFile) == 0) return;
  saved_effective_ = {data[0].effective, data[1].effective};
  data[0].effective &= ~kReadAnyFile;
  dropped_ = set_caps(data);
}

NoPermissionOverride::~NoPermissionOverride() {
  if (!dropped_) return;
  std::array<__user_cap_data_struct, 2> data{};
  if (!get_caps(data)) return;
  data[0].effective = saved_effective_[0];
  data[1].effective = saved_effective_[1];
  (void)set_caps(data);
}

bool unreadable_here(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
  return fd < 0;
}

}  // namespace likeness::testing
