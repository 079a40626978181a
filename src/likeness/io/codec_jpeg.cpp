// JPEG through libjpeg(-turbo) directly rather than cv::imdecode, because we
// need what OpenCV hides: libjpeg's warnings (a truncated JPEG otherwise
// decodes "successfully" with a grey bottom), DCT scaling to any of 1/2, 1/4,
// 1/8, decoding only a region (jpeg_crop_scanline / jpeg_skip_scanlines),
// and no messages printed on stderr.

#include <algorithm>
#include <csetjmp>
#include <new>
// clang-format off
// Order matters: jpeglib.h needs FILE and size_t, and jerror.h's list of
// codes depends on the configuration that jpeglib.h pulls in.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "likeness/io/image_internal.h"

namespace likeness::io::detail {

namespace {

// Everything the decoding function produces lives here, outside the frame
// that calls setjmp, so that a longjmp from libjpeg never skips a destructor.
struct JpegJob {
  std::span<const std::uint8_t> data;
  CodecRequest request;

  cv::Mat out;  // the whole image, when no regions are asked for
  cv::Rect covers;
  std::vector<cv::Mat> regions;       // one per CodecRequest::stored_regions
  std::vector<std::uint8_t> row;      // one decoded row when it cannot go to `out` directly
  std::vector<std::uint8_t> rgb_row;  // the row converted from CMYK (regions only)
  // The regions' rows as disjoint [top, bottom) ranges, top to bottom.
  std::vector<std::pair<int, int>> bands;
  bool scanning = false;   // jpeg_start_decompress has returned
  bool rows_done = false;  // every requested row has been read
  bool fatal = false;
  bool unsupported = false;
  bool out_of_memory = false;
  bool hit_eof = false;         // data ended before the image was complete
  bool damaged = false;         // libjpeg found corrupt entropy-coded data
  bool too_many_scans = false;  // more than kMaxScans: refused
  std::string fatal_message;
  std::string damage_message;
  std::vector<std::string> warnings;
};

// A progressive JPEG is read scan by scan, and every scan visits every block
// of the image however few bytes it takes: one scan repeated (an EOB run
// covers a whole 12-MP image in a few bytes) makes a 75-KB file with 2,000
// scans that takes 2.8 s to decode, and a few MB would take minutes. Real
// encoders write about 10-20 scans; libjpeg-turbo's own tools use this limit.
constexpr int kMaxScans = 500;

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts jpeg_error_mgr* to ErrorManager*
  std::jmp_buf jump;
  JpegJob* job;
};

ErrorManager* manager(j_common_ptr cinfo) { return reinterpret_cast<ErrorManager*>(cinfo->err); }

std::string format_message(j_common_ptr cinfo) {
  char text[JMSG_LENGTH_MAX] = {};
  (*cinfo->err->format_message)(cinfo, text);
  return text;
}

void record_fatal(j_common_ptr cinfo) {
  JpegJob& job = *manager(cinfo)->job;
  job.fatal = true;
  job.fatal_message = format_message(cinfo);
  const int code = cinfo->err->msg_code;
  job.unsupported = code == JERR_BAD_PRECISION || code == JERR_NOT_COMPILED ||
                    code == JERR_NOTIMPL || code == JERR_CONVERSION_NOTIMPL ||
                    code == JERR_ARITH_NOTIMPL;
  job.out_of_memory = code == JERR_OUT_OF_MEMORY;
}

[[noreturn]] void on_error_exit(j_common_ptr cinfo) {
  record_fatal(cinfo);  // returns before the jump: no string is alive across it
  std::longjmp(manager(cinfo)->jump, 1);
}

// Warnings that mean the entropy-coded data is broken: the affected blocks
// come out grey or smeared.
bool is_damage(int code) {
#if defined(D_ARITH_CODING_SUPPORTED) || JPEG_LIB_VERSION >= 70
  if (code == JWRN_ARITH_BAD_CODE) return true;
#endif
  return code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC;
}

// True while libjpeg decodes the image's last row of MCUs (single-scan
// files; a progressive file is read whole before scanning starts).
bool in_last_mcu_row(j_common_ptr common) {
  if (!manager(common)->job->scanning) return false;
  const auto* cinfo = reinterpret_cast<j_decompress_ptr>(common);
  return cinfo->input_iMCU_row + 1 >= cinfo->total_iMCU_rows;
}

void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  JpegJob& job = *manager(cinfo)->job;
  const int code = cinfo->err->msg_code;
  std::string text = format_message(cinfo);
  if (code == JWRN_JPEG_EOF) {
    // libjpeg pads a short file with a fake end marker and goes on with grey
    // pixels. Once every row we wanted is out, a missing end marker is harmless.
    // A file that lacks only its end marker also runs dry while the last
    // MCU row is decoded (the bit reader reads ahead), so EOF there counts
    // as a missing marker, not as truncation. (A file cut inside its last
    // MCU row, at most 16 pixel rows, is therefore also accepted, with
    // this warning.)
    if (job.rows_done || in_last_mcu_row(cinfo)) {
      job.warnings.push_back("JPEG lacks its end-of-image marker");
    } else {
      job.hit_eof = true;
    }
    return;
  }
  if (is_damage(code)) {
    if (!job.damaged) job.damage_message = text;
    job.damaged = true;
    return;
  }
  // Other warnings (extraneous bytes, bogus ICC profile...) leave a usable
  // image; keep a few for the caller.
  if (job.warnings.size() < 4) job.warnings.push_back("libjpeg: " + text);
}

void on_output_message(j_common_ptr) {}  // never print to stderr

// libjpeg calls this between the steps of reading each scan (only ever with
// our decompressor).
void on_progress(j_common_ptr common) {
  if (reinterpret_cast<j_decompress_ptr>(common)->input_scan_number <= kMaxScans) return;
  manager(common)->job->too_many_scans = true;
  std::longjmp(manager(common)->jump, 1);
}

// CMYK as Photoshop writes it (Adobe APP14 marker) is stored inverted; plain
// CMYK is not.
void cmyk_row_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, int width, bool inverted) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const int k = inverted ? cmyk[3] : 255 - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const int ink = inverted ? cmyk[c] : 255 - cmyk[c];
      rgb[c] = static_cast<std::uint8_t>((ink * k + 127) / 255);
    }
  }
}

// Returns false when libjpeg failed (details in job). Only trivially
// destructible objects live in this frame.
bool run(JpegJob& job) {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors{};
  cinfo.err = jpeg_std_error(&errors.pub);
  errors.pub.error_exit = on_error_exit;
  errors.pub.emit_message = on_emit_message;
  errors.pub.output_message = on_output_message;
  errors.job = &job;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);  // safe: it checks whether memory was set up
    return false;
  }
  jpeg_CreateDecompress(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
  jpeg_progress_mgr progress{};
  progress.progress_monitor = on_progress;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, job.data.data(), static_cast<unsigned long>(job.data.size()));
  jpeg_read_header(&cinfo, TRUE);

  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool inverted = cinfo.saw_Adobe_marker != 0;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGB;  // gray -> RGB is done by libjpeg
  const std::vector<cv::Rect>& regions = job.request.stored_regions;
  const bool cropping = !regions.empty();
  if (!cropping) {
    cinfo.scale_num = 1;
    cinfo.scale_denom = static_cast<unsigned int>(job.request.scale_denominator);
  }
  jpeg_start_decompress(&cinfo);
  const int components = cmyk ? 4 : 3;

  if (!cropping) {
    try {
      job.out.create(static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width),
                     CV_8UC3);
      job.row.resize(std::size_t{cinfo.output_width} * static_cast<std::size_t>(components));
    } catch (...) {  // std::bad_alloc or cv::Exception(out of memory)
      job.out_of_memory = true;
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    job.covers =
        cv::Rect(0, 0, static_cast<int>(cinfo.image_width), static_cast<int>(cinfo.image_height));
    job.scanning = true;
    for (JDIMENSION y = 0; y < cinfo.output_height; ++y) {
      std::uint8_t* target = job.out.ptr<std::uint8_t>(static_cast<int>(y));
      JSAMPROW row = cmyk ? job.row.data() : target;
      if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;  // cannot happen with a memory source
      if (cmyk)
        cmyk_row_to_rgb(job.row.data(), target, static_cast<int>(cinfo.output_width), inverted);
    }
  } else {
    // All regions in one pass: the entropy-coded data is read once, down to
    // the lowest region, however many regions there are. The decoded columns
    // are the regions' union plus one MCU (at most 16 pixels) on each side:
    // chroma upsampling at the window's edge lacks its neighbour and would
    // differ from a full decode. jpeg_crop_scanline widens the window further
    // to whole MCU columns. Rows no region needs are skipped (no IDCT).
    int left = static_cast<int>(cinfo.output_width), right = 0;
    for (const cv::Rect& r : regions) {
      left = std::min(left, r.x);
      right = std::max(right, r.x + r.width);
    }
    left = std::max(0, left - 16);
    right = std::min(static_cast<int>(cinfo.output_width), right + 16);
    JDIMENSION x_start = static_cast<JDIMENSION>(left);
    JDIMENSION out_width = static_cast<JDIMENSION>(right - left);
    if (out_width < cinfo.output_width) {
      jpeg_crop_scanline(&cinfo, &x_start, &out_width);
    } else {
      x_start = 0;
      out_width = cinfo.output_width;
    }
    try {
      job.regions.reserve(regions.size());
      for (const cv::Rect& r : regions) job.regions.emplace_back(r.height, r.width, CV_8UC3);
      job.row.resize(std::size_t{out_width} * static_cast<std::size_t>(components));
      if (cmyk) job.rgb_row.resize(std::size_t{out_width} * 3);
    } catch (...) {
      job.out_of_memory = true;
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    job.scanning = true;
    for (const auto& [top, bottom] : job.bands) {
      if (static_cast<JDIMENSION>(top) > cinfo.output_scanline) {
        jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(top) - cinfo.output_scanline);
      }
      for (int y = top; y < bottom; ++y) {
        JSAMPROW row = job.row.data();
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;  // cannot happen with a memory source
        const std::uint8_t* rgb = job.row.data();
        if (cmyk) {
          cmyk_row_to_rgb(job.row.data(), job.rgb_row.data(), static_cast<int>(out_width),
                          inverted);
          rgb = job.rgb_row.data();
        }
        for (std::size_t i = 0; i < regions.size(); ++i) {
          const cv::Rect& r = regions[i];
          if (y < r.y || y >= r.y + r.height) continue;
          const std::uint8_t* src =
              rgb + std::size_t{3} * static_cast<std::size_t>(r.x - static_cast<int>(x_start));
          std::copy(src, src + std::size_t{3} * static_cast<std::size_t>(r.width),
                    job.regions[i].ptr<std::uint8_t>(y - r.y));
        }
      }
    }
  }
  job.rows_done = true;
  if (cropping || cinfo.output_scanline < cinfo.output_height) {
    jpeg_abort_decompress(&cinfo);  // the rest of the file is not needed
  } else {
    jpeg_finish_decompress(&cinfo);
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

CodecOutput decode_jpeg(std::span<const std::uint8_t> data, const ImageHeader& header,
                        const CodecRequest& request) {
  (void)header;
  JpegJob job;
  job.data = data;
  job.request = request;
  std::vector<std::pair<int, int>> rows;
  for (const cv::Rect& r : request.stored_regions) rows.emplace_back(r.y, r.y + r.height);
  std::sort(rows.begin(), rows.end());
  for (const auto& band : rows) {
    if (!job.bands.empty() && band.first <= job.bands.back().second) {
      job.bands.back().second = std::max(job.bands.back().second, band.second);
    } else {
      job.bands.push_back(band);
    }
  }
  const bool finished = run(job);

  CodecOutput out;
  out.warnings = std::move(job.warnings);
  if (!finished) {
    if (job.too_many_scans) {
      out.error = DecodeError::corrupt;
      out.reason = "progressive JPEG with more than " + std::to_string(kMaxScans) +
                   " scans (real encoders write about 10-20; decoding it could take minutes)";
    } else if (job.out_of_memory) {
      out.error = DecodeError::too_many_pixels;
      out.reason = "out of memory while decoding the JPEG";
    } else if (job.hit_eof) {
      out.error = DecodeError::truncated;
      out.reason = "truncated JPEG (data ends early): " + job.fatal_message;
    } else if (job.unsupported) {
      out.error = DecodeError::unsupported_format;
      out.reason = "unsupported JPEG variant: " + job.fatal_message;
    } else {
      out.error = DecodeError::corrupt;
      out.reason = "corrupt JPEG: " + job.fatal_message;
    }
    return out;
  }
  if (job.hit_eof || job.damaged) {
    const std::string what = job.hit_eof ? "truncated JPEG (data ends before the last row)"
                                         : "corrupt JPEG data (" + job.damage_message + ")";
    if (!request.accept_damaged) {
      out.error = job.hit_eof ? DecodeError::truncated : DecodeError::corrupt;
      out.reason = what;
      return out;
    }
    out.warnings.insert(out.warnings.begin(), what + "; the damaged part is grey");
  }
  out.rgb = std::move(job.out);
  out.covers = job.covers;
  out.regions = std::move(job.regions);
  return out;
}

}  // namespace likeness::io::detail
