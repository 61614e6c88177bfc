#include "adapters/foundation/progress.h"

#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

#include "adapters/foundation/log.h"

namespace jcas {

std::string format_duration(double s) {
  if (s < 0 || s != s) return "?";
  auto t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{:.1f}s", s);
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {
  if (log::level() == log::Level::quiet) finished_ = true;
}

ProgressBar::~ProgressBar() {
  if (!finished_) finish();
}

void ProgressBar::advance(int64_t n) {
  done_ += n;
  draw(false);
}

void ProgressBar::set_postfix(std::string text) { postfix_ = std::move(text); }

void ProgressBar::finish() {
  if (finished_) return;
  draw(true);
  if (tty_) std::fputc('\n', stderr);
  finished_ = true;
}

void ProgressBar::draw(bool force) {
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  double eta = rate > 0 ? (total_ - done_) / rate : -1;
  int decile = total_ > 0 ? static_cast<int>(10 * done_ / total_) : 0;
  std::string rate_text = rate >= 1 || rate == 0 ? fmt::format("{:.2f} {}/s", rate, unit_)
                                                 : fmt::format("{:.2f} s/{}", 1.0 / rate, unit_);
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : 0;
    std::string bar(filled, '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s elapsed %s eta %s %s\033[K", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), rate_text.c_str(),
                 format_duration(elapsed).c_str(), format_duration(eta).c_str(), postfix_.c_str());
  } else {
    // Logs only need a line every few seconds of a long loop, and none for a short one.
    if (done_ == last_printed_ || elapsed < 3) return;
    if (!force && (decile == last_decile_ || decile < 1 || now - last_draw_ < std::chrono::seconds(3))) return;
    last_printed_ = done_;
    std::fprintf(stderr, "%s %lld/%lld %s elapsed %s eta %s %s\n", label_.c_str(), static_cast<long long>(done_),
                 static_cast<long long>(total_), rate_text.c_str(), format_duration(elapsed).c_str(),
                 format_duration(eta).c_str(), postfix_.c_str());
  }
  last_decile_ = decile;
  last_draw_ = now;
  std::fflush(stderr);
}

}  // namespace jcas
