#include "likeness/io/exif.h"

#include <algorithm>
#include <optional>
#include <string_view>

namespace likeness::io {

namespace {

// Bounds-checked reads from a TIFF block in its own byte order.
class TiffReader {
 public:
  TiffReader(std::span<const std::uint8_t> data, bool little_endian)
      : data_(data), little_endian_(little_endian) {}

  std::optional<std::uint32_t> u16(std::size_t offset) const {
    if (offset > data_.size() || data_.size() - offset < 2) return std::nullopt;
    const std::uint32_t a = data_[offset];
    const std::uint32_t b = data_[offset + 1];
    return little_endian_ ? (a | (b << 8)) : ((a << 8) | b);
  }

  std::optional<std::uint32_t> u32(std::size_t offset) const {
    const auto lo = u16(offset + (little_endian_ ? 0 : 2));
    const auto hi = u16(offset + (little_endian_ ? 2 : 0));
    if (!lo || !hi) return std::nullopt;
    return *lo | (*hi << 16);
  }

  // The ASCII value of a 12-byte IFD entry (type 2), without trailing NULs.
  std::string ascii(std::size_t entry) const {
    const auto type = u16(entry + 2);
    const auto count = u32(entry + 4);
    if (!type || *type != 2 || !count || *count == 0 || *count > 64) return {};
    std::size_t offset = entry + 8;
    if (*count > 4) {
      const auto pointer = u32(entry + 8);
      if (!pointer) return {};
      offset = *pointer;
    }
    if (offset > data_.size() || data_.size() - offset < *count) return {};
    std::string text(reinterpret_cast<const char*>(data_.data() + offset), *count);
    while (!text.empty() && (text.back() == '\0' || text.back() == ' ')) text.pop_back();
    return text;
  }

  std::span<const std::uint8_t> data() const { return data_; }

 private:
  std::span<const std::uint8_t> data_;
  bool little_endian_;
};

bool is_digits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return !text.empty();
}

int to_int(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

// "2021:07:04 15:30:00" -> "2021-07-04T15:30:00"; empty when not a valid time.
std::string normalize_exif_time(std::string_view raw, std::string_view offset) {
  if (raw.size() < 19) return {};
  const std::string_view year = raw.substr(0, 4), month = raw.substr(5, 2), day = raw.substr(8, 2),
                         hour = raw.substr(11, 2), minute = raw.substr(14, 2),
                         second = raw.substr(17, 2);
  for (std::string_view part : {year, month, day, hour, minute, second}) {
    if (!is_digits(part)) return {};
  }
  if (to_int(year) == 0 || to_int(month) < 1 || to_int(month) > 12 || to_int(day) < 1 ||
      to_int(day) > 31 || to_int(hour) > 23 || to_int(minute) > 59 || to_int(second) > 60) {
    return {};
  }
  std::string out;
  out.append(year).append("-").append(month).append("-").append(day).append("T");
  out.append(hour).append(":").append(minute).append(":").append(second);
  // OffsetTimeOriginal is "+HH:MM" or "-HH:MM".
  if (offset.size() == 6 && (offset[0] == '+' || offset[0] == '-') &&
      is_digits(offset.substr(1, 2)) && offset[3] == ':' && is_digits(offset.substr(4, 2))) {
    out.append(offset);
  }
  return out;
}

constexpr std::uint32_t kTagOrientation = 0x0112;
constexpr std::uint32_t kTagExifIfd = 0x8769;
constexpr std::uint32_t kTagDateTimeOriginal = 0x9003;
constexpr std::uint32_t kTagOffsetTimeOriginal = 0x9011;

}  // namespace

ExifInfo parse_exif(std::span<const std::uint8_t> tiff) {
  ExifInfo info;
  static constexpr std::uint8_t kExifPrefix[] = {'E', 'x', 'i', 'f', 0, 0};
  if (tiff.size() >= 6 && std::equal(tiff.begin(), tiff.begin() + 6, kExifPrefix)) {
    tiff = tiff.subspan(6);
  }
  if (tiff.size() < 8) return info;
  bool little_endian = false;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    little_endian = true;
  } else if (!(tiff[0] == 'M' && tiff[1] == 'M')) {
    return info;
  }
  const TiffReader reader(tiff, little_endian);
  if (reader.u16(2) != 42u) return info;

  // Walks one IFD and calls visit(tag, entry_offset) for each entry that fits.
  auto walk = [&](std::uint32_t ifd, auto&& visit) {
    const auto count = reader.u16(ifd);
    if (!count) return;
    for (std::uint32_t i = 0; i < *count; ++i) {
      const std::size_t entry = std::size_t{ifd} + 2 + std::size_t{12} * i;
      const auto tag = reader.u16(entry);
      if (!tag || entry + 12 > tiff.size()) return;
      visit(*tag, entry);
    }
  };

  std::optional<std::uint32_t> exif_ifd;
  if (const auto ifd0 = reader.u32(4)) {
    walk(*ifd0, [&](std::uint32_t tag, std::size_t entry) {
      if (tag == kTagOrientation && reader.u16(entry + 2) == 3u) {
        const auto value = reader.u16(entry + 8);
        if (value && *value >= 1 && *value <= 8) info.orientation = static_cast<int>(*value);
      } else if (tag == kTagExifIfd) {
        exif_ifd = reader.u32(entry + 8);
      }
    });
  }
  if (exif_ifd) {
    std::string original, offset;
    walk(*exif_ifd, [&](std::uint32_t tag, std::size_t entry) {
      if (tag == kTagDateTimeOriginal) original = reader.ascii(entry);
      if (tag == kTagOffsetTimeOriginal) offset = reader.ascii(entry);
    });
    info.capture_time = normalize_exif_time(original, offset);
  }
  return info;
}

}  // namespace likeness::io
