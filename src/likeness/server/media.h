// The pictures the server sends: a library photo scaled to fit a long side,
// and a square crop of a face with a margin, both as JPEG bytes. Big JPEGs are
// decoded at a DCT scale close to the size asked for (cheap), and a crop
// decodes only the rows around the face.
//
// Errors: problems with the file (vanished, truncated, ...) are values
// (RenderedImage::error and message), never exceptions.
// Thread-safety: every function may run concurrently (no shared state).
#pragma once

#include <optional>
#include <string>

#include "likeness/io/image.h"
#include "likeness/store/catalog.h"

namespace likeness::server {

struct RenderOptions {
  int jpeg_quality = 85;
  // A face crop shows this many times the face box's larger side, so that
  // the hair and chin are in the picture.
  float crop_margin = 1.6f;
};

struct RenderedImage {
  std::optional<std::string> jpeg;  // the bytes when the photo could be decoded
  int width = 0, height = 0;        // of the JPEG (pixels)
  io::DecodeError error = io::DecodeError::none;
  std::string message;  // names the file when error is set
  bool ok() const { return jpeg.has_value(); }
};

// The photo (EXIF-oriented), scaled down so that its long side is at most
// max_long_side pixels (never scaled up).
RenderedImage render_photo(const std::string& path, int max_long_side,
                           const RenderOptions& options = {});

// A size x size crop centred on the face box (photo pixels, oriented), with
// the margin of RenderOptions, shifted to stay inside the photo.
RenderedImage render_face_crop(const std::string& path, const store::FaceBox& box, int size,
                               const RenderOptions& options = {});

}  // namespace likeness::server
