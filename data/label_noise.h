#pragma once
// Synthetic label noise on clean label maps (the paper's synthetic noisy-label setting).
//
// Kinds (K classes, 0 = background, 255 = ignore, which is never changed):
//  ellipse     every connected instrument-part region (8-connected, per class) is replaced by the
//              ellipse fitted to its outer contour (cv::fitEllipse), perturbed with strength
//              `rate`: each axis scaled by 1 + rate*U(-1,1), rotated by rate*U(-45,45) degrees,
//              centre moved by rate*U(-0.5,0.5) of the minor axis per direction. Rate 0 gives the
//              plain fitted ellipses. Regions are redrawn in class order (clasper over wrist
//              over shaft); regions with fewer than 5 contour points are kept as they are.
//  symmetric   unit region: each instrument region flips with probability `rate` to a uniformly
//              drawn other class (background included); unit pixel: each pixel, background
//              included, flips with probability `rate` to a uniformly drawn other class.
//  asymmetric  like symmetric but the flip goes to the fixed next part, c -> c % (K-1) + 1
//              (shaft -> wrist -> clasper -> shaft for K = 4). Background is never flipped: the
//              kind models confusion among instrument parts, so row 0 of T_C stays e_0 and
//              `rate` is the flip rate of foreground regions (or pixels).
//  dilate      each instrument class mask is dilated with an elliptical kernel of radius
//              r = round(rate * min(H, W) / 10) pixels (rate 0.1 at 128x160 -> 1 px, 0.3 -> 4 px);
//              grown pixels claim background only, higher classes win ties.
//  erode       each instrument class mask is eroded with the same kernel; the removed pixels
//              become background. The image border does not erode (a shaft leaving the image
//              keeps touching it).
// Every image draws from its own stream, seeded from (seed, image name), so the result does not
// depend on the order or the subset of images processed.
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

#include "adapters/foundation/option_binder.h"

namespace jcas {

enum class NoiseKind { ellipse, symmetric, asymmetric, dilate, erode };
enum class NoiseUnit { region, pixel };

// "ellipse" | "symmetric" | ... ; anything else is a UserError listing the choices.
NoiseKind parse_noise_kind(const std::string& text);
NoiseUnit parse_noise_unit(const std::string& text);
std::string to_string(NoiseKind kind);
std::string to_string(NoiseUnit unit);

struct NoiseOptions {
  NoiseKind kind = NoiseKind::symmetric;
  double rate = 0.3;  // in [0, 1]; meaning per kind above
  uint64_t seed = 1;
  NoiseUnit unit = NoiseUnit::region;  // symmetric / asymmetric only
  int num_classes = 4;
};

// What one call changed (counts add up over images).
struct NoiseStats {
  int64_t pixels = 0, changed_pixels = 0;     // pixels not 255 / of those, changed
  int64_t regions = 0, flipped_regions = 0;   // instrument regions considered / flipped (region unit)
};

// The random stream of the image `name` for `seed`.
uint64_t label_noise_stream(uint64_t seed, const std::string& name);
// Kernel radius of dilate/erode for `rate` on an image of this size (see above).
int morphology_radius(double rate, int height, int width);
// A noisy copy of `clean` (CV_8UC1). Adds to `stats` when given.
cv::Mat apply_label_noise(const cv::Mat& clean, const NoiseOptions& options, uint64_t stream,
                          NoiseStats* stats = nullptr);

struct NoiseDatasetOptions {
  std::string data;              // dataset root (img/, label/, <split>.txt, info.json)
  std::string split = "train";
  std::string label_dir = "label";  // clean labels, relative to data
  std::string out;               // folder for the noisy labels (same file names)
  NoiseOptions noise;            // num_classes is taken from info.json
  bool progress = true;

  // The keys of `jcas noise` (data, split, label-dir, out, kind, rate, seed, unit) with their
  // defaults and help.
  void bind(OptionBinder& b);
  // UserError naming the first value out of range.
  void check() const;
};

// Writes noisy copies of the split's clean labels into `out` plus `out/noise.json` (options and
// measured rates). Written to a temporary folder and renamed when complete; an existing `out`
// is replaced only if it holds nothing but label PNGs and noise.json.
NoiseStats write_noisy_labels(const NoiseDatasetOptions& options);

}  // namespace jcas
