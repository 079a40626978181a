// Inputs a photo folder really holds and a photo loader must survive, made at
// run time (OpenCV, libjpeg and libpng writers, or bytes written by hand): no
// image file lives in the repository.
//
// Single files (for the io/ tests) and a whole corpus: a folder of bad inputs
// mixed with good photos (for the indexer and the CLI), each file with the
// outcome the library must record for it. The good photos of the corpus are
// LFW photos (read from ../shared/datasets at run time) stored in every
// unusual way a photo can be stored (CMYK, 16-bit, palette with alpha, an
// animation, a name that is not UTF-8...).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace likeness::testing {

using Bytes = std::vector<std::uint8_t>;

// ------------------------------------------------------------ single files --

// Encodes an RGB (or RGBA, or gray) matrix with OpenCV, which expects BGR.
// `ext` is ".jpg", ".png", ".webp", ".bmp". A 16-bit matrix gives a 16-bit PNG.
Bytes encode_rgb(const std::string& ext, const cv::Mat& rgb, const std::vector<int>& params = {});

// JPEG in CMYK (or YCCK) through libjpeg; `stored` is CV_8UC4 with C, M, Y, K
// as written to the file (libjpeg adds the Adobe APP14 marker, so 255 = no ink).
Bytes cmyk_jpeg(const cv::Mat& stored, bool ycck);

// A valid grey progressive JPEG of width x height (a DC scan and one AC scan)
// whose AC scan is then repeated until the file holds `scans` scans: libjpeg
// decodes every repeat over the whole image, and an EOB run makes each repeat
// a few dozen bytes (the "many scans" decoding-time bomb). With scans = 2 it
// is an ordinary progressive JPEG.
Bytes repeated_scan_jpeg(int width, int height, int scans);

// The Adobe CMYK values (CV_8UC4, inverted inks, black taken out) that show
// as `rgb` (CV_8UC3).
cv::Mat adobe_cmyk_of(const cv::Mat& rgb);

// PNG through libpng's simplified writer: `format` is a PNG_FORMAT_* value,
// `colormap` holds `colormap_entries` entries for the *_COLORMAP formats.
Bytes simple_png(int width, int height, std::uint32_t format,
                 const std::vector<std::uint8_t>& pixels,
                 const std::vector<std::uint8_t>& colormap = {}, int colormap_entries = 0);

// An 8-bit palette PNG with transparency (tRNS) of `rgb`: colours reduced to a
// 6x7x6 cube, and a fully transparent frame `border` pixels wide.
Bytes palette_png_with_alpha(const cv::Mat& rgb, int border);

// A PNG whose (valid, CRC-correct) header claims width x height, followed by
// a token IDAT: decoding it for real would need width*height*3 bytes.
Bytes png_bomb(std::uint32_t width, std::uint32_t height);

// A genuine lossless WEBP (VP8L) of width x height pixels (each at most
// 16384), every pixel `argb` (A, R, G, B): with one-symbol prefix codes a
// pixel costs zero bits, so any size is a few dozen bytes, and libwebp would
// really decode it (to width*height*4 bytes).
Bytes uniform_lossless_webp(std::uint32_t width, std::uint32_t height,
                            std::array<std::uint8_t, 4> argb);

// An animated WEBP (RIFF, VP8X, ANIM, one ANMF per frame, written by hand)
// whose frames are the RGB matrices given (same size), each lossy-encoded by
// OpenCV, 100 ms each, no blending.
Bytes animated_webp(const std::vector<cv::Mat>& frames_rgb);

// An extended WEBP (VP8X) that declares a canvas of canvas_width x
// canvas_height around the image of `simple_webp` (a file with one VP8 or
// VP8L chunk, of image_width x image_height): as its still image, or as the
// one frame of an animation. For headers that disagree with the image.
Bytes webp_with_canvas(const Bytes& simple_webp, std::uint32_t image_width,
                       std::uint32_t image_height, std::uint32_t canvas_width,
                       std::uint32_t canvas_height, bool animated);

// `size` random bytes whose first byte starts no image format.
Bytes random_bytes(std::size_t size, unsigned seed);

// The CRC-32 of PNG chunks (and zip): for hand-made chunks.
std::uint32_t crc32(const std::uint8_t* data, std::size_t n);

Bytes read_file(const std::filesystem::path& file);
// Creates the parent folders; overwrites.
void write_file(const std::filesystem::path& file, const Bytes& bytes);

// ----------------------------------------------------------------- corpus --

struct CorpusFile {
  std::string what;            // the case, for messages: "CMYK JPEG", "symlink loop"...
  std::filesystem::path path;  // as created (under the corpus folder)
  // Empty for a photo that must be indexed; otherwise the reason the index
  // must record ("truncated", "too_many_pixels", ...).
  std::string reason;
  bool has_face = false;  // a photo that must be indexed with one face
};

struct Corpus {
  std::filesystem::path folder;
  std::vector<CorpusFile> files;  // every file the index must record, good or bad
  std::size_t other_files = 0;    // files with no photo's name, left alone
  // A file whose permissions are 000, in `files` with reason "unreadable":
  // only unreadable where permissions apply (see NoPermissionOverride).
  std::filesystem::path unreadable;
};

// LFW photos with one face each (12 of them), or an empty list when LFW is
// not under `datasets_dir`.
std::vector<std::filesystem::path> corpus_face_photos(const std::filesystem::path& datasets_dir);

// Writes the corpus into `folder` (created): good photos made from
// `face_photos` (at least 12), and every bad input. Among them:
//  - good: plain JPEGs (.jpg, .jpeg, .JPG), one inside a folder named
//    "album.jpg", one whose name is not UTF-8, a PNG named .jpg, a CMYK JPEG,
//    a 16-bit PNG, a palette PNG with alpha, an animated WEBP whose first
//    frame has the face (the second is blank: the first frame is indexed);
//  - bad: a truncated JPEG, a zero-byte file, random bytes named .jpg, a text
//    file named .png, random bytes with a name that is not UTF-8, a PNG
//    claiming 50000x50000 pixels, a genuine WEBP of 16383x16383 (the
//    format's maximum), a FIFO named .jpg, two photo-named symlinks pointing
//    at each other, an unreadable (chmod 000) photo;
//  - left alone: a text file, a folder symlink to the folder itself and one
//    to its parent, two folder-named symlinks pointing at each other.
// Throws std::runtime_error when a file cannot be made.
Corpus write_bad_inputs_corpus(const std::filesystem::path& folder,
                               const std::vector<std::filesystem::path>& face_photos);

// For its lifetime, the calling thread (and the threads it starts) lose the
// capabilities that let root read any file (CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH), so that a chmod 000 file is unreadable even to root,
// as it is to everyone else. Nothing happens for a process without them.
class NoPermissionOverride {
 public:
  NoPermissionOverride();
  ~NoPermissionOverride();
  NoPermissionOverride(const NoPermissionOverride&) = delete;
  NoPermissionOverride& operator=(const NoPermissionOverride&) = delete;

 private:
  bool dropped_ = false;
  std::array<std::uint32_t, 2> saved_effective_{};
};

// True when the calling thread cannot open `file` for reading.
bool unreadable_here(const std::filesystem::path& file);

}  // namespace likeness::testing
