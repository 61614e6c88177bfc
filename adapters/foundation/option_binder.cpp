#include "adapters/foundation/option_binder.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "adapters/foundation/error.h"

namespace jcas {

namespace po = boost::program_options;

std::string to_string(const ImageSize& size) { return fmt::format("{}x{}", size.height, size.width); }

ImageSize parse_image_size(const std::string& text, const std::string& option) {
  static const std::regex re(R"(^\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    throw UserError(fmt::format("--{}: expected HxW (e.g. 128x160), got '{}'", option, text));
  ImageSize s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.height <= 0 || s.width <= 0 || s.height > 8192 || s.width > 8192)
    throw UserError(fmt::format("--{}: size {}x{} out of range", option, s.height, s.width));
  return s;
}

void throw_bad_choice(const std::string& key, const std::string& text, const std::string& choices) {
  throw UserError(fmt::format("--{}: expected one of {}, got '{}'", key, choices, text));
}

namespace {

template <class T>
T parse_number(const std::string& text, const std::string& key, const char* what) {
  try {
    size_t used = 0;
    T v;
    if constexpr (std::is_same_v<T, double>)
      v = std::stod(text, &used);
    else
      v = static_cast<T>(std::stoll(text, &used));
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw UserError(fmt::format("--{}: expected {}, got '{}'", key, what, text));
}

}  // namespace

OptionBinder::OptionBinder() : bindings_(std::make_shared<std::vector<OptionBinding>>()) {}

OptionBinder OptionBinder::section(const std::string& name) const {
  OptionBinder b = *this;
  b.prefix_ = prefix_ + name + ".";
  return b;
}

OptionBinder OptionBinder::added_later() const {
  OptionBinder b = *this;
  b.added_later_ = true;
  return b;
}

void OptionBinder::add(const std::string& key, const std::string& help, std::function<std::string()> get,
                       std::function<void(const std::string&)> set) {
  OptionBinding b{prefix_ + key, help, get(), std::move(get), std::move(set), added_later_};
  bindings_->push_back(std::move(b));
}

void OptionBinder::bind(const std::string& key, int* field, const std::string& help) {
  const std::string full = prefix_ + key;
  add(key, help, [field] { return std::to_string(*field); },
      [field, full](const std::string& t) {
        int64_t v = parse_number<int64_t>(t, full, "an integer");
        if (v < INT32_MIN || v > INT32_MAX) throw UserError(fmt::format("--{}: {} is out of range", full, t));
        *field = static_cast<int>(v);
      });
}

void OptionBinder::bind(const std::string& key, int64_t* field, const std::string& help) {
  const std::string full = prefix_ + key;
  add(key, help, [field] { return std::to_string(*field); },
      [field, full](const std::string& t) { *field = parse_number<int64_t>(t, full, "an integer"); });
}

void OptionBinder::bind(const std::string& key, double* field, const std::string& help) {
  const std::string full = prefix_ + key;
  add(key, help, [field] { return fmt::format("{}", *field); },
      [field, full](const std::string& t) { *field = parse_number<double>(t, full, "a number"); });
}

void OptionBinder::bind(const std::string& key, bool* field, const std::string& help) {
  const std::string full = prefix_ + key;
  add(key, help, [field] { return std::string(*field ? "true" : "false"); },
      [field, full](const std::string& t) {
        static const std::set<std::string> yes = {"true", "1", "yes", "on"}, no = {"false", "0", "no", "off"};
        if (yes.count(t)) *field = true;
        else if (no.count(t)) *field = false;
        else throw UserError(fmt::format("--{}: expected true or false, got '{}'", full, t));
      });
}

void OptionBinder::bind(const std::string& key, std::string* field, const std::string& help) {
  add(key, help, [field] { return *field; }, [field](const std::string& t) { *field = t; });
}

void OptionBinder::bind(const std::string& key, ImageSize* field, const std::string& help) {
  const std::string full = prefix_ + key;
  add(key, help, [field] { return to_string(*field); },
      [field, full](const std::string& t) { *field = parse_image_size(t, full); });
}

void OptionValues::apply(const std::vector<OptionBinding>& bindings) const {
  for (const auto& b : bindings) {
    auto it = values_.find(b.key);
    if (it != values_.end()) b.set(it->second);
  }
}

std::string BoundOptionsBase::canonical() const { return canonical_text(bindings()); }

nlohmann::json BoundOptionsBase::json() const { return bindings_json(bindings()); }

std::string canonical_text(const std::vector<OptionBinding>& bindings) {
  std::vector<std::string> lines;
  for (const auto& b : bindings) {
    const std::string value = b.get();
    if (!(b.omitted_at_default && value == b.default_text)) lines.push_back(b.key + "=" + value + "\n");
  }
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

nlohmann::json bindings_json(const std::vector<OptionBinding>& bindings) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& b : bindings) j[b.key] = b.get();
  return j;
}

std::vector<OptionBinding> unique_bindings(const std::vector<OptionBinding>& bindings) {
  std::vector<OptionBinding> out;
  for (const auto& b : bindings) {
    auto same = std::find_if(out.begin(), out.end(), [&](const OptionBinding& o) { return o.key == b.key; });
    if (same == out.end()) {
      out.push_back(b);
    } else if (same->default_text != b.default_text || same->help != b.help) {
      throw std::logic_error(fmt::format("option {} is bound twice with different defaults or help ('{}' / '{}')",
                                         b.key, same->default_text, b.default_text));
    }
  }
  return out;
}

void declare_options(const std::vector<OptionBinding>& bindings, po::options_description& desc) {
  for (const auto& b : unique_bindings(bindings))
    desc.add_options()(b.key.c_str(), po::value<std::string>()->default_value(b.default_text), b.help.c_str());
}

std::string canonical_value(const OptionBinding& b, const std::string& text) {
  const std::string before = b.get();
  b.set(text);  // validates
  std::string canonical = b.get();
  b.set(before);
  return canonical;
}

OptionValues resolve_options(const std::vector<OptionBinding>& bindings, const po::variables_map& vm) {
  OptionValues values;
  for (const auto& b : unique_bindings(bindings))
    values.set(b.key, canonical_value(b, vm.count(b.key) ? vm[b.key].as<std::string>() : b.default_text));
  return values;
}

std::string bindings_ini(const std::vector<OptionBinding>& bindings, const OptionValues& values) {
  std::map<std::string, std::vector<const OptionBinding*>> sections;
  std::vector<std::string> order;  // top level first, then sections in first-bound order
  const auto unique = unique_bindings(bindings);
  for (const auto& b : unique) {
    auto dot = b.key.find('.');
    const std::string s = dot == std::string::npos ? "" : b.key.substr(0, dot);
    if (sections[s].empty()) order.push_back(s);
    sections[s].push_back(&b);
  }
  std::string out;
  std::stable_partition(order.begin(), order.end(), [](const std::string& s) { return s.empty(); });
  for (const auto& s : order) {
    if (!s.empty()) out += "\n[" + s + "]\n";
    for (const auto* b : sections[s]) {
      std::string name = s.empty() ? b->key : b->key.substr(s.size() + 1);
      auto it = values.all().find(b->key);
      out += "# " + b->help + "\n" + name + " = " + (it == values.all().end() ? b->default_text : it->second) + "\n";
    }
  }
  return out;
}

}  // namespace jcas
