// The in-memory picture every pipeline stage works on.
#pragma once

#include <opencv2/core/mat.hpp>

namespace likeness {

// A decoded picture: 8-bit, 3 channels, in R, G, B order.
//
// The order is RGB, not OpenCV's usual BGR, because the face models consume
// RGB and converting once at decode time is cheaper (and less error-prone)
// than remembering it at every call site. Code that hands the matrix to an
// OpenCV function that assumes BGR (cv::imwrite, cv::imshow) must convert
// with cv::cvtColor(..., cv::COLOR_RGB2BGR) first.
//
// Invariant (when not empty): rgb.type() == CV_8UC3. The matrix shares its
// buffer on copy, like every cv::Mat; call rgb.clone() for a deep copy.
// Thread-safety: like cv::Mat; concurrent reads are safe.
struct Image {
  cv::Mat rgb;

  int width() const { return rgb.cols; }   // pixels
  int height() const { return rgb.rows; }  // pixels
  bool empty() const { return rgb.empty(); }
};

}  // namespace likeness
