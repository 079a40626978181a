// fuzz_image: libFuzzer target for everything a hostile photo file reaches in
// likeness/io: format sniffing, the header parsers (probe), the JPEG, PNG,
// BMP and WEBP decoders through decode_image_bytes (full, DCT-scaled with
// damaged data accepted, and regions one at a time and several in one
// pass), EXIF orientation, and parse_exif on the raw bytes (so bare TIFF
// blocks are fuzzed too, not only those that a valid container carries).
//
// Besides crashes and sanitizer reports it checks the contracts of image.h,
// so a wrong answer also fails: an error has a kind and a message, a decoded
// image is 8-bit RGB of the size its header and scale promise, a photo that
// decodes also probes to the same format and size, a region decode is the
// requested rectangle clipped to the photo, and EXIF values are in range.
//
// Built with clang -fsanitize=fuzzer,address,undefined; likeness/io itself is
// compiled with -fsanitize=fuzzer-no-link,address,undefined (tests/fuzz/
// CMakeLists.txt). Seeds: likeness_fuzz_seeds image DIR. Run by ctest
// (fuzz.image, fuzz.image.regressions) through tests/fuzz/run_fuzzer.sh.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "likeness/io/exif.h"
#include "likeness/io/image.h"

namespace {

using namespace likeness::io;

// A broken contract is a crash, so that libFuzzer keeps the input.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "fuzz_image: contract broken: %s (%s:%d)\n", #condition, __FILE__, \
                   __LINE__);                                                                 \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "YYYY-MM-DDTHH:MM:SS", optionally followed by "+HH:MM" or "-HH:MM".
bool valid_capture_time(const std::string& text) {
  if (text.empty()) return true;
  if (text.size() != 19 && text.size() != 25) return false;
  const std::string pattern = "dddd-dd-ddTdd:dd:dd";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == 'd' ? !is_digit(text[i]) : text[i] != pattern[i]) return false;
  }
  if (text.size() == 25) {
    return (text[19] == '+' || text[19] == '-') && is_digit(text[20]) && is_digit(text[21]) &&
           text[22] == ':' && is_digit(text[23]) && is_digit(text[24]);
  }
  return true;
}

void check_failure(const DecodeResult& result) {
  FUZZ_CHECK(!result.value.has_value());
  FUZZ_CHECK(result.error != DecodeError::none);
  FUZZ_CHECK(!result.message.empty());
  // Bytes in memory cannot be missing, a directory, unreadable or too large.
  FUZZ_CHECK(result.error != DecodeError::not_found && result.error != DecodeError::not_a_file &&
             result.error != DecodeError::unreadable);
}

// image.h: image.width() == ceil(region.width * scale), same for height.
int scaled(int size, double scale) {
  const int denominator = static_cast<int>(1.0 / scale + 0.5);
  return (size + denominator - 1) / denominator;
}

void check_decoded(const DecodeResult& result, const ProbeResult& probe, bool oriented) {
  if (!result.ok()) {
    check_failure(result);
    return;
  }
  FUZZ_CHECK(result.error == DecodeError::none && result.message.empty());
  const DecodedImage& d = *result.value;
  FUZZ_CHECK(!d.image.empty());
  FUZZ_CHECK(d.image.rgb.type() == CV_8UC3);
  FUZZ_CHECK(d.format != ImageFormat::unknown);
  FUZZ_CHECK(d.original_width > 0 && d.original_height > 0);
  FUZZ_CHECK(d.scale == 1.0 || d.scale == 0.5 || d.scale == 0.25 || d.scale == 0.125);
  FUZZ_CHECK(d.image.width() == scaled(d.region.width, d.scale));
  FUZZ_CHECK(d.image.height() == scaled(d.region.height, d.scale));
  FUZZ_CHECK(d.exif_orientation >= 1 && d.exif_orientation <= 8);
  FUZZ_CHECK(d.orientation_applied == (oriented && d.exif_orientation != 1));
  FUZZ_CHECK(valid_capture_time(d.capture_time));
  // What decodes also probes, to the same header.
  FUZZ_CHECK(probe.ok());
  FUZZ_CHECK(probe.value->format == d.format);
  FUZZ_CHECK(probe.value->exif_orientation == d.exif_orientation);
  const int width = oriented ? probe.value->oriented_width() : probe.value->width;
  const int height = oriented ? probe.value->oriented_height() : probe.value->height;
  FUZZ_CHECK(d.original_width == width && d.original_height == height);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);

  const ExifInfo exif = parse_exif(bytes);
  FUZZ_CHECK(exif.orientation >= 1 && exif.orientation <= 8);
  FUZZ_CHECK(valid_capture_time(exif.capture_time));

  detect_format(bytes.first(std::min<std::size_t>(size, 64)));

  const ProbeResult probe = probe_image_bytes(bytes, "fuzz");
  if (probe.ok()) {
    FUZZ_CHECK(probe.value->format != ImageFormat::unknown);
    FUZZ_CHECK(probe.value->width > 0 && probe.value->height > 0);
    FUZZ_CHECK(probe.value->exif_orientation >= 1 && probe.value->exif_orientation <= 8);
    FUZZ_CHECK(valid_capture_time(probe.value->capture_time));
  } else {
    FUZZ_CHECK(probe.error != DecodeError::none && !probe.message.empty());
  }

  // A small pixel limit keeps each input fast and its memory bounded; the
  // limit check itself is part of what is fuzzed.
  DecodeOptions options;
  options.max_pixels = 4'000'000;
  const DecodeResult full = decode_image_bytes(bytes, options, "fuzz");
  check_decoded(full, probe, /*oriented=*/true);
  if (full.ok()) FUZZ_CHECK(full.value->scale == 1.0);

  DecodeOptions lenient = options;
  lenient.min_long_side = 8;
  lenient.accept_damaged = true;
  lenient.apply_exif_orientation = false;
  const DecodeResult reduced = decode_image_bytes(bytes, lenient, "fuzz");
  check_decoded(reduced, probe, /*oriented=*/false);
  // Accepting damage never turns a good photo into an error.
  if (full.ok()) FUZZ_CHECK(reduced.ok());

  if (full.ok()) {
    // The middle of the photo and a rectangle sticking out of its corner.
    const int w = full.value->original_width;
    const int h = full.value->original_height;
    const cv::Rect photo(0, 0, w, h);
    // One at a time, then together in one pass (with a third, overlapping
    // strip along the top), as the indexer asks for small faces.
    const std::vector<cv::Rect> asked{cv::Rect(w / 4, h / 4, w / 2 + 1, h / 2 + 1),
                                      cv::Rect(w - 1, h - 1, w + 5, h + 5),
                                      cv::Rect(0, 0, w, h / 3 + 1)};
    const std::vector<DecodeResult> together =
        decode_image_regions_bytes(bytes, asked, options, "fuzz");
    FUZZ_CHECK(together.size() == asked.size());
    for (std::size_t i = 0; i < asked.size(); ++i) {
      const DecodeResult alone = decode_image_region_bytes(bytes, asked[i], options, "fuzz");
      for (const DecodeResult* region : {&alone, &together[i]}) {
        check_decoded(*region, probe, /*oriented=*/true);
        if (!region->ok()) continue;
        FUZZ_CHECK(region->value->region == (asked[i] & photo));
        FUZZ_CHECK(region->value->image.width() == region->value->region.width);
        FUZZ_CHECK(region->value->image.height() == region->value->region.height);
      }
    }
  }
  return 0;
}
