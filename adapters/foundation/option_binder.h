#pragma once
// Typed options, bound once (COLMAP's way). An options struct has
//   void bind(OptionBinder& b)   ties each field to its dotted key with a help text; the field's
//                                initialiser is the default, so each default is written once;
//   void check() const           throws UserError naming the first nonsense value.
// From the bindings the toolkit declares command-line/INI options, fills a struct from parsed
// text, and writes its canonical text: a pipeline stage's fingerprint is built from exactly the
// fields its struct bound, so an option that changes a result cannot be left out of it.
#include <boost/program_options.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace jcas {

// "HxW" on the command line.
struct ImageSize {
  int height = 0, width = 0;
  bool operator==(const ImageSize& o) const { return height == o.height && width == o.width; }
};
std::string to_string(const ImageSize& size);
// "HxW" -> size; UserError naming `option` on anything else or a side outside 1..8192.
ImageSize parse_image_size(const std::string& text, const std::string& option);

// The names of an option enum's values, in the order help texts list them: specialise
//   template <> struct EnumNames<MyEnum> { static const std::vector<std::pair<MyEnum, const char*>>& table(); };
template <class E>
struct EnumNames;

template <class E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table())
    if (v == value) return name;
  return "?";
}
// "a | b | c" for help texts and messages.
template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::table()) out += (out.empty() ? "" : " | ") + std::string(name);
  return out;
}
[[noreturn]] void throw_bad_choice(const std::string& key, const std::string& text, const std::string& choices);
template <class E>
E parse_enum(const std::string& text, const std::string& key) {
  for (const auto& [v, name] : EnumNames<E>::table())
    if (text == name) return v;
  throw_bad_choice(key, text, enum_choices<E>());
}

// One field bound to its key: its canonical text, and a setter that parses text into the field.
struct OptionBinding {
  std::string key, help, default_text;
  std::function<std::string()> get;
  std::function<void(const std::string&)> set;  // UserError naming the key on bad text
  // An option added after results were cached: left out of the canonical text while it holds its
  // default, so those results keep their fingerprints (they were computed with that default).
  bool omitted_at_default = false;
};

class OptionBinder {
 public:
  OptionBinder();
  // Bindings made through the returned binder get keys "name.field" and land in this binder.
  OptionBinder section(const std::string& name) const;
  // Bindings made through the returned binder are marked omitted_at_default (see OptionBinding).
  OptionBinder added_later() const;

  void bind(const std::string& key, int* field, const std::string& help);
  void bind(const std::string& key, int64_t* field, const std::string& help);
  void bind(const std::string& key, double* field, const std::string& help);
  void bind(const std::string& key, bool* field, const std::string& help);
  void bind(const std::string& key, std::string* field, const std::string& help);
  void bind(const std::string& key, ImageSize* field, const std::string& help);
  template <class E, std::enable_if_t<std::is_enum_v<E>, int> = 0>
  void bind(const std::string& key, E* field, const std::string& help) {
    const std::string full = prefix_ + key;
    add(key, help + " (" + enum_choices<E>() + ")", [field] { return enum_name(*field); },
        [field, full](const std::string& text) { *field = parse_enum<E>(text, full); });
  }

  // A field with its own text form (e.g. two ints written as one "HxW" value).
  void bind(const std::string& key, const std::string& help, std::function<std::string()> get,
            std::function<void(const std::string&)> set) {
    add(key, help, std::move(get), std::move(set));
  }

  const std::vector<OptionBinding>& bindings() const { return *bindings_; }
  const std::string& prefix() const { return prefix_; }

 private:
  void add(const std::string& key, const std::string& help, std::function<std::string()> get,
           std::function<void(const std::string&)> set);
  std::shared_ptr<std::vector<OptionBinding>> bindings_;
  std::string prefix_;
  bool added_later_ = false;
};

// "key", "value" pairs of a struct with bind(), as its fields hold them, in binding order.
template <class T>
std::vector<std::pair<std::string, std::string>> option_texts(T options) {
  OptionBinder b;
  options.bind(b);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& binding : b.bindings()) out.emplace_back(binding.key, binding.get());
  return out;
}

// Resolved option text by key: what a run was configured with (defaults, file, command line).
class OptionValues {
 public:
  void set(const std::string& key, const std::string& text) { values_[key] = text; }
  const std::map<std::string, std::string>& all() const { return values_; }
  // `bindings` filled from these values (a key without a value keeps its default).
  void apply(const std::vector<OptionBinding>& bindings) const;

  // A struct with bind() and check(), bound under `section` ("" = top level), filled from these
  // values and checked.
  template <class T>
  T get(const std::string& section = "") const {
    T options;
    OptionBinder root;
    OptionBinder b = section.empty() ? root : root.section(section);
    options.bind(b);
    apply(b.bindings());
    options.check();
    return options;
  }

 private:
  std::map<std::string, std::string> values_;
};

// Owns an options struct together with its bindings (which point into it), so the struct, its
// canonical text and its JSON always describe the same values.
class BoundOptionsBase {
 public:
  virtual ~BoundOptionsBase() = default;
  const std::vector<OptionBinding>& bindings() const { return binder_.bindings(); }
  // "key=value" lines, sorted by key: the text a fingerprint hashes (canonical_text).
  std::string canonical() const;
  nlohmann::json json() const;

 protected:
  OptionBinder binder_;
};

template <class T>
class BoundOptions : public BoundOptionsBase {
 public:
  explicit BoundOptions(const OptionValues& values) {
    options_.bind(binder_);
    values.apply(binder_.bindings());
    options_.check();
  }
  BoundOptions(const BoundOptions&) = delete;
  BoundOptions& operator=(const BoundOptions&) = delete;
  const T& get() const { return options_; }

 private:
  T options_;
};

// `text` as the binding's field writes it back ("0.10" -> "0.1"); UserError naming the key on bad
// text. The field keeps its value.
std::string canonical_value(const OptionBinding& binding, const std::string& text);
// "key=value" lines of `bindings`, sorted by key, without the options added later that hold their
// default: the text a fingerprint hashes.
std::string canonical_text(const std::vector<OptionBinding>& bindings);
// {"key": "value", ...} of `bindings`.
nlohmann::json bindings_json(const std::vector<OptionBinding>& bindings);

// Declares every binding as `--key` (text, with its default) to Boost.Program_options. Bindings of
// the same key from several structs must agree on default and help (std::logic_error otherwise:
// that would be one option defined twice).
void declare_options(const std::vector<OptionBinding>& bindings, boost::program_options::options_description& desc);
// The values of `bindings` as parsed into `vm` (defaults where absent), each canonicalised
// through its field (so "0.10" and "0.1" are the same value). UserError naming a bad value.
OptionValues resolve_options(const std::vector<OptionBinding>& bindings, const boost::program_options::variables_map& vm);
// Unique bindings by key (first wins), in the order given.
std::vector<OptionBinding> unique_bindings(const std::vector<OptionBinding>& bindings);
// An INI file of the bindings: top-level keys first, then one [section] per dotted prefix, each
// key preceded by its help as a comment and set to its value in `values` (default where absent).
std::string bindings_ini(const std::vector<OptionBinding>& bindings, const OptionValues& values = {});

}  // namespace jcas
