#pragma once
// How noisy a set of labels is against clean ones (DESIGN §3.2, §7): class and affinity noise
// rates, empirical class and affinity NTMs, class distributions; per image and for a whole set.
//
// Everything is counted at label resolution over the pixels where both the clean and the noisy
// label are not 255. Pairs are ordered pixel pairs within one image, self-pairs included; they are
// counted exactly from the joint counts C[i][j] (clean i, noisy j) of the image, with
// r = row sums, c = column sums, n = Σ C:
//   all pairs                            n²
//   similar in clean                     SC = Σ_i r_i²
//   similar in noisy                     SN = Σ_j c_j²
//   similar in both                      SS = Σ_ij C_ij²  (same clean class and same noisy class)
//   clean similar,    noisy dissimilar   SC − SS
//   clean dissimilar, noisy similar      SN − SS
//   dissimilar in both                   n² − SC − SN + SS
//   flipped pairs                        SC + SN − 2·SS
// A set's rates are its total counts over its total (not a mean of per-image rates).
// NTM rows with no pixels (no pairs) are identity rows: no evidence of noise for that class.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace jcas {

struct LabelNoiseReport {
  int64_t images = 0;
  int64_t pixels = 0, flipped_pixels = 0;  // counted pixels; those whose noisy label differs
  int64_t pairs = 0, flipped_pairs = 0;    // ordered pairs incl. self-pairs; those whose similarity differs
  double class_noise_rate = 0;             // flipped_pixels / pixels (0 when no pixel counted)
  double affinity_noise_rate = 0;          // flipped_pairs / pairs
  torch::Tensor joint;           // K x K int64 pixel counts, rows = clean, columns = noisy
  torch::Tensor class_ntm;       // K x K float64, row-normalised joint (empty row = identity)
  torch::Tensor affinity_pairs;  // 2 x 2 int64 pair counts, index 0 = dissimilar, rows = clean
  torch::Tensor affinity_ntm;    // 2 x 2 float64, row-normalised affinity_pairs (empty row = identity)
  std::vector<double> class_dist_clean, class_dist_noisy;  // r / n and c / n (zeros when n = 0)
};

class LabelNoiseStats {
 public:
  explicit LabelNoiseStats(int num_classes);
  // clean, noisy: H x W integer maps of one image, same shape; 255 = ignore; other values >= K
  // throw std::invalid_argument. Returns this image's report and adds it to the set's totals.
  LabelNoiseReport add(const torch::Tensor& clean, const torch::Tensor& noisy);
  LabelNoiseReport report() const;  // the whole set so far

  // Shortcuts into report() for the whole set so far.
  double class_noise_rate() const;
  double affinity_noise_rate() const;
  torch::Tensor class_ntm() const;         // K x K float64
  torch::Tensor affinity_ntm() const;      // 2 x 2 float64
  torch::Tensor class_dist_clean() const;  // K float64
  torch::Tensor class_dist_noisy() const;  // K float64
  int64_t images() const { return images_; }
  int num_classes() const { return k_; }

  // The 2 x 2 ordered-pair counts (index 0 = dissimilar, rows = clean) of one image's joint counts.
  static torch::Tensor affinity_pair_counts(const torch::Tensor& joint);

 private:
  LabelNoiseReport summarize(const torch::Tensor& joint, const torch::Tensor& affinity_pairs, int64_t images) const;
  int k_;
  int64_t images_ = 0;
  torch::Tensor joint_, affinity_pairs_;
};

// Rows with a zero sum become identity rows; other rows are divided by their sum (float64).
torch::Tensor row_normalize_or_identity(const torch::Tensor& counts);

}  // namespace jcas
