// dlib's ResNet-29 face recognition model ("dlib_face_recognition_resnet_model_v1").
//
// It is fed dlib's own face chip: the 5-point shape predictor on the detected
// box, then get_face_chip_details(shape, 150, 0.25). That chip is the one the
// network was trained on; an ArcFace-style template would be a guess.
#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/opencv/cv_image.h>

#include <cmath>
#include <mutex>

#include "likeness/core/error.h"
#include "likeness/embed/backends.h"

namespace likeness::embed::internal {
namespace {

// The network definition of dlib's dnn_face_recognition_ex.cpp (a ResNet with
// 29 conv layers); the .dat file holds its weights and must match it exactly.
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = dlib::add_prev2<
    dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block =
    BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET>
using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET>
using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET>
using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET>
using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET>
using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET>
using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using anet_type = dlib::loss_metric<dlib::fc_no_bias<
    128, dlib::avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<dlib::max_pool<
             3, 3, 2, 2,
             dlib::relu<dlib::affine<
                 dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

constexpr unsigned long kChipSize = 150;
constexpr double kChipPadding = 0.25;

class DlibEmbedder final : public Embedder {
 public:
  DlibEmbedder(const infer::ModelStore& store, const EmbedderOptions& options) {
    const auto net_file = store.require("dlib_resnet");
    const auto shape_file = store.require("dlib_landmarks_5");
    try {
      dlib::deserialize(net_file.string()) >> net_;
      dlib::deserialize(shape_file.string()) >> shape_;
    } catch (const std::exception& e) {
      throw ModelError("cannot load dlib model " + net_file.string() + " or " +
                       shape_file.string() + ": " + e.what() + "; " + infer::repair_hint());
    }
    flip_tta_ = options.flip_tta.value_or(defaults_for("dlib_resnet").flip_tta);
  }

  std::string_view name() const override { return "dlib_resnet"; }
  int dimension() const override { return 128; }
  bool flip_tta() const override { return flip_tta_; }

 protected:
  std::optional<Image> crop(const Image& image, const detect::Detection& face) const override {
    if (image.empty() || !(face.box.width > 1.0f) || !(face.box.height > 1.0f)) {
      return std::nullopt;
    }
    const dlib::cv_image<dlib::rgb_pixel> view(image.rgb);
    const dlib::rectangle rect(std::lround(face.box.x), std::lround(face.box.y),
                               std::lround(face.box.x + face.box.width) - 1,
                               std::lround(face.box.y + face.box.height) - 1);
    // shape_predictor::operator() is const and keeps no state: safe to share.
    const dlib::full_object_detection shape = shape_(view, rect);
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(view, dlib::get_face_chip_details(shape, kChipSize, kChipPadding),
                             chip);
    Image out;
    out.rgb.create(static_cast<int>(chip.nr()), static_cast<int>(chip.nc()), CV_8UC3);
    for (long r = 0; r < chip.nr(); ++r) {
      auto* row = out.rgb.ptr<unsigned char>(static_cast<int>(r));
      for (long c = 0; c < chip.nc(); ++c) {
        const dlib::rgb_pixel& p = chip(r, c);
        row[3 * c] = p.red;
        row[3 * c + 1] = p.green;
        row[3 * c + 2] = p.blue;
      }
    }
    return out;
  }

  std::vector<std::vector<float>> infer(const std::vector<Image>& crops) const override {
    std::vector<dlib::matrix<dlib::rgb_pixel>> chips(crops.size());
    for (std::size_t k = 0; k < crops.size(); ++k) {
      dlib::assign_image(chips[k], dlib::cv_image<dlib::rgb_pixel>(crops[k].rgb));
    }
    std::vector<dlib::matrix<float, 0, 1>> descriptors;
    {
      // A dlib network keeps its activations inside: one forward pass at a time.
      std::lock_guard lock(mutex_);
      descriptors = net_(chips);
    }
    std::vector<std::vector<float>> out(descriptors.size());
    for (std::size_t k = 0; k < descriptors.size(); ++k) {
      out[k].assign(descriptors[k].begin(), descriptors[k].end());
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  mutable anet_type net_;
  dlib::shape_predictor shape_;
  bool flip_tta_ = true;
};

}  // namespace

std::unique_ptr<Embedder> make_dlib_embedder(const infer::ModelStore& store,
                                             const EmbedderOptions& options) {
  return std::make_unique<DlibEmbedder>(store, options);
}

}  // namespace likeness::embed::internal
