#include "tools/report/seed_spread.h"

#include <fmt/format.h>

#include <cmath>

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

}  // namespace jcas
