#pragma once
// Mean and sample standard deviation of a figure over seeds, as the ablation and benchmark
// tables print them.
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

}  // namespace jcas
