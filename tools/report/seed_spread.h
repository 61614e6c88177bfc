#pragma once
// Mean and sample standard deviation of a figure over seeds, as the ablation and benchmark
// tables print them.
#include <cmath>
#include <string>
#include <vector>

namespace jcas {

struct Spread {
  double mean, sd;  // NaN where undefined (no finite value; sd: fewer than two)
  int n = 0;        // finite values
};

// Over the finite values of `xs`.
Spread spread(const std::vector<double>& xs);
// "mean ± sd" in percent with 2 decimals ("mean" alone for one value, "–" for none).
std::string pct(const Spread& s);

// A paired comparison over seeds (each seed's `a` against the same seed's `b`, e.g. a method
// against the source model it adapted): the mean difference with its 95 % Student-t interval and its
// 95 % percentile bootstrap interval (kBootstrapResamples resamples of the seeds, a fixed generator
// seed: the same figures every time). With few seeds the bootstrap interval is too narrow (it cannot
// reach beyond the observed differences); the t-interval is the one to read, the bootstrap does not
// assume normal differences.
struct PairedDifference {
  double mean = NAN, half_width = NAN;  // NaN where undefined (no pair; intervals: fewer than two)
  double boot_low = NAN, boot_high = NAN;
  int n = 0, above = 0;  // pairs with both values finite; pairs where a > b
};
constexpr int kBootstrapResamples = 10000;
// Pairs a[i], b[i] (same seed); pairs with a non-finite value are left out.
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b);
// "+1.23 [-0.40, +2.86] boot [-0.10, +2.50], 2/3 above" in percentage points ("+1.23, 1/1 above" for
// one pair, "–" for none).
std::string pct(const PairedDifference& d);

}  // namespace jcas
