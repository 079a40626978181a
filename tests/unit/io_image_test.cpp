// Every input is generated at run time (OpenCV, libjpeg and libpng writers,
// or hand-made bytes, here and in support/bad_inputs.h); no image files live
// in the repository.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "likeness/core/error.h"
#include "likeness/io/exif.h"
#include "likeness/io/image.h"
#include "support/bad_inputs.h"
#include "support/test_env.h"

namespace likeness::io {
namespace {

namespace fs = std::filesystem;
using likeness::testing::Bytes;
using likeness::testing::cmyk_jpeg;
using likeness::testing::encode_rgb;
using likeness::testing::png_bomb;
using likeness::testing::repeated_scan_jpeg;
using likeness::testing::simple_png;

// ---------------------------------------------------------------- helpers --

class ImageIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("likeness_io_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(dir_, fs::perms::all, ignored);
    fs::remove_all(dir_, ignored);
  }

  fs::path write(const std::string& name, const Bytes& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  fs::path dir_;
};

cv::Mat solid(int width, int height, cv::Scalar rgb) {
  return cv::Mat(height, width, CV_8UC3, rgb);
}

cv::Vec3b pixel(const DecodeResult& result, int x, int y) {
  return result.value->image.rgb.at<cv::Vec3b>(y, x);
}

// Channel-wise closeness, for lossy formats.
::testing::AssertionResult near_rgb(cv::Vec3b got, cv::Vec3b want, int tolerance) {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(int{got[c]} - int{want[c]}) > tolerance) {
      return ::testing::AssertionFailure()
             << "got (" << int{got[0]} << "," << int{got[1]} << "," << int{got[2]} << ") want ("
             << int{want[0]} << "," << int{want[1]} << "," << int{want[2]} << ") +-" << tolerance;
    }
  }
  return ::testing::AssertionSuccess();
}

const cv::Vec3b kRed(255, 0, 0);
const cv::Vec3b kGreen(0, 255, 0);
const cv::Vec3b kBlue(0, 0, 255);
const cv::Vec3b kWhite(255, 255, 255);

// A TIFF block with IFD0 {Orientation} and, if `date` is set, an Exif
// sub-IFD {DateTimeOriginal}, in either byte order.
Bytes exif_tiff(int orientation, bool big_endian, const std::string& date = "") {
  Bytes t;
  auto u16 = [&](std::uint32_t v) {
    if (big_endian) {
      t.push_back(static_cast<std::uint8_t>(v >> 8));
      t.push_back(static_cast<std::uint8_t>(v));
    } else {
      t.push_back(static_cast<std::uint8_t>(v));
      t.push_back(static_cast<std::uint8_t>(v >> 8));
    }
  };
  auto u32 = [&](std::uint32_t v) {
    if (big_endian) {
      u16(v >> 16);
      u16(v & 0xffff);
    } else {
      u16(v & 0xffff);
      u16(v >> 16);
    }
  };
  t.push_back(big_endian ? 'M' : 'I');
  t.push_back(big_endian ? 'M' : 'I');
  u16(42);
  u32(8);  // IFD0 offset
  const bool with_date = !date.empty();
  u16(with_date ? 2 : 1);
  u16(0x0112);  // Orientation, SHORT, 1 value, left-justified in the 4-byte field
  u16(3);
  u32(1);
  u16(static_cast<std::uint32_t>(orientation));
  u16(0);
  const std::uint32_t exif_ifd = 8 + 2 + 2 * 12 + 4;
  if (with_date) {
    u16(0x8769);  // Exif IFD pointer
    u16(4);
    u32(1);
    u32(exif_ifd);
  }
  u32(0);  // no IFD1
  if (with_date) {
    u16(1);
    u16(0x9003);  // DateTimeOriginal, ASCII, 20 bytes
    u16(2);
    u32(20);
    u32(exif_ifd + 2 + 12 + 4);
    u32(0);
    t.insert(t.end(), date.begin(), date.end());
    t.push_back(0);
  }
  return t;
}

// Inserts an APP1 Exif segment right after the JPEG's SOI marker.
Bytes with_exif(const Bytes& jpeg, const Bytes& tiff) {
  Bytes segment = {0xff, 0xe1};
  const std::size_t length = 2 + 6 + tiff.size();
  segment.push_back(static_cast<std::uint8_t>(length >> 8));
  segment.push_back(static_cast<std::uint8_t>(length));
  segment.insert(segment.end(), {'E', 'x', 'i', 'f', 0, 0});
  segment.insert(segment.end(), tiff.begin(), tiff.end());
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), segment.begin(), segment.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// A textured photo-like picture, so that JPEG data is not trivially small.
cv::Mat textured(int width, int height) {
  cv::Mat rgb(height, width, CV_8UC3);
  cv::RNG rng(12345);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<std::uint8_t>((x * 255) / width),
                                          static_cast<std::uint8_t>((y * 255) / height),
                                          static_cast<std::uint8_t>(rng.uniform(0, 256)));
    }
  }
  return rgb;
}

// ---------------------------------------------------- formats and colours --

TEST_F(ImageIoTest, DecodesEachFormatToRgbWithRightSizeAndColour) {
  const cv::Mat red = solid(64, 48, cv::Scalar(255, 0, 0));  // R, G, B
  struct Case {
    std::string ext;
    ImageFormat format;
    int tolerance;
  };
  for (const Case& c : {Case{".jpg", ImageFormat::jpeg, 8}, Case{".png", ImageFormat::png, 0},
                        Case{".bmp", ImageFormat::bmp, 0}, Case{".webp", ImageFormat::webp, 8}}) {
    SCOPED_TRACE(c.ext);
    const fs::path path = write("red" + c.ext, encode_rgb(c.ext, red));
    const DecodeResult result = decode_image_file(path);
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_EQ(result.error, DecodeError::none);
    EXPECT_TRUE(result.message.empty());
    const DecodedImage& image = *result.value;
    EXPECT_EQ(image.format, c.format);
    EXPECT_EQ(image.image.width(), 64);
    EXPECT_EQ(image.image.height(), 48);
    EXPECT_EQ(image.image.rgb.type(), CV_8UC3);
    EXPECT_EQ(image.original_width, 64);
    EXPECT_EQ(image.original_height, 48);
    EXPECT_EQ(image.scale, 1.0);
    EXPECT_EQ(image.region, cv::Rect(0, 0, 64, 48));
    EXPECT_TRUE(near_rgb(pixel(result, 10, 10), kRed, c.tolerance));  // R first: RGB order

    const ProbeResult probe = probe_image_file(path);
    ASSERT_TRUE(probe.ok()) << probe.message;
    EXPECT_EQ(probe.value->format, c.format);
    EXPECT_EQ(probe.value->width, 64);
    EXPECT_EQ(probe.value->height, 48);
  }
}

TEST_F(ImageIoTest, FormatIsDecidedByContentNotExtension) {
  const fs::path path =
      write("actually_png.jpg", encode_rgb(".png", solid(8, 8, cv::Scalar(0, 0, 255))));
  const DecodeResult result = decode_image_file(path);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.value->format, ImageFormat::png);
  EXPECT_EQ(pixel(result, 0, 0), kBlue);

  const fs::path webp = write("photo.png", encode_rgb(".webp", solid(8, 8, cv::Scalar(0, 255, 0))));
  ASSERT_TRUE(decode_image_file(webp).ok());
  EXPECT_EQ(decode_image_file(webp).value->format, ImageFormat::webp);
}

TEST_F(ImageIoTest, GrayscaleInputsBecomeRgb) {
  const cv::Mat gray(20, 30, CV_8UC1, cv::Scalar(100));
  for (const std::string ext : {".png", ".jpg", ".bmp"}) {
    SCOPED_TRACE(ext);
    Bytes bytes;
    ASSERT_TRUE(cv::imencode(ext, gray, bytes));
    const DecodeResult result = decode_image_bytes(bytes);
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_EQ(result.value->image.rgb.type(), CV_8UC3);
    EXPECT_TRUE(near_rgb(pixel(result, 5, 5), cv::Vec3b(100, 100, 100), 2));
  }
}

TEST_F(ImageIoTest, AlphaIsCompositedOntoWhite) {
  // RGBA PNG: opaque red, fully transparent blue, half-transparent black.
  cv::Mat rgba(10, 30, CV_8UC4);
  rgba.colRange(0, 10).setTo(cv::Scalar(255, 0, 0, 255));
  rgba.colRange(10, 20).setTo(cv::Scalar(0, 0, 255, 0));
  rgba.colRange(20, 30).setTo(cv::Scalar(0, 0, 0, 128));
  for (const std::string ext : {".png", ".webp"}) {
    SCOPED_TRACE(ext);
    std::vector<int> params;
    if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 101};  // lossless
    const DecodeResult result = decode_image_bytes(encode_rgb(ext, rgba, params), {}, "rgba" + ext);
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_TRUE(near_rgb(pixel(result, 5, 5), kRed, 1));
    EXPECT_TRUE(near_rgb(pixel(result, 15, 5), kWhite, 1));
    EXPECT_TRUE(near_rgb(pixel(result, 25, 5), cv::Vec3b(127, 127, 127), 2));
  }
  // Gray + alpha PNG.
  const std::vector<std::uint8_t> ga = {50, 255, 50, 0};  // opaque gray 50, then transparent
  const DecodeResult result = decode_image_bytes(simple_png(2, 1, PNG_FORMAT_GA, ga));
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_TRUE(near_rgb(pixel(result, 0, 0), cv::Vec3b(50, 50, 50), 1));
  EXPECT_TRUE(near_rgb(pixel(result, 1, 0), kWhite, 1));
}

TEST_F(ImageIoTest, PalettePngWithAndWithoutTransparency) {
  const std::vector<std::uint8_t> indices = {0, 1, 2, 2};
  // Opaque palette: red, green, blue.
  const DecodeResult opaque = decode_image_bytes(
      simple_png(4, 1, PNG_FORMAT_RGB_COLORMAP, indices, {255, 0, 0, 0, 255, 0, 0, 0, 255}, 3));
  ASSERT_TRUE(opaque.ok()) << opaque.message;
  EXPECT_EQ(pixel(opaque, 0, 0), kRed);
  EXPECT_EQ(pixel(opaque, 1, 0), kGreen);
  EXPECT_EQ(pixel(opaque, 3, 0), kBlue);
  // Palette with tRNS: entry 2 fully transparent.
  const DecodeResult transparent = decode_image_bytes(simple_png(
      4, 1, PNG_FORMAT_RGBA_COLORMAP, indices, {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 0}, 3));
  ASSERT_TRUE(transparent.ok()) << transparent.message;
  EXPECT_EQ(pixel(transparent, 0, 0), kRed);
  EXPECT_EQ(pixel(transparent, 1, 0), kGreen);
  EXPECT_EQ(pixel(transparent, 2, 0), kWhite);
}

TEST_F(ImageIoTest, SixteenBitPngIsReducedToEightBitWithoutGammaShift) {
  cv::Mat rgb16(4, 4, CV_16UC3, cv::Scalar(65535, 0, 0));  // R, G, B
  rgb16.row(3).setTo(cv::Scalar(32896, 32896, 32896));     // 0x8080 -> 128
  const Bytes bytes = encode_rgb(".png", rgb16);
  ASSERT_EQ(bytes[24], 16) << "the test input should be a 16-bit PNG";
  const DecodeResult result = decode_image_bytes(bytes);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.value->image.rgb.type(), CV_8UC3);
  EXPECT_EQ(pixel(result, 0, 0), kRed);
  EXPECT_TRUE(near_rgb(pixel(result, 0, 3), cv::Vec3b(128, 128, 128), 1));
}

TEST_F(ImageIoTest, CmykAndYcckJpegAreConvertedWithAdobeInversion) {
  // Photoshop-style (Adobe marker) CMYK stores inverted inks: 255 = no ink.
  // Red = no cyan, full magenta, full yellow, no black.
  for (bool ycck : {false, true}) {
    SCOPED_TRACE(ycck ? "YCCK" : "CMYK");
    const DecodeResult red =
        decode_image_bytes(cmyk_jpeg(cv::Mat(16, 32, CV_8UC4, cv::Scalar(255, 0, 0, 255)), ycck));
    ASSERT_TRUE(red.ok()) << red.message;
    EXPECT_TRUE(near_rgb(pixel(red, 8, 8), kRed, 10));
    // Blue = full cyan, full magenta, no yellow, with 50% black -> dark blue.
    const DecodeResult dark_blue =
        decode_image_bytes(cmyk_jpeg(cv::Mat(16, 32, CV_8UC4, cv::Scalar(0, 0, 255, 128)), ycck));
    ASSERT_TRUE(dark_blue.ok()) << dark_blue.message;
    EXPECT_TRUE(near_rgb(pixel(dark_blue, 8, 8), cv::Vec3b(0, 0, 128), 10));
  }
}

// ------------------------------------------------------------ orientation --

TEST_F(ImageIoTest, AppliesAllEightExifOrientations) {
  // Stored 40x24: red block at the top-left corner, green at the top-right.
  cv::Mat stored = solid(40, 24, cv::Scalar(128, 128, 128));
  stored(cv::Rect(0, 0, 12, 12)).setTo(cv::Scalar(255, 0, 0));
  stored(cv::Rect(28, 0, 12, 12)).setTo(cv::Scalar(0, 255, 0));
  const Bytes jpeg = encode_rgb(".jpg", stored, {cv::IMWRITE_JPEG_QUALITY, 95});
  enum Corner { TL, TR, BL, BR };
  // Where the stored top-left (red) and top-right (green) corners are shown.
  const std::array<std::pair<Corner, Corner>, 9> expected = {{
      {TL, TR},
      {TL, TR},
      {TR, TL},
      {BR, BL},
      {BL, BR},
      {TL, BL},
      {TR, BR},
      {BR, TR},
      {BL, TL},
  }};
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE("orientation " + std::to_string(o));
    const bool big_endian = o % 2 == 0;
    const Bytes bytes = with_exif(jpeg, exif_tiff(o, big_endian));
    const DecodeResult result = decode_image_bytes(bytes);
    ASSERT_TRUE(result.ok()) << result.message;
    const int w = o >= 5 ? 24 : 40;
    const int h = o >= 5 ? 40 : 24;
    EXPECT_EQ(result.value->image.width(), w);
    EXPECT_EQ(result.value->image.height(), h);
    EXPECT_EQ(result.value->original_width, w);
    EXPECT_EQ(result.value->original_height, h);
    EXPECT_EQ(result.value->exif_orientation, o);
    EXPECT_EQ(result.value->orientation_applied, o != 1);
    auto at = [&](Corner corner) {
      const int x = (corner == TL || corner == BL) ? 5 : w - 6;
      const int y = (corner == TL || corner == TR) ? 5 : h - 6;
      return pixel(result, x, y);
    };
    EXPECT_TRUE(near_rgb(at(expected[o].first), kRed, 40));
    EXPECT_TRUE(near_rgb(at(expected[o].second), kGreen, 40));

    const ProbeResult probe = probe_image_bytes(bytes);
    ASSERT_TRUE(probe.ok()) << probe.message;
    EXPECT_EQ(probe.value->exif_orientation, o);
    EXPECT_EQ(probe.value->width, 40);  // as stored
    EXPECT_EQ(probe.value->oriented_width(), w);
  }
  // Orientation can be ignored on request.
  DecodeOptions raw;
  raw.apply_exif_orientation = false;
  const DecodeResult unrotated = decode_image_bytes(with_exif(jpeg, exif_tiff(6, false)), raw);
  ASSERT_TRUE(unrotated.ok());
  EXPECT_EQ(unrotated.value->image.width(), 40);
  EXPECT_EQ(unrotated.value->exif_orientation, 6);
  EXPECT_FALSE(unrotated.value->orientation_applied);
}

TEST_F(ImageIoTest, ReadsCaptureTimeFromExif) {
  const Bytes jpeg = encode_rgb(".jpg", solid(16, 16, cv::Scalar(1, 2, 3)));
  for (bool big_endian : {false, true}) {
    const Bytes bytes = with_exif(jpeg, exif_tiff(1, big_endian, "2019:07:04 15:30:59"));
    const DecodeResult result = decode_image_bytes(bytes);
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_EQ(result.value->capture_time, "2019-07-04T15:30:59");
    EXPECT_EQ(probe_image_bytes(bytes).value->capture_time, "2019-07-04T15:30:59");
  }
  EXPECT_EQ(parse_exif(exif_tiff(1, false, "0000:00:00 00:00:00")).capture_time, "");
  EXPECT_EQ(parse_exif(exif_tiff(1, false)).capture_time, "");
  // Garbage never fails, it just yields defaults.
  const Bytes garbage = {'M', 'M', 0, 42, 0xff, 0xff, 0xff, 0xff, 1, 2};
  EXPECT_EQ(parse_exif(garbage).orientation, 1);
}

TEST_F(ImageIoTest, ProbeFindsHeaderBehindLargeMetadata) {
  // 200 KB of APP2 segments before the frame header, beyond the first read.
  Bytes jpeg = encode_rgb(".jpg", solid(33, 17, cv::Scalar(9, 9, 9)));
  Bytes padded(jpeg.begin(), jpeg.begin() + 2);
  for (int i = 0; i < 4; ++i) {
    padded.insert(padded.end(), {0xff, 0xe2, 0xea, 0x60});  // length 60000
    padded.insert(padded.end(), 60000 - 2, 0x20);
  }
  padded.insert(padded.end(), jpeg.begin() + 2, jpeg.end());
  const fs::path path = write("padded.jpg", padded);
  const ProbeResult probe = probe_image_file(path);
  ASSERT_TRUE(probe.ok()) << probe.message;
  EXPECT_EQ(probe.value->width, 33);
  EXPECT_EQ(probe.value->height, 17);
  EXPECT_TRUE(decode_image_file(path).ok());
}

// -------------------------------------------------------------- failures --

TEST_F(ImageIoTest, TruncatedFilesAreReportedAsTruncated) {
  const cv::Mat picture = textured(256, 192);
  for (const std::string ext : {".jpg", ".png", ".webp", ".bmp"}) {
    SCOPED_TRACE(ext);
    const Bytes full = encode_rgb(ext, picture);
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(full.size() * 6 / 10));
    const fs::path path = write("cut" + ext, cut);
    const DecodeResult result = decode_image_file(path);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error, DecodeError::truncated) << result.message;
    EXPECT_NE(result.message.find(path.string()), std::string::npos) << result.message;
  }
  // A JPEG cut inside its headers, and one cut in the middle of the SOF.
  const Bytes jpeg = encode_rgb(".jpg", picture);
  for (std::size_t keep : {std::size_t{3}, std::size_t{30}, std::size_t{170}}) {
    const DecodeResult result =
        decode_image_bytes(Bytes(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(keep)));
    EXPECT_EQ(result.error, DecodeError::truncated) << keep << ": " << result.message;
  }
}

TEST_F(ImageIoTest, DamagedJpegCanBeAcceptedOnRequest) {
  const Bytes full = encode_rgb(".jpg", textured(256, 192));
  const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(full.size() / 2));
  DecodeOptions lenient;
  lenient.accept_damaged = true;
  const DecodeResult result = decode_image_bytes(cut, lenient);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.value->image.width(), 256);
  ASSERT_FALSE(result.value->warnings.empty());
  EXPECT_NE(result.value->warnings[0].find("truncated"), std::string::npos);

  // Missing only the final EOI marker: all pixels are there, so it decodes.
  const Bytes no_eoi(full.begin(), full.end() - 2);
  const DecodeResult almost = decode_image_bytes(no_eoi);
  ASSERT_TRUE(almost.ok()) << almost.message;
  EXPECT_FALSE(almost.value->warnings.empty());
}

TEST_F(ImageIoTest, EmptyRandomAndForeignFilesAreClearErrors) {
  const DecodeResult empty = decode_image_file(write("empty.jpg", {}));
  EXPECT_EQ(empty.error, DecodeError::empty);
  EXPECT_NE(empty.message.find("empty.jpg"), std::string::npos);
  EXPECT_EQ(probe_image_file(dir_ / "empty.jpg").error, DecodeError::empty);

  Bytes noise(4096);
  std::mt19937 rng(1);
  for (auto& b : noise) b = static_cast<std::uint8_t>(rng());
  noise[0] = 0x00;
  const DecodeResult random = decode_image_file(write("noise.jpg", noise));
  EXPECT_EQ(random.error, DecodeError::unsupported_format) << random.message;
  EXPECT_NE(random.message.find("noise.jpg"), std::string::npos);

  Bytes fake_jpeg = {0xff, 0xd8, 0xff, 0xe0};
  fake_jpeg.insert(fake_jpeg.end(), noise.begin(), noise.end());
  const DecodeResult fake = decode_image_bytes(fake_jpeg, {}, "fake.jpg");
  EXPECT_FALSE(fake.ok());
  EXPECT_TRUE(fake.error == DecodeError::corrupt || fake.error == DecodeError::truncated)
      << fake.message;

  const DecodeResult gif =
      decode_image_bytes(Bytes{'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0});
  EXPECT_EQ(gif.error, DecodeError::unsupported_format);
  EXPECT_NE(gif.message.find("GIF"), std::string::npos) << gif.message;
  EXPECT_NE(gif.message.find("<memory>"), std::string::npos) << gif.message;
}

TEST_F(ImageIoTest, DecompressionBombIsRejectedFromTheHeaderQuickly) {
  const Bytes bomb = png_bomb(50000, 50000);
  const auto start = std::chrono::steady_clock::now();
  const DecodeResult result = decode_image_file(write("bomb.png", bomb));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.error, DecodeError::too_many_pixels) << result.message;
  EXPECT_NE(result.message.find("50000x50000"), std::string::npos) << result.message;
  EXPECT_LT(elapsed, std::chrono::milliseconds(200));

  const ProbeResult probe = probe_image_bytes(bomb);  // probing is fine: no pixels
  ASSERT_TRUE(probe.ok()) << probe.message;
  EXPECT_EQ(probe.value->width, 50000);

  // Same for a JPEG whose frame header claims 60000x60000, and a custom limit.
  Bytes jpeg = encode_rgb(".jpg", solid(16, 16, cv::Scalar(0, 0, 0)));
  for (std::size_t i = 2; i + 8 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
      jpeg[i + 5] = 0xea, jpeg[i + 6] = 0x60, jpeg[i + 7] = 0xea, jpeg[i + 8] = 0x60;
      break;
    }
  }
  EXPECT_EQ(decode_image_bytes(jpeg).error, DecodeError::too_many_pixels);
  DecodeOptions tight;
  tight.max_pixels = 100;
  EXPECT_EQ(decode_image_bytes(encode_rgb(".png", solid(11, 10, cv::Scalar(0, 0, 0))), tight).error,
            DecodeError::too_many_pixels);
}

// One scan repeated makes a small file that libjpeg would decode for minutes
// (every repeat visits every block): refused after kMaxScans (500) scans, in
// a fraction of what decoding it would take, while an ordinary progressive
// JPEG decodes.
TEST_F(ImageIoTest, ProgressiveJpegWithEndlessScansIsRefusedQuickly) {
  const DecodeResult ordinary = decode_image_bytes(repeated_scan_jpeg(4000, 3000, 2));
  ASSERT_TRUE(ordinary.ok()) << ordinary.message;
  EXPECT_EQ(ordinary.value->image.width(), 4000);
  // 499 repeats of the AC scan: 500 scans, the most a file may have.
  const DecodeResult most = decode_image_bytes(repeated_scan_jpeg(320, 240, 500));
  EXPECT_TRUE(most.ok()) << most.message;

  const Bytes bomb = repeated_scan_jpeg(4000, 3000, 20000);
  EXPECT_LT(bomb.size(), 1'000'000u);
  const auto start = std::chrono::steady_clock::now();
  const DecodeResult refused = decode_image_bytes(bomb);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.error, DecodeError::corrupt);
  EXPECT_NE(refused.message.find("more than 500 scans"), std::string::npos) << refused.message;
  // 20,000 scans of a 12-MP image take ~28 s to decode on the development
  // machine (1.4 ms per scan); the first 500 take ~0.7 s.
  EXPECT_LT(seconds, 5.0);
  // Regions and reduced decodes go through the same reader.
  EXPECT_EQ(decode_image_region_bytes(bomb, cv::Rect(0, 0, 10, 10)).error, DecodeError::corrupt);
}

TEST_F(ImageIoTest, DirectoriesFifosAndMissingFilesAreNotPhotos) {
  fs::create_directories(dir_ / "x.jpg");
  const DecodeResult folder = decode_image_file(dir_ / "x.jpg");
  EXPECT_EQ(folder.error, DecodeError::not_a_file);
  EXPECT_NE(folder.message.find("directory"), std::string::npos) << folder.message;
  EXPECT_EQ(probe_image_file(dir_ / "x.jpg").error, DecodeError::not_a_file);

  ASSERT_EQ(::mkfifo((dir_ / "pipe.jpg").c_str(), 0600), 0);
  EXPECT_EQ(decode_image_file(dir_ / "pipe.jpg").error, DecodeError::not_a_file);  // no hang

  const DecodeResult missing = decode_image_file(dir_ / "gone.jpg");
  EXPECT_EQ(missing.error, DecodeError::not_found);
  EXPECT_NE(missing.message.find("gone.jpg"), std::string::npos);

  DecodeOptions small;
  small.max_file_bytes = 10;
  EXPECT_EQ(decode_image_file(write("big.png", png_bomb(1, 1)), small).error,
            DecodeError::file_too_large);
}

TEST_F(ImageIoTest, UnreadableFileIsReported) {
  const fs::path path = write("locked.jpg", encode_rgb(".jpg", solid(8, 8, cv::Scalar(1, 1, 1))));
  fs::permissions(path, fs::perms::none);
  // Root reads any file unless it gives up the capabilities that let it.
  const likeness::testing::NoPermissionOverride as_a_user;
  if (!likeness::testing::unreadable_here(path)) {
    GTEST_SKIP() << "running with privileges that ignore file permissions and cannot be "
                    "dropped; cannot make an unreadable file";
  }
  const DecodeResult result = decode_image_file(path);
  EXPECT_EQ(result.error, DecodeError::unreadable);
  EXPECT_NE(result.message.find("locked.jpg"), std::string::npos);
}

TEST_F(ImageIoTest, MutatedFilesNeverCrash) {
  const cv::Mat picture = textured(64, 48);
  std::mt19937 rng(99);
  int decoded = 0, failed = 0;
  for (const std::string ext : {".jpg", ".png", ".webp", ".bmp"}) {
    const Bytes original = encode_rgb(ext, picture);
    for (int round = 0; round < 150; ++round) {
      Bytes bytes = original;
      const int flips = 1 + round % 8;
      for (int i = 0; i < flips; ++i) {
        bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
      }
      if (round % 3 == 0) bytes.resize(rng() % bytes.size());
      const DecodeResult result = decode_image_bytes(bytes, {}, "mutant" + ext);
      if (result.ok()) {
        ++decoded;
        EXPECT_EQ(result.value->image.rgb.type(), CV_8UC3);
      } else {
        ++failed;
        EXPECT_FALSE(result.message.empty());
      }
      (void)probe_image_bytes(bytes);
    }
  }
  RecordProperty("decoded", decoded);
  RecordProperty("failed", failed);
}

// ------------------------------------------------ scaling and region crops --

TEST_F(ImageIoTest, LargeJpegIsDecodedAtReducedScale) {
  cv::Mat big = solid(4000, 3000, cv::Scalar(200, 200, 200));
  big(cv::Rect(2000, 1000, 400, 400)).setTo(cv::Scalar(255, 0, 0));
  const fs::path path = write("big.jpg", encode_rgb(".jpg", big, {cv::IMWRITE_JPEG_QUALITY, 90}));

  DecodeOptions options;
  options.min_long_side = 1000;
  auto start = std::chrono::steady_clock::now();
  const DecodeResult quarter = decode_image_file(path, options);
  const auto quarter_time = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(quarter.ok()) << quarter.message;
  EXPECT_EQ(quarter.value->image.width(), 1000);
  EXPECT_EQ(quarter.value->image.height(), 750);
  EXPECT_EQ(quarter.value->scale, 0.25);
  EXPECT_EQ(quarter.value->original_width, 4000);
  EXPECT_EQ(quarter.value->original_height, 3000);
  // The red square maps back to its original place through `scale`.
  EXPECT_TRUE(near_rgb(pixel(quarter, 550, 300), kRed, 10));
  EXPECT_EQ(550 / quarter.value->scale, 2200);

  options.min_long_side = 1001;
  const DecodeResult half = decode_image_file(path, options);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half.value->image.width(), 2000);
  EXPECT_EQ(half.value->scale, 0.5);

  options.min_long_side = 400;
  EXPECT_EQ(decode_image_file(path, options).value->scale, 0.125);

  start = std::chrono::steady_clock::now();
  const DecodeResult full = decode_image_file(path);
  const auto full_time = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full.value->image.width(), 4000);
  EXPECT_EQ(full.value->scale, 1.0);
  std::printf("4000x3000 JPEG: full decode %.1f ms, 1/4 decode %.1f ms\n",
              std::chrono::duration<double, std::milli>(full_time).count(),
              std::chrono::duration<double, std::milli>(quarter_time).count());

  // Other formats ignore min_long_side.
  options.min_long_side = 10;
  const DecodeResult png =
      decode_image_bytes(encode_rgb(".png", solid(100, 80, cv::Scalar(1, 1, 1))), options);
  EXPECT_EQ(png.value->scale, 1.0);
}

TEST_F(ImageIoTest, RegionDecodeMatchesCropOfFullDecode) {
  const cv::Mat picture = textured(1200, 900);
  const Bytes jpeg = encode_rgb(".jpg", picture, {cv::IMWRITE_JPEG_QUALITY, 92});
  for (int o : {1, 6, 3, 8, 5}) {
    SCOPED_TRACE("orientation " + std::to_string(o));
    const Bytes bytes = o == 1 ? jpeg : with_exif(jpeg, exif_tiff(o, o == 6));
    const DecodeResult full = decode_image_bytes(bytes);
    ASSERT_TRUE(full.ok());
    for (const cv::Rect& region :
         {cv::Rect(101, 53, 333, 257), cv::Rect(0, 0, 64, 64), cv::Rect(400, 300, 500, 500)}) {
      const DecodeResult crop = decode_image_region_bytes(bytes, region);
      ASSERT_TRUE(crop.ok()) << crop.message;
      const cv::Rect clipped =
          region & cv::Rect(0, 0, full.value->original_width, full.value->original_height);
      EXPECT_EQ(crop.value->region, clipped);
      EXPECT_EQ(crop.value->image.rgb.size(), clipped.size());
      EXPECT_EQ(crop.value->scale, 1.0);
      cv::Mat diff;
      cv::absdiff(crop.value->image.rgb, full.value->image.rgb(clipped), diff);
      double max_diff = 0;
      cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
      EXPECT_LE(max_diff, 2) << "region " << region;
    }
  }
  // Non-JPEG formats crop a full decode.
  const Bytes png = encode_rgb(".png", picture);
  const DecodeResult crop = decode_image_region_bytes(png, cv::Rect(10, 20, 30, 40));
  ASSERT_TRUE(crop.ok());
  EXPECT_EQ(cv::norm(crop.value->image.rgb, picture(cv::Rect(10, 20, 30, 40)), cv::NORM_INF), 0);
  // A rectangle entirely outside the photo is a caller bug.
  EXPECT_THROW(decode_image_region_bytes(png, cv::Rect(5000, 0, 10, 10)), UsageError);
}

TEST_F(ImageIoTest, SeveralRegionsInOnePassMatchSingleRegionDecodes) {
  const cv::Mat picture = textured(1200, 900);
  const Bytes jpeg = encode_rgb(".jpg", picture, {cv::IMWRITE_JPEG_QUALITY, 92});
  // Overlapping, side by side at the same rows, far apart vertically (rows
  // in between are skipped), at the bottom edge, and partly outside the photo
  // (all inside the 900x900 both orientations share).
  const std::vector<cv::Rect> regions{cv::Rect(101, 53, 333, 257), cv::Rect(300, 200, 200, 150),
                                      cv::Rect(700, 60, 120, 100), cv::Rect(40, 700, 90, 80),
                                      cv::Rect(780, 820, 100, 80), cv::Rect(850, -20, 200, 90)};
  for (int o : {1, 6, 3, 8}) {
    SCOPED_TRACE("orientation " + std::to_string(o));
    const Bytes bytes = o == 1 ? jpeg : with_exif(jpeg, exif_tiff(o, o == 6));
    const DecodeResult full = decode_image_bytes(bytes);
    ASSERT_TRUE(full.ok());
    const std::vector<DecodeResult> together = decode_image_regions_bytes(bytes, regions);
    ASSERT_EQ(together.size(), regions.size());
    for (std::size_t i = 0; i < regions.size(); ++i) {
      SCOPED_TRACE("region " + std::to_string(i));
      const DecodeResult alone = decode_image_region_bytes(bytes, regions[i]);
      ASSERT_TRUE(alone.ok());
      ASSERT_TRUE(together[i].ok()) << together[i].message;
      EXPECT_EQ(together[i].value->region, alone.value->region);
      EXPECT_EQ(together[i].value->scale, 1.0);
      EXPECT_EQ(together[i].value->original_width, full.value->original_width);
      ASSERT_EQ(together[i].value->image.rgb.size(), alone.value->region.size());
      EXPECT_LE(cv::norm(together[i].value->image.rgb, alone.value->image.rgb, cv::NORM_INF), 2);
      EXPECT_LE(cv::norm(together[i].value->image.rgb, full.value->image.rgb(alone.value->region),
                         cv::NORM_INF),
                2);
    }
  }
  // CMYK goes through the same row copy after conversion.
  cv::Mat inks(64, 96, CV_8UC4, cv::Scalar(0, 255, 255, 0));
  inks(cv::Rect(48, 0, 48, 64)).setTo(cv::Scalar(255, 0, 255, 0));
  const Bytes cmyk = cmyk_jpeg(inks, false);
  const std::vector<DecodeResult> parts =
      decode_image_regions_bytes(cmyk, {cv::Rect(0, 0, 40, 30), cv::Rect(56, 34, 40, 30)});
  const DecodeResult whole = decode_image_bytes(cmyk);
  ASSERT_TRUE(parts[0].ok() && parts[1].ok() && whole.ok());
  EXPECT_LE(cv::norm(parts[0].value->image.rgb, whole.value->image.rgb(cv::Rect(0, 0, 40, 30)),
                     cv::NORM_INF),
            2);
  EXPECT_LE(cv::norm(parts[1].value->image.rgb, whole.value->image.rgb(cv::Rect(56, 34, 40, 30)),
                     cv::NORM_INF),
            2);
  // Other formats: one decode, cropped per region, exact.
  const Bytes png = encode_rgb(".png", picture);
  const std::vector<DecodeResult> crops =
      decode_image_regions_bytes(png, {cv::Rect(10, 20, 30, 40), cv::Rect(500, 600, 70, 80)});
  ASSERT_TRUE(crops[0].ok() && crops[1].ok());
  EXPECT_EQ(cv::norm(crops[0].value->image.rgb, picture(cv::Rect(10, 20, 30, 40)), cv::NORM_INF),
            0);
  EXPECT_EQ(cv::norm(crops[1].value->image.rgb, picture(cv::Rect(500, 600, 70, 80)), cv::NORM_INF),
            0);
  // Errors are per call: a broken file fails every region; a rectangle
  // outside the photo is a caller bug; no rectangles, no work.
  const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 3));
  const std::vector<DecodeResult> broken =
      decode_image_regions_bytes(cut, {cv::Rect(0, 0, 10, 10), cv::Rect(0, 800, 10, 10)});
  ASSERT_EQ(broken.size(), 2u);
  EXPECT_EQ(broken[1].error, DecodeError::truncated);
  EXPECT_EQ(broken[0].error, broken[1].error);
  EXPECT_THROW(decode_image_regions_bytes(png, {cv::Rect(0, 0, 5, 5), cv::Rect(5000, 0, 10, 10)}),
               UsageError);
  EXPECT_TRUE(decode_image_regions_bytes(png, {}).empty());
}

// --------------------------------------------------------- real datasets --

TEST(ImageIoDatasetTest, DecodesRealPhotos) {
  LIKENESS_REQUIRE_DATASET("group_photos");
  int count = 0;
  for (const auto& entry :
       fs::directory_iterator(::likeness::testing::datasets_dir() / "group_photos")) {
    if (entry.path().extension() != ".jpg") continue;
    const DecodeResult result = decode_image_file(entry.path());
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_GT(result.value->image.width(), 100);
    const ProbeResult probe = probe_image_file(entry.path());
    ASSERT_TRUE(probe.ok()) << probe.message;
    EXPECT_EQ(probe.value->oriented_width(), result.value->image.width());
    EXPECT_EQ(probe.value->oriented_height(), result.value->image.height());
    ++count;
  }
  EXPECT_GT(count, 0);
}

TEST(ImageIoDatasetTest, DecodesLfwFaces) {
  LIKENESS_REQUIRE_DATASET("lfw/images");
  int count = 0;
  for (const auto& entry :
       fs::recursive_directory_iterator(::likeness::testing::datasets_dir() / "lfw/images")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".jpg") continue;
    const DecodeResult result = decode_image_file(entry.path());
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_GT(result.value->image.width(), 0);
    EXPECT_EQ(result.value->image.width(), probe_image_file(entry.path()).value->width);
    if (++count == 20) break;
  }
  EXPECT_EQ(count, 20);
}

}  // namespace
}  // namespace likeness::io
