// Format detection and header parsing without decoding pixels. Written by
// hand (rather than through the codecs) so that the pixel limit can be
// enforced before any codec allocates memory, and so that probing costs a
// few KB of reading.
#include <algorithm>
#include <array>
#include <cstring>

#include "likeness/io/exif.h"
#include "likeness/io/file.h"
#include "likeness/io/image.h"
#include "likeness/io/image_internal.h"

namespace likeness::io {

std::string_view to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg:
      return "jpeg";
    case ImageFormat::png:
      return "png";
    case ImageFormat::bmp:
      return "bmp";
    case ImageFormat::webp:
      return "webp";
    case ImageFormat::unknown:
      break;
  }
  return "unknown";
}

std::string_view to_string(DecodeError error) {
  switch (error) {
    case DecodeError::none:
      return "none";
    case DecodeError::not_found:
      return "not_found";
    case DecodeError::not_a_file:
      return "not_a_file";
    case DecodeError::unreadable:
      return "unreadable";
    case DecodeError::file_too_large:
      return "file_too_large";
    case DecodeError::empty:
      return "empty";
    case DecodeError::unsupported_format:
      return "unsupported_format";
    case DecodeError::truncated:
      return "truncated";
    case DecodeError::corrupt:
      return "corrupt";
    case DecodeError::too_many_pixels:
      return "too_many_pixels";
  }
  return "unknown";
}

namespace {

using Bytes = std::span<const std::uint8_t>;
using detail::HeaderParse;
using detail::ParseStatus;

bool starts_with(Bytes data, std::size_t offset, std::string_view magic) {
  return data.size() >= offset + magic.size() &&
         std::memcmp(data.data() + offset, magic.data(), magic.size()) == 0;
}

// True when `data` is a proper prefix of `magic` (a file cut very short).
bool is_prefix_of(Bytes data, std::string_view magic) {
  return data.size() < magic.size() && std::memcmp(data.data(), magic.data(), data.size()) == 0;
}

std::uint32_t be16(Bytes d, std::size_t o) { return (std::uint32_t{d[o]} << 8) | d[o + 1]; }
std::uint32_t be32(Bytes d, std::size_t o) { return (be16(d, o) << 16) | be16(d, o + 2); }
std::uint32_t le16(Bytes d, std::size_t o) {
  return std::uint32_t{d[o]} | (std::uint32_t{d[o + 1]} << 8);
}
std::uint32_t le24(Bytes d, std::size_t o) { return le16(d, o) | (std::uint32_t{d[o + 2]} << 16); }
std::uint32_t le32(Bytes d, std::size_t o) { return le16(d, o) | (le16(d, o + 2) << 16); }

constexpr std::uint32_t kMaxDimension = 0x7fffffff;

bool plausible_bmp(Bytes data) {
  if (!starts_with(data, 0, "BM") || data.size() < 18) return false;
  const std::uint32_t dib = le32(data, 14);
  return dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
         dib == 124;
}

// Names formats we recognise but do not decode, for a helpful message.
std::string unsupported_name(Bytes data) {
  if (starts_with(data, 0, "GIF87a") || starts_with(data, 0, "GIF89a")) return "GIF";
  if (starts_with(data, 0, std::string_view("II*\0", 4)) ||
      starts_with(data, 0, std::string_view("MM\0*", 4))) {
    return "TIFF (or a TIFF-based camera RAW file)";
  }
  if (starts_with(data, 4, "ftyp")) {
    if (starts_with(data, 8, "avif") || starts_with(data, 8, "avis")) return "AVIF";
    if (starts_with(data, 8, "heic") || starts_with(data, 8, "heix") ||
        starts_with(data, 8, "hevc") || starts_with(data, 8, "heif") ||
        starts_with(data, 8, "mif1") || starts_with(data, 8, "msf1")) {
      return "HEIF/HEIC";
    }
    if (starts_with(data, 8, "crx ")) return "Canon CR3 RAW";
    return "an ISO media file (video?)";
  }
  if (starts_with(data, 0, std::string_view("\0\0\0\x0cjP  ", 8))) return "JPEG 2000";
  if (starts_with(data, 0, "\xff\x0a") ||
      starts_with(data, 0, std::string_view("\0\0\0\x0cJXL ", 8))) {
    return "JPEG XL";
  }
  if (starts_with(data, 0, "8BPS")) return "Photoshop PSD";
  if (starts_with(data, 0, "%PDF")) return "PDF";
  if (starts_with(data, 0, "RIFF")) return "a RIFF file that is not WEBP";
  return {};
}

HeaderParse need(std::size_t bytes, bool complete, const char* what) {
  HeaderParse out;
  if (complete) {
    out.status = ParseStatus::truncated;
    out.reason = std::string("file ends inside the ") + what;
  } else {
    out.status = ParseStatus::need_more;
    out.want_bytes = bytes;
  }
  return out;
}

HeaderParse fail(ParseStatus status, std::string reason) {
  HeaderParse out;
  out.status = status;
  out.reason = std::move(reason);
  return out;
}

HeaderParse ok(ImageFormat format, std::uint32_t width, std::uint32_t height) {
  HeaderParse out;
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension) {
    return fail(ParseStatus::corrupt, "header declares an impossible size " +
                                          std::to_string(width) + "x" + std::to_string(height));
  }
  out.status = ParseStatus::ok;
  out.header.format = format;
  out.header.width = static_cast<int>(width);
  out.header.height = static_cast<int>(height);
  return out;
}

void apply_exif(HeaderParse& parse, Bytes tiff) {
  const ExifInfo exif = parse_exif(tiff);
  parse.header.exif_orientation = exif.orientation;
  parse.header.capture_time = exif.capture_time;
}

// JPEG: walk the marker segments up to the frame header (SOFn), reading
// APP1 Exif on the way (EXIF always precedes the frame header).
HeaderParse parse_jpeg(Bytes d, bool complete) {
  std::size_t pos = 2;
  ExifInfo exif;
  for (;;) {
    if (pos >= d.size()) return need(pos + 4096, complete, "JPEG headers");
    if (d[pos] != 0xff) {
      return fail(ParseStatus::corrupt,
                  "JPEG marker expected at byte " + std::to_string(pos) + " (damaged headers)");
    }
    while (pos < d.size() && d[pos] == 0xff) ++pos;  // fill bytes
    if (pos >= d.size()) return need(pos + 4096, complete, "JPEG headers");
    const std::uint8_t marker = d[pos++];
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;  // no length
    if (marker == 0xd9) return fail(ParseStatus::corrupt, "JPEG ends before its frame header");
    if (marker == 0xda) return fail(ParseStatus::corrupt, "JPEG scan data before frame header");
    if (pos + 2 > d.size()) return need(pos + 4096, complete, "JPEG headers");
    const std::uint32_t length = be16(d, pos);
    if (length < 2) return fail(ParseStatus::corrupt, "JPEG segment with invalid length");
    const std::size_t body = pos + 2;
    const std::size_t end = pos + length;
    const bool is_sof =
        marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (is_sof) {
      if (body + 6 > d.size()) return need(body + 6, complete, "JPEG frame header");
      if (marker == 0xc3 || marker == 0xc7 || marker == 0xcb || marker == 0xcf) {
        return fail(ParseStatus::unsupported, "unsupported format (lossless JPEG)");
      }
      if (d[body] != 8) {
        return fail(ParseStatus::unsupported,
                    "unsupported format (" + std::to_string(d[body]) + "-bit JPEG)");
      }
      const std::uint32_t height = be16(d, body + 1);
      const std::uint32_t width = be16(d, body + 3);
      if (height == 0) {
        return fail(ParseStatus::unsupported, "unsupported format (JPEG with height in DNL)");
      }
      HeaderParse out = ok(ImageFormat::jpeg, width, height);
      out.header.exif_orientation = exif.orientation;
      out.header.capture_time = exif.capture_time;
      return out;
    }
    if (marker == 0xe1 && starts_with(d, body, std::string_view("Exif\0", 5))) {
      if (end > d.size()) return need(end + 4096, complete, "JPEG EXIF segment");
      exif = parse_exif(d.subspan(body, end - body));
    }
    pos = end;
  }
}

std::uint32_t crc32(Bytes data) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (std::uint8_t byte : data) c = table[(c ^ byte) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

// PNG: IHDR must come first; eXIf and acTL are read if they precede IDAT
// (where the PNG specification puts them).
HeaderParse parse_png(Bytes d, bool complete) {
  if (d.size() < 33) return need(4096, complete, "PNG header");
  if (be32(d, 8) != 13 || !starts_with(d, 12, "IHDR")) {
    return fail(ParseStatus::corrupt, "PNG does not start with an IHDR chunk");
  }
  if (crc32(d.subspan(12, 17)) != be32(d, 29)) {
    return fail(ParseStatus::corrupt, "PNG header checksum (IHDR CRC) mismatch");
  }
  HeaderParse out = ok(ImageFormat::png, be32(d, 16), be32(d, 20));
  if (out.status != ParseStatus::ok) return out;
  std::size_t pos = 33;
  for (;;) {
    if (pos + 8 > d.size()) {
      if (complete) return fail(ParseStatus::truncated, "PNG ends before its image data");
      HeaderParse more = need(pos + 65536, complete, "PNG chunks");
      return more;
    }
    const std::uint32_t length = be32(d, pos);
    if (starts_with(d, pos + 4, "IDAT") || starts_with(d, pos + 4, "IEND")) return out;
    if (starts_with(d, pos + 4, "acTL")) out.header.animated = true;
    const std::size_t end = pos + 12 + std::size_t{length};
    if (starts_with(d, pos + 4, "eXIf")) {
      if (end > d.size()) {
        if (complete) return fail(ParseStatus::truncated, "PNG ends inside its eXIf chunk");
        return need(end, complete, "PNG eXIf chunk");
      }
      apply_exif(out, d.subspan(pos + 8, length));
    }
    pos = end;
  }
}

HeaderParse parse_bmp(Bytes d, bool complete) {
  if (d.size() < 26) return need(4096, complete, "BMP header");
  const std::uint32_t dib = le32(d, 14);
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes
    return ok(ImageFormat::bmp, le16(d, 18), le16(d, 20));
  }
  if (d.size() < 54) return need(4096, complete, "BMP header");
  const auto width = static_cast<std::int32_t>(le32(d, 18));
  const auto height = static_cast<std::int32_t>(le32(d, 22));  // negative: top-down rows
  const std::uint32_t bits = le16(d, 28);
  const std::uint32_t compression = le32(d, 30);
  if (compression == 4 || compression == 5) {
    return fail(ParseStatus::unsupported, std::string("unsupported format (BMP with embedded ") +
                                              (compression == 4 ? "JPEG" : "PNG") + ")");
  }
  // OpenCV's BMP reader prints to stderr on headers it rejects; refuse them
  // here first.
  if (compression > 3 && compression != 6) {
    return fail(ParseStatus::unsupported,
                "unsupported format (BMP compression type " + std::to_string(compression) + ")");
  }
  const bool bits_ok = (compression == 0 && (bits == 1 || bits == 4 || bits == 8 || bits == 16 ||
                                             bits == 24 || bits == 32)) ||
                       (compression == 1 && bits == 8) || (compression == 2 && bits == 4) ||
                       ((compression == 3 || compression == 6) && (bits == 16 || bits == 32));
  if (!bits_ok) {
    return fail(ParseStatus::corrupt, "BMP header with an invalid bit depth (" +
                                          std::to_string(bits) + " bits, compression " +
                                          std::to_string(compression) + ")");
  }
  if (width <= 0 || height == 0 || height == INT32_MIN) {
    return fail(ParseStatus::corrupt, "BMP header declares an impossible size");
  }
  HeaderParse out = ok(ImageFormat::bmp, static_cast<std::uint32_t>(width),
                       static_cast<std::uint32_t>(height < 0 ? -height : height));
  // Uncompressed rows are padded to 4 bytes; a shorter file is truncated.
  if (compression == 0 || compression == 3 || compression == 6) {
    const std::uint64_t stride =
        (std::uint64_t{static_cast<std::uint32_t>(width)} * bits + 31) / 32 * 4;
    out.bmp_required_size =
        std::uint64_t{le32(d, 10)} +
        stride * std::uint64_t{out.header.height > 0 ? static_cast<std::uint32_t>(out.header.height)
                                                     : 0u};
  }
  return out;
}

// WEBP: the first chunk says simple lossy (VP8), lossless (VP8L) or extended
// (VP8X, which may announce EXIF and animation).
HeaderParse parse_webp(Bytes d, bool complete) {
  if (d.size() < 30) return need(4096, complete, "WEBP header");
  if (starts_with(d, 12, "VP8 ")) {
    if (d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a) {
      return fail(ParseStatus::corrupt, "WEBP VP8 frame without its start code");
    }
    return ok(ImageFormat::webp, le16(d, 26) & 0x3fff, le16(d, 28) & 0x3fff);
  }
  if (starts_with(d, 12, "VP8L")) {
    if (d[20] != 0x2f) return fail(ParseStatus::corrupt, "WEBP VP8L stream without signature");
    const std::uint32_t bits = le32(d, 21);
    return ok(ImageFormat::webp, (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
  }
  if (!starts_with(d, 12, "VP8X")) {
    return fail(ParseStatus::corrupt, "WEBP with an unknown first chunk");
  }
  const std::uint8_t flags = d[20];
  HeaderParse out = ok(ImageFormat::webp, le24(d, 24) + 1, le24(d, 27) + 1);
  out.header.animated = (flags & 0x02) != 0;
  if ((flags & 0x08) == 0) return out;  // no EXIF announced
  // The EXIF chunk usually follows the image data: walk the chunk list.
  std::size_t pos = 12;
  for (;;) {
    if (pos + 8 > d.size()) {
      // A missing EXIF chunk is not worth failing the probe over, but we need
      // the whole file to know it is missing.
      if (complete) return out;
      return need(d.size() * 2 + 65536, complete, "WEBP chunks");
    }
    const std::uint32_t length = le32(d, pos + 4);
    const std::size_t end = pos + 8 + std::size_t{length} + (length & 1);
    if (starts_with(d, pos, "EXIF")) {
      if (pos + 8 + std::size_t{length} > d.size()) {
        if (complete) return out;
        return need(end, complete, "WEBP EXIF chunk");
      }
      apply_exif(out, d.subspan(pos + 8, length));
      return out;
    }
    pos = end;
  }
}

}  // namespace

ImageFormat detect_format(std::span<const std::uint8_t> head) {
  if (starts_with(head, 0, "\xff\xd8\xff")) return ImageFormat::jpeg;
  if (starts_with(head, 0, "\x89PNG\r\n\x1a\n")) return ImageFormat::png;
  if (starts_with(head, 0, "RIFF") && starts_with(head, 8, "WEBP")) return ImageFormat::webp;
  if (plausible_bmp(head)) return ImageFormat::bmp;
  return ImageFormat::unknown;
}

namespace detail {

HeaderParse parse_header(std::span<const std::uint8_t> data, bool complete) {
  if (data.size() < 32 && !complete) return need(4096, complete, "header");
  switch (detect_format(data)) {
    case ImageFormat::jpeg:
      return parse_jpeg(data, complete);
    case ImageFormat::png:
      return parse_png(data, complete);
    case ImageFormat::bmp:
      return parse_bmp(data, complete);
    case ImageFormat::webp:
      return parse_webp(data, complete);
    case ImageFormat::unknown:
      break;
  }
  // A file cut within its first few bytes deserves "truncated" rather than
  // "unsupported".
  if (data.size() >= 2 && (is_prefix_of(data, "\xff\xd8\xff") ||
                           is_prefix_of(data, "\x89PNG\r\n\x1a\n") || is_prefix_of(data, "RIFF"))) {
    return fail(ParseStatus::truncated, "file ends inside its format signature");
  }
  const std::string name = unsupported_name(data);
  return fail(ParseStatus::unsupported,
              name.empty() ? "unsupported format (not JPEG, PNG, BMP or WEBP by content)"
                           : "unsupported format (" + name + ")");
}

}  // namespace detail

namespace {

DecodeError to_error(detail::ParseStatus status) {
  switch (status) {
    case detail::ParseStatus::unsupported:
      return DecodeError::unsupported_format;
    case detail::ParseStatus::corrupt:
      return DecodeError::corrupt;
    case detail::ParseStatus::truncated:
    case detail::ParseStatus::need_more:
      return DecodeError::truncated;
    case detail::ParseStatus::ok:
      break;
  }
  return DecodeError::none;
}

ProbeResult probe_failure(DecodeError error, std::string message) {
  ProbeResult out;
  out.error = error;
  out.message = std::move(message);
  return out;
}

}  // namespace

namespace detail {

DecodeError from_file_error(FileError error) {
  switch (error) {
    case FileError::not_found:
      return DecodeError::not_found;
    case FileError::not_a_file:
      return DecodeError::not_a_file;
    case FileError::too_large:
      return DecodeError::file_too_large;
    case FileError::unreadable:
    case FileError::none:
      break;
  }
  return DecodeError::unreadable;
}

}  // namespace detail

ProbeResult probe_image_bytes(std::span<const std::uint8_t> bytes,
                              std::string_view name_for_messages) {
  const std::string name = name_for_messages.empty() ? "<memory>" : std::string(name_for_messages);
  if (bytes.empty()) return probe_failure(DecodeError::empty, name + ": empty file (0 bytes)");
  detail::HeaderParse parse = detail::parse_header(bytes, /*complete=*/true);
  if (parse.status != detail::ParseStatus::ok) {
    return probe_failure(to_error(parse.status), name + ": " + parse.reason);
  }
  ProbeResult out;
  out.value = std::move(parse.header);
  return out;
}

ProbeResult probe_image_file(const std::filesystem::path& path) {
  std::size_t want = 64 * 1024;
  for (;;) {
    FileBytes file = read_file_prefix(path, want);
    if (!file.ok()) return probe_failure(detail::from_file_error(file.error), file.message);
    if (file.bytes.empty()) {
      return probe_failure(DecodeError::empty, path.string() + ": empty file (0 bytes)");
    }
    detail::HeaderParse parse = detail::parse_header(file.bytes, file.whole_file);
    if (parse.status == detail::ParseStatus::need_more) {
      // Grow geometrically so that a header deep in the file costs few reads.
      want = std::max(parse.want_bytes, want * 4);
      continue;
    }
    if (parse.status != detail::ParseStatus::ok) {
      return probe_failure(to_error(parse.status), path.string() + ": " + parse.reason);
    }
    ProbeResult out;
    out.value = std::move(parse.header);
    return out;
  }
}

}  // namespace likeness::io
