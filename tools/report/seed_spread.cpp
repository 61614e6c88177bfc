#include "tools/report/seed_spread.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace jcas {

Spread spread(const std::vector<double>& xs) {
  Spread s{NAN, NAN, 0};
  std::vector<double> v;
  for (double x : xs)
    if (std::isfinite(x)) v.push_back(x);
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));  // sample standard deviation over seeds
  }
  return s;
}

std::string pct(const Spread& s) {
  if (s.n == 0) return "–";
  if (!std::isfinite(s.sd)) return fmt::format("{:.2f}", 100 * s.mean);
  return fmt::format("{:.2f} ± {:.2f}", 100 * s.mean, 100 * s.sd);
}

namespace {

// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
double t95(int df) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  return df <= 20 ? table[df - 1] : df <= 30 ? 2.06 : df <= 60 ? 2.02 : 1.96;
}

}  // namespace

PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d;
  PairedDifference out;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) {
      d.push_back(a[i] - b[i]);
      if (a[i] > b[i]) ++out.above;
    }
  const Spread s = spread(d);
  out.n = s.n;
  out.mean = s.mean;
  if (s.n < 2) return out;
  out.half_width = t95(s.n - 1) * s.sd / std::sqrt(static_cast<double>(s.n));
  // Percentile bootstrap of the mean: resample the seeds with replacement.
  std::mt19937_64 rng(20261204);
  std::vector<double> means(kBootstrapResamples);
  for (double& m : means) {
    double sum = 0;
    for (int i = 0; i < s.n; ++i) sum += d[rng() % static_cast<uint64_t>(s.n)];
    m = sum / s.n;
  }
  std::sort(means.begin(), means.end());
  out.boot_low = means[kBootstrapResamples / 40];                // the 2.5 % quantile
  out.boot_high = means[kBootstrapResamples - 1 - kBootstrapResamples / 40];  // the 97.5 % quantile
  return out;
}

std::string pct(const PairedDifference& d) {
  if (d.n == 0) return "–";
  if (!std::isfinite(d.half_width)) return fmt::format("{:+.2f}, {}/{} above", 100 * d.mean, d.above, d.n);
  return fmt::format("{:+.2f} [{:+.2f}, {:+.2f}] boot [{:+.2f}, {:+.2f}], {}/{} above", 100 * d.mean,
                     100 * (d.mean - d.half_width), 100 * (d.mean + d.half_width), 100 * d.boot_low,
                     100 * d.boot_high, d.above, d.n);
}

}  // namespace jcas
