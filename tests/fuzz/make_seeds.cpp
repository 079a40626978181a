// likeness_fuzz_seeds: writes the seed corpus of a fuzz target into a folder.
//
//   likeness_fuzz_seeds image DIR   tiny photos of every format the decoder
//                                   reads (made here with OpenCV's encoders,
//                                   i.e. libjpeg/libpng/libwebp), with and
//                                   without EXIF, bare EXIF (TIFF) blocks, and
//                                   a few damaged copies (truncated, a flipped
//                                   byte, a bad CRC, a huge declared size)
//   likeness_fuzz_seeds http DIR    raw HTTP/1.1 requests for every route of
//                                   docs/api.md: GETs, JSON bodies for the
//                                   people, privacy and search routes, a
//                                   multipart upload of a tiny JPEG and PNG,
//                                   chunked and pipelined requests, a foreign
//                                   Host and a wrong token
//
// Seeds are generated at test time (tests/fuzz/run_fuzzer.sh), never copied
// from the datasets. The HTTP seeds carry placeholders that fuzz_http.cpp
// replaces before sending: @HOST@ (127.0.0.1:PORT), @TOKEN@ (the session
// token) and @UPLOAD_ID_25_CHARACTERS@ (the id of a real upload with a face;
// as long as the id, so that Content-Length stays right), so that mutated
// requests get past the Host and token checks instead of bouncing there.
//
// Built with the main (g++) build: it needs no instrumentation.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/bad_inputs.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using likeness::testing::crc32;

// A small photo-like picture: gradients and a few edges, so that every codec
// has real work (non-flat blocks, several colours).
cv::Mat picture(int width, int height) {
  cv::Mat bgr(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int edge = ((x / 4 + y / 3) % 2) * 60;
      bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<std::uint8_t>(x * 255 / width),
                                          static_cast<std::uint8_t>(y * 255 / height),
                                          static_cast<std::uint8_t>(128 + edge - 30));
    }
  }
  return bgr;
}

Bytes encode(const std::string& ext, const cv::Mat& image, const std::vector<int>& params = {}) {
  Bytes out;
  if (!cv::imencode(ext, image, out, params)) {
    throw std::runtime_error("OpenCV cannot encode " + ext + " (is it built with that codec?)");
  }
  return out;
}

void put16(Bytes& out, std::uint32_t v, bool big_endian) {
  if (big_endian) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
  } else {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  }
}

void put32(Bytes& out, std::uint32_t v, bool big_endian) {
  put16(out, big_endian ? v >> 16 : v & 0xffff, big_endian);
  put16(out, big_endian ? v & 0xffff : v >> 16, big_endian);
}

// A TIFF block as cameras write it: IFD0 {Orientation, Exif pointer}, the
// Exif sub-IFD {DateTimeOriginal, OffsetTimeOriginal}, in either byte order.
Bytes exif_tiff(int orientation, bool big_endian) {
  Bytes t = {static_cast<std::uint8_t>(big_endian ? 'M' : 'I'),
             static_cast<std::uint8_t>(big_endian ? 'M' : 'I')};
  put16(t, 42, big_endian);
  put32(t, 8, big_endian);
  const std::uint32_t exif_ifd = 8 + 2 + 2 * 12 + 4;
  const std::uint32_t values = exif_ifd + 2 + 2 * 12 + 4;
  put16(t, 2, big_endian);
  put16(t, 0x0112, big_endian);  // Orientation, SHORT x1
  put16(t, 3, big_endian);
  put32(t, 1, big_endian);
  put16(t, static_cast<std::uint32_t>(orientation), big_endian);
  put16(t, 0, big_endian);
  put16(t, 0x8769, big_endian);  // Exif IFD pointer, LONG x1
  put16(t, 4, big_endian);
  put32(t, 1, big_endian);
  put32(t, exif_ifd, big_endian);
  put32(t, 0, big_endian);  // no IFD1
  put16(t, 2, big_endian);
  put16(t, 0x9003, big_endian);  // DateTimeOriginal, ASCII x20
  put16(t, 2, big_endian);
  put32(t, 20, big_endian);
  put32(t, values, big_endian);
  put16(t, 0x9011, big_endian);  // OffsetTimeOriginal, ASCII x7
  put16(t, 2, big_endian);
  put32(t, 7, big_endian);
  put32(t, values + 20, big_endian);
  put32(t, 0, big_endian);
  for (const char* text : {"2019:07:04 15:30:59", "+02:00"}) {
    t.insert(t.end(), text, text + std::char_traits<char>::length(text) + 1);
  }
  return t;
}

Bytes jpeg_with_exif(const Bytes& jpeg, const Bytes& tiff) {
  const std::size_t length = 2 + 6 + tiff.size();
  Bytes out(jpeg.begin(), jpeg.begin() + 2);  // SOI
  out.insert(out.end(), {0xff, 0xe1, static_cast<std::uint8_t>(length >> 8),
                         static_cast<std::uint8_t>(length), 'E', 'x', 'i', 'f', 0, 0});
  out.insert(out.end(), tiff.begin(), tiff.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// Inserts an eXIf chunk after IHDR (8-byte signature + 25-byte IHDR chunk).
Bytes png_with_exif(const Bytes& png, const Bytes& tiff) {
  Bytes chunk;
  put32(chunk, static_cast<std::uint32_t>(tiff.size()), true);
  chunk.insert(chunk.end(), {'e', 'X', 'I', 'f'});
  chunk.insert(chunk.end(), tiff.begin(), tiff.end());
  put32(chunk, crc32(chunk.data() + 4, chunk.size() - 4), true);
  Bytes out(png.begin(), png.begin() + 33);
  out.insert(out.end(), chunk.begin(), chunk.end());
  out.insert(out.end(), png.begin() + 33, png.end());
  return out;
}

void put_le24(Bytes& out, std::uint32_t v) {
  for (int shift = 0; shift < 24; shift += 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// A simple-format WEBP (RIFF, WEBP, one VP8/VP8L chunk) rewritten in the
// extended format: VP8X (flag: EXIF), the image chunk, then an EXIF chunk.
Bytes webp_with_exif(const Bytes& webp, const Bytes& tiff, int width, int height) {
  Bytes body = {'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
  put32(body, 10, false);
  body.insert(body.end(), {0x08, 0, 0, 0});  // EXIF present
  put_le24(body, static_cast<std::uint32_t>(width - 1));
  put_le24(body, static_cast<std::uint32_t>(height - 1));
  body.insert(body.end(), webp.begin() + 12, webp.end());
  body.insert(body.end(), {'E', 'X', 'I', 'F'});
  put32(body, static_cast<std::uint32_t>(tiff.size()), false);
  body.insert(body.end(), tiff.begin(), tiff.end());
  if (tiff.size() % 2 != 0) body.push_back(0);
  Bytes out = {'R', 'I', 'F', 'F'};
  put32(out, static_cast<std::uint32_t>(body.size()), false);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void write(const fs::path& file, const Bytes& bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + file.string());
}

void write(const fs::path& file, const std::string& text) {
  write(file, Bytes(text.begin(), text.end()));
}

void image_seeds(const fs::path& dir) {
  const cv::Mat bgr = picture(24, 17);  // odd sizes: partial MCUs and BMP row padding
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::Mat deep;
  bgr.convertTo(deep, CV_16UC3, 257.0);

  const Bytes jpeg = encode(".jpg", bgr, {cv::IMWRITE_JPEG_QUALITY, 80});
  write(dir / "jpeg_baseline.jpg", jpeg);
  write(dir / "jpeg_progressive.jpg",
        encode(".jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_QUALITY, 60}));
  write(dir / "jpeg_gray.jpg", encode(".jpg", gray));
  // Several MCU rows and columns (libjpeg's default 4:2:0 sampling).
  write(dir / "jpeg_80x64.jpg", encode(".jpg", picture(80, 64), {cv::IMWRITE_JPEG_QUALITY, 30}));
  write(dir / "jpeg_restart.jpg",
        encode(".jpg", picture(40, 32), {cv::IMWRITE_JPEG_RST_INTERVAL, 1}));
  write(dir / "jpeg_exif_le_6.jpg", jpeg_with_exif(jpeg, exif_tiff(6, false)));
  write(dir / "jpeg_exif_be_8.jpg", jpeg_with_exif(jpeg, exif_tiff(8, true)));

  const Bytes png = encode(".png", bgr);
  write(dir / "png_rgb.png", png);
  write(dir / "png_gray.png", encode(".png", gray));
  write(dir / "png_rgba.png", encode(".png", bgra));
  write(dir / "png_16bit.png", encode(".png", deep));
  write(dir / "png_exif_3.png", png_with_exif(png, exif_tiff(3, true)));

  write(dir / "bmp_24.bmp", encode(".bmp", bgr));
  write(dir / "bmp_8_gray.bmp", encode(".bmp", gray));
  write(dir / "bmp_32.bmp", encode(".bmp", bgra));

  const Bytes webp = encode(".webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 50});
  write(dir / "webp_lossy.webp", webp);
  write(dir / "webp_lossless.webp", encode(".webp", bgr, {cv::IMWRITE_WEBP_QUALITY, 101}));
  write(dir / "webp_alpha.webp", encode(".webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 101}));
  write(dir / "webp_exif_5.webp", webp_with_exif(webp, exif_tiff(5, false), bgr.cols, bgr.rows));

  // The EXIF parser's own input: bare TIFF blocks and the APP1 form.
  write(dir / "exif_le.tiff", exif_tiff(7, false));
  write(dir / "exif_be.tiff", exif_tiff(2, true));
  Bytes app1 = {'E', 'x', 'i', 'f', 0, 0};
  const Bytes tiff = exif_tiff(4, false);
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  write(dir / "exif_app1.bin", app1);

  // Damaged copies: what interrupted downloads and bit rot look like.
  write(dir / "bad_jpeg_truncated.jpg", Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  Bytes flipped = jpeg;
  flipped[flipped.size() - 20] ^= 0x5a;
  write(dir / "bad_jpeg_flipped.jpg", flipped);
  Bytes bad_crc = png;
  bad_crc[30] ^= 0x01;  // IHDR's CRC
  write(dir / "bad_png_crc.png", bad_crc);
  Bytes bmp_bomb = encode(".bmp", bgr);
  bmp_bomb[18] = 0xff;  // width  = 0x7fff00ff-ish: far over any pixel limit
  bmp_bomb[21] = 0x7f;
  write(dir / "bad_bmp_huge.bmp", bmp_bomb);
  write(dir / "bad_webp_truncated.webp", Bytes(webp.begin(), webp.begin() + webp.size() * 2 / 3));
}

std::string request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& type = "application/json") {
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: @HOST@\r\n";
  if (method != "GET" && method != "HEAD") text += "X-Likeness-Token: @TOKEN@\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    text += "Content-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return text + "\r\n" + body;
}

std::string multipart(const std::string& filename, const std::string& type, const Bytes& photo) {
  const std::string boundary = "----likenessfuzz7MA4YWxkTrZu0gW";
  std::string body = "--" + boundary +
                     "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"" + filename +
                     "\"\r\nContent-Type: " + type + "\r\n\r\n";
  body.append(photo.begin(), photo.end());
  body += "\r\n--" + boundary + "--\r\n";
  return request("POST", "/api/uploads", body, "multipart/form-data; boundary=" + boundary);
}

void http_seeds(const fs::path& dir) {
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"get_health", request("GET", "/api/health")},
      {"get_session", request("GET", "/api/session")},
      {"head_session", request("HEAD", "/api/session")},
      {"get_people", request("GET", "/api/people?offset=0&limit=5&q=%231")},
      {"get_person", request("GET", "/api/people/1")},
      {"get_photo", request("GET", "/api/photos/1")},
      {"get_photo_image", request("GET", "/api/photos/1/image?max=64")},
      {"get_face", request("GET", "/api/faces/1")},
      {"get_face_crop", request("GET", "/api/faces/1/crop?size=32")},
      {"get_privacy_log", request("GET", "/api/privacy/log")},
      {"get_retention", request("GET", "/api/privacy/retention")},
      {"get_static", request("GET", "/index.html")},
      {"patch_person", request("PATCH", "/api/people/1", R"({"name": "Ada \u00e9"})")},
      {"patch_person_null", request("PATCH", "/api/people/2", R"({"name": null})")},
      {"merge", request("POST", "/api/people/1/merge", R"({"other": 2})")},
      {"reject", request("POST", "/api/people/1/reject", R"({"face_id": 1})")},
      {"confirm", request("POST", "/api/people/1/confirm", R"({"face_id": 2})")},
      {"erase_unconfirmed", request("POST", "/api/people/3/erase", R"({"confirm": false})")},
      {"erase", request("POST", "/api/people/3/erase", R"({"confirm": true})")},
      {"export", request("POST", "/api/people/1/export")},
      {"cluster", request("POST", "/api/people/cluster", "{}")},
      {"put_retention", request("PUT", "/api/privacy/retention",
                                R"({"unnamed_face_days": 365, "vanished_photos": false})")},
      {"apply_retention", request("POST", "/api/privacy/apply-retention")},
      {"search",
       request(
           "POST", "/api/search",
           R"({"upload_id": "@UPLOAD_ID_25_CHARACTERS@", "face": 0, "top": 3, "threshold": 0.5,)"
           R"( "include_low_quality": true})")},
      {"search_bad_json", request("POST", "/api/search", R"({"upload_id": [1, {"a": 1e999}])")},
      {"index_stop", request("POST", "/api/index/stop")},
      {"upload_jpeg", multipart("a.jpg", "image/jpeg", encode(".jpg", picture(32, 24)))},
      {"upload_png", multipart("b.png", "image/png", encode(".png", picture(16, 16)))},
      {"chunked",
       "PATCH /api/people/1 HTTP/1.1\r\nHost: @HOST@\r\nX-Likeness-Token: @TOKEN@\r\n"
       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
       "8\r\n{\"name\":\r\n7\r\n \"Bob\"}\r\n0\r\n\r\n"},
      {"pipelined", request("GET", "/api/people/1") + request("POST", "/api/people/cluster", "{}") +
                        request("GET", "/api/health")},
      {"foreign_host", "GET /api/session HTTP/1.1\r\nHost: evil.example:80\r\n\r\n"},
      {"bad_token",
       "POST /api/people/cluster HTTP/1.1\r\nHost: @HOST@\r\n"
       "X-Likeness-Token: 0123\r\nContent-Length: 0\r\n\r\n"},
      {"range", "GET /api/photos/1/image HTTP/1.1\r\nHost: @HOST@\r\nRange: bytes=0-9,20-\r\n\r\n"},
      // The connection gate's paths: unfinished heads and bodies, bytes after
      // a request, bodies over their limit, framing it refuses.
      {"partial_head", "GET /api/health HTTP/1.1\r\nHost: @HOST@\r\nX-Pad: aaaa"},
      {"pipelined_then_partial",
       request("GET", "/api/health") +
           "POST /api/search HTTP/1.1\r\nHost: @HOST@\r\nX-Likeness-Token: @TOKEN@\r\n"
           "Content-Length: 40\r\n\r\n{\"upload_id\""},
      {"keep_alive_http10",
       "GET /api/health HTTP/1.0\r\nHost: @HOST@\r\nConnection: keep-alive\r\n\r\n" +
           request("GET", "/api/session")},
      {"post_without_length", "POST /api/people/cluster HTTP/1.1\r\nHost: @HOST@\r\n\r\n"},
      {"oversized_without_token",
       "POST /api/search HTTP/1.1\r\nHost: @HOST@\r\nContent-Length: 99999999999\r\n\r\n{}"},
      {"oversized_json",
       "POST /api/search HTTP/1.1\r\nHost: @HOST@\r\nX-Likeness-Token: @TOKEN@\r\n"
       "Content-Length: 2000000\r\n\r\n{\"upload_id\": \"u\"}"},
      {"form_encoded_14k",
       request("POST", "/api/search",
               R"({"upload_id": "@UPLOAD_ID_25_CHARACTERS@", "top": 2, "pad": ")" +
                   std::string(14000, 'x') + R"("})",
               "application/x-www-form-urlencoded")},
      {"expect_continue",
       "PATCH /api/people/1 HTTP/1.1\r\nHost: @HOST@\r\nX-Likeness-Token: @TOKEN@\r\n"
       "Expect: 100-continue\r\nContent-Length: 14\r\n\r\n{\"name\": \"Di\"}"},
      {"chunked_trailer",
       "PATCH /api/people/2 HTTP/1.1\r\nHost: @HOST@\r\nX-Likeness-Token: @TOKEN@\r\n"
       "Transfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"na\r\nb\r\nme\": \"Eve\"}\r\n0\r\n"
       "X-Trailer: 1\r\n\r\n" +
           request("GET", "/api/people/2")},
      {"length_and_chunked",
       "POST /api/search HTTP/1.1\r\nHost: @HOST@\r\nContent-Length: 3\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"bare_lf_head", "GET /api/health HTTP/1.1\nHost: @HOST@\n\n"},
  };
  for (const auto& [name, text] : seeds) write(dir / (name + ".http"), text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "image" && std::string(argv[1]) != "http")) {
    std::cerr << "usage: likeness_fuzz_seeds image|http DIR\n";
    return 2;
  }
  try {
    const fs::path dir = argv[2];
    fs::create_directories(dir);
    if (std::string(argv[1]) == "image") {
      image_seeds(dir);
    } else {
      http_seeds(dir);
    }
  } catch (const std::exception& e) {
    std::cerr << "likeness_fuzz_seeds: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
