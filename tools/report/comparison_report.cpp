#include "tools/report/comparison_report.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace jcas {
namespace {

std::string num(double v, int digits = 4) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "–"; }
std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.2f} %", 100 * v) : "–"; }

// One row per round: the headline figures.
std::vector<std::string> header() {
  return {"round", "pseudo mDice", "pseudo mJac", "class noise", "affinity noise", "T_C error", "changed",
          "mean conf.", "test mJac (model r+1)"};
}

std::vector<std::string> row(const RoundSummary& s) {
  auto err = s.estimator_errors.find(s.estimator);
  return {std::to_string(s.round),
          s.pseudo_vs_truth ? num(s.pseudo_vs_truth->mean_dice) : "–",
          s.pseudo_vs_truth ? num(s.pseudo_vs_truth->mean_jaccard) : "–",
          pct(s.class_noise_rate),
          pct(s.affinity_noise_rate),
          err == s.estimator_errors.end() ? "–" : fmt::format("{} ({})", num(err->second), s.estimator),
          pct(s.changed_fraction),
          num(s.mean_confidence, 3),
          num(s.test_mjac)};
}

std::string matrix_text(const torch::Tensor& t) {
  if (!t.defined()) return "–";
  auto m = t.to(torch::kFloat64).contiguous();
  std::string out;
  for (int64_t i = 0; i < m.size(0); ++i) {
    out += i ? "; " : "";
    for (int64_t j = 0; j < m.size(1); ++j) out += fmt::format("{}{:.3f}", j ? " " : "", m[i][j].item<double>());
  }
  return "[" + out + "]";
}

std::string markdown_table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "| " + fmt::format("{}", fmt::join(head, " | ")) + " |\n|";
  for (size_t i = 0; i < head.size(); ++i) out += " --- |";
  out += "\n";
  for (const auto& r : rows) out += "| " + fmt::format("{}", fmt::join(r, " | ")) + " |\n";
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table><tr>";
  for (const auto& h : head) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr>";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& c : r) out += "<td>" + html_escape(c) + "</td>";
    out += "</tr>";
  }
  return out + "</table>\n";
}

std::string base64(const std::string& bytes) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += abc[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Per-class details of one round.
std::vector<std::vector<std::string>> class_rows(const RoundComparison& cmp, const RoundSummary& s) {
  std::vector<std::vector<std::string>> rows;
  for (size_t c = 0; c < cmp.class_names.size(); ++c) {
    bool fg = c > 0;
    rows.push_back({cmp.class_names[c],
                    fg && s.pseudo_vs_truth ? num(s.pseudo_vs_truth->dice[c - 1]) : "–",
                    fg && s.pseudo_vs_truth ? num(s.pseudo_vs_truth->jaccard[c - 1]) : "–",
                    c < s.class_dist.size() ? pct(s.class_dist[c]) : "–",
                    c < s.changed_per_class.size() ? pct(s.changed_per_class[c]) : "–"});
  }
  return rows;
}
const std::vector<std::string> kClassHead = {"class", "pseudo Dice", "pseudo Jaccard", "share of pixels",
                                             "changed since previous round"};

std::vector<std::vector<std::string>> matrix_rows(const RoundSummary& s) {
  return {{"T_C estimated (" + s.estimator + ")", matrix_text(s.estimated_class_ntm)},
          {"T_C true (pseudo labels vs ground truth)", matrix_text(s.true_class_ntm)},
          {"T_C learned (end of retraining)", matrix_text(s.learned_class_ntm)},
          {"T_C->A derived (closed form)", matrix_text(s.class_to_affinity)},
          {"T_A true (exact pair counts)", matrix_text(s.true_affinity_ntm)},
          {"T_A learned (end of retraining)", matrix_text(s.learned_affinity_ntm)}};
}

// A row-stochastic matrix as a grid of cells, white (0) to dark blue (1), each with its value.
std::string svg_heatmap(const torch::Tensor& t, const std::string& title, double x0, double y0, double cell) {
  std::string out = fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-weight=\"bold\">{}</text>\n", x0,
                                y0 - 6, html_escape(title));
  if (!t.defined()) return out + fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">–</text>\n", x0, y0 + 14);
  auto m = t.to(torch::kFloat64).contiguous();
  for (int64_t i = 0; i < m.size(0); ++i)
    for (int64_t j = 0; j < m.size(1); ++j) {
      const double v = std::clamp(m[i][j].item<double>(), 0.0, 1.0);
      const int r = static_cast<int>(255 - 225 * v), g = static_cast<int>(255 - 175 * v), b = static_cast<int>(255 - 75 * v);
      const double x = x0 + j * cell, y = y0 + i * cell;
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"rgb({},{},{})\" "
                         "stroke=\"#999\" stroke-width=\"0.5\"/>", x, y, cell, cell, r, g, b);
      out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"{}\">{:.2f}</text>\n",
                         x + cell / 2, y + cell / 2 + 4, v > 0.55 ? "white" : "black", v);
    }
  return out;
}

std::vector<std::vector<std::string>> estimator_rows(const RoundSummary& s) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& [e, v] : s.estimator_errors) rows.push_back({e + (e == s.estimator ? " (used)" : ""), num(v)});
  return rows;
}

// A small line chart of noise rates and test mJac per round.
std::string svg_chart(const RoundComparison& cmp) {
  struct Series {
    std::string name, color;
    std::vector<std::pair<int, double>> points;
  };
  std::vector<Series> series = {{"class noise rate", "#d62728", {}}, {"affinity noise rate", "#ff7f0e", {}},
                                {"test mJac of model r+1", "#1f77b4", {}}};
  for (const auto& s : cmp.rounds) {
    if (std::isfinite(s.class_noise_rate)) series[0].points.push_back({s.round, s.class_noise_rate});
    if (std::isfinite(s.affinity_noise_rate)) series[1].points.push_back({s.round, s.affinity_noise_rate});
    if (std::isfinite(s.test_mjac)) series[2].points.push_back({s.round, s.test_mjac});
  }
  const int w = 520, h = 260, left = 50, right = 190, top = 20, bottom = 40;
  int max_round = 1;
  for (const auto& s : cmp.rounds) max_round = std::max(max_round, s.round);
  auto x = [&](double r) { return left + (w - left - right) * r / max_round; };
  auto y = [&](double v) { return top + (h - top - bottom) * (1 - v); };
  std::string out = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
                                "font-family=\"sans-serif\" font-size=\"11\">\n", w, h);
  for (double v = 0; v <= 1.0001; v += 0.25)
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1f}\" "
                       "text-anchor=\"end\">{:.2f}</text>\n", left, w - right, y(v), y(v), left - 4, y(v) + 4, v);
  for (int r = 0; r <= max_round; ++r)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">round {}</text>\n", x(r), h - bottom + 16, r);
  int legend_y = top + 10;
  for (const auto& s : series) {
    std::string pts;
    for (const auto& [r, v] : s.points) pts += fmt::format("{:.1f},{:.1f} ", x(r), y(v));
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", s.color, pts);
    for (const auto& [r, v] : s.points)
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", x(r), y(v), s.color);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       w - right + 12, legend_y - 4, s.color, w - right + 28, legend_y, s.name);
    legend_y += 18;
  }
  return out + "</svg>\n";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::vector<std::string>> summary_rows(const RoundComparison& cmp) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : cmp.rounds) rows.push_back(row(s));
  return rows;
}

std::string source_line(const RoundComparison& cmp) {
  return fmt::format("Source model on the target test split: mJac {}, mDice {}.", num(cmp.source_test_mjac),
                     num(cmp.source_test_mdice));
}

}  // namespace

std::string comparison_table_text(const RoundComparison& cmp) {
  auto head = header();
  auto rows = summary_rows(cmp);
  std::vector<size_t> width(head.size());
  for (size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& r : rows) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) out += fmt::format("{:>{}}  ", cells[i], width[i]);
    out += "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
  out += source_line(cmp) + "\n";
  for (const auto& s : cmp.rounds)
    for (const auto& n : s.notes) out += fmt::format("round {}: {}\n", s.round, n);
  return out;
}

constexpr double kTitleCharWidth = 6.5;  // bold 11 px sans-serif, per character (over-estimated)

std::string ntm_heatmaps_file(int round) { return fmt::format("ntm_round{}.svg", round); }

std::string ntm_heatmaps_svg(const RoundSummary& s) {
  if (!s.has_pseudo_labels) return "";
  const std::vector<std::pair<std::string, torch::Tensor>> class_ntms = {
      {"T_C estimated (" + s.estimator + ")", s.estimated_class_ntm},
      {"T_C true", s.true_class_ntm},
      {"T_C learned", s.learned_class_ntm}};
  const std::vector<std::pair<std::string, torch::Tensor>> affinity_ntms = {
      {"T_C->A derived", s.class_to_affinity}, {"T_A true", s.true_affinity_ntm}, {"T_A learned", s.learned_affinity_ntm}};
  int64_t k = 2;
  for (const auto& [name, t] : class_ntms)
    if (t.defined()) k = std::max<int64_t>(k, t.size(0));
  // Each column as wide as its widest title (bold 11 px: ~6.5 px a character), so that the titles
  // of small matrices (a binary task's 2x2) do not run into each other.
  size_t title_chars = 0;
  for (const auto* list : {&class_ntms, &affinity_ntms})
    for (const auto& [name, t] : *list) title_chars = std::max(title_chars, name.size());
  const double cell = 34, gap = 40, top = 28;
  const double block = std::max(k * cell, kTitleCharWidth * title_chars) + gap, width = 3 * block,
               height = top + k * cell + 40 + 2 * cell + 30;
  std::string out = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
                                "font-family=\"sans-serif\" font-size=\"11\">\n", width, height);
  for (size_t i = 0; i < class_ntms.size(); ++i)
    out += svg_heatmap(class_ntms[i].second, class_ntms[i].first, 10 + i * block, top, cell);
  const double y2 = top + k * cell + 40;
  for (size_t i = 0; i < affinity_ntms.size(); ++i)
    out += svg_heatmap(affinity_ntms[i].second, affinity_ntms[i].first, 10 + i * block, y2, cell);
  out += fmt::format("<text x=\"10\" y=\"{:.0f}\" fill=\"#555\">rows: clean, columns: noisy; affinity index 0 = "
                     "dissimilar</text>\n", height - 8);
  return out + "</svg>\n";
}

std::string comparison_markdown(const RoundComparison& cmp, const std::vector<std::filesystem::path>& panels,
                                const std::filesystem::path& report_dir) {
  std::string md = "# Pseudo-label rounds\n\n" + source_line(cmp) + "\n\n";
  md += "Round r's pseudo labels are made by the model of round r (round 0: the source model); "
        "retraining on them gives the model of round r+1, whose test score closes the row.\n\n";
  md += markdown_table(header(), summary_rows(cmp));
  if (!cmp.has_truth) md += "\nThe target has no ground truth: pseudo-label scores, noise rates and true T_C cannot be computed.\n";
  for (const auto& s : cmp.rounds) {
    md += fmt::format("\n## Round {}\n\n", s.round);
    for (const auto& n : s.notes) md += "- " + n + "\n";
    if (!s.notes.empty()) md += "\n";
    if (!s.has_pseudo_labels) continue;
    md += markdown_table(kClassHead, class_rows(cmp, s)) + "\n";
    md += fmt::format("![NTMs of round {}]({})\n\n", s.round, ntm_heatmaps_file(s.round));
    md += markdown_table({"matrix (rows clean, columns noisy; affinity index 0 = dissimilar)", "value"}, matrix_rows(s));
    if (!s.estimator_errors.empty())
      md += "\n" + markdown_table({"estimator", "‖T̂ − T‖₁ / K"}, estimator_rows(s));
  }
  if (!panels.empty()) {
    md += "\n## Panels\n\n";
    for (const auto& p : panels)
      md += fmt::format("![{}]({})\n\n", p.stem().string(), std::filesystem::relative(p, report_dir).string());
  }
  return md;
}

std::string comparison_html(const RoundComparison& cmp, const std::vector<std::filesystem::path>& panels) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jcas: pseudo-label rounds</title>\n"
      "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
      "td:first-child{text-align:left}img{max-width:100%;image-rendering:pixelated}</style></head><body>\n";
  html += "<h1>Pseudo-label rounds</h1>\n<p>" + html_escape(source_line(cmp)) + "</p>\n";
  html += html_table(header(), summary_rows(cmp));
  html += svg_chart(cmp);
  for (const auto& s : cmp.rounds) {
    html += fmt::format("<h2>Round {}</h2>\n", s.round);
    if (!s.notes.empty()) {
      html += "<ul>";
      for (const auto& n : s.notes) html += "<li>" + html_escape(n) + "</li>";
      html += "</ul>\n";
    }
    if (!s.has_pseudo_labels) continue;
    html += html_table(kClassHead, class_rows(cmp, s));
    html += ntm_heatmaps_svg(s);
    html += html_table({"matrix (rows clean, columns noisy)", "value"}, matrix_rows(s));
    if (!s.estimator_errors.empty()) html += html_table({"estimator", "‖T̂ − T‖₁ / K"}, estimator_rows(s));
  }
  if (!panels.empty()) {
    html += "<h2>Panels</h2>\n";
    for (const auto& p : panels)
      html += fmt::format("<p>{}<br><img alt=\"{}\" src=\"data:image/png;base64,{}\"></p>\n", html_escape(p.stem().string()),
                          html_escape(p.stem().string()), base64(read_file(p)));
  }
  return html + "</body></html>\n";
}

}  // namespace jcas
