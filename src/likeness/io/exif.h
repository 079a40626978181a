// The two EXIF fields Likeness uses: orientation and capture time.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace likeness::io {

struct ExifInfo {
  // EXIF Orientation (tag 0x0112), 1..8; 1 (= as stored) when absent or invalid.
  int orientation = 1;
  // DateTimeOriginal (tag 0x9003 in the Exif sub-IFD) as ISO 8601 local time
  // "YYYY-MM-DDTHH:MM:SS", followed by "+HH:MM"/"-HH:MM" when the photo also
  // carries OffsetTimeOriginal (tag 0x9011). Empty when absent or malformed
  // (cameras write "0000:00:00 00:00:00" or blanks when the clock is unset).
  std::string capture_time;
};

// Parses a TIFF-structured EXIF block: the payload of a JPEG APP1 segment
// after "Exif\0\0", a PNG eXIf chunk or a WEBP EXIF chunk. A leading
// "Exif\0\0" is skipped if present. Both byte orders ("II" and "MM") are read.
// Malformed or truncated data never fails: fields that cannot be read keep
// their defaults. Thread-safe.
ExifInfo parse_exif(std::span<const std::uint8_t> tiff);

}  // namespace likeness::io
