#include "adapters/io/h5_store.h"

#include <H5Cpp.h>
#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "adapters/foundation/error.h"
#include "adapters/foundation/temporary_path.h"

namespace jcas {
namespace {

void silence_hdf5() {
  static bool done = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)done;
}

H5::PredType h5_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return H5::PredType::NATIVE_FLOAT;
    case torch::kFloat64: return H5::PredType::NATIVE_DOUBLE;
    case torch::kUInt8: return H5::PredType::NATIVE_UINT8;
    case torch::kInt32: return H5::PredType::NATIVE_INT32;
    case torch::kInt64: return H5::PredType::NATIVE_INT64;
    default: throw std::invalid_argument(fmt::format("H5Writer: unsupported dtype {}", c10::toString(t)));
  }
}

// Maps a stored type to the torch dtype it is read as.
std::pair<torch::ScalarType, std::string> torch_type(H5T_class_t cls, size_t size, bool is_signed) {
  if (cls == H5T_FLOAT) return size == 8 ? std::pair{torch::kFloat64, "float64"} : std::pair{torch::kFloat32, "float32"};
  if (cls == H5T_INTEGER) {
    if (size == 1) return {torch::kUInt8, is_signed ? "int8" : "uint8"};
    if (size <= 4) return {torch::kInt32, is_signed ? "int32" : "uint32"};
    return {torch::kInt64, is_signed ? "int64" : "uint64"};
  }
  return {torch::kFloat32, "unsupported"};
}

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (slash > start) parts.push_back(name.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

template <typename Loc>
void write_attr(Loc& loc, const std::string& key, const H5Attr& value) {
  if (loc.attrExists(key)) loc.removeAttr(key);
  H5::DataSpace scalar(H5S_SCALAR);
  if (auto i = std::get_if<int64_t>(&value)) {
    loc.createAttribute(key, H5::PredType::NATIVE_INT64, scalar).write(H5::PredType::NATIVE_INT64, i);
  } else if (auto d = std::get_if<double>(&value)) {
    loc.createAttribute(key, H5::PredType::NATIVE_DOUBLE, scalar).write(H5::PredType::NATIVE_DOUBLE, d);
  } else if (auto s = std::get_if<std::string>(&value)) {
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    type.setCset(H5T_CSET_UTF8);
    const char* c = s->c_str();
    loc.createAttribute(key, type, scalar).write(type, &c);
  } else if (auto dv = std::get_if<std::vector<double>>(&value)) {
    hsize_t n = dv->size();
    H5::DataSpace space(1, &n);
    loc.createAttribute(key, H5::PredType::NATIVE_DOUBLE, space).write(H5::PredType::NATIVE_DOUBLE, dv->data());
  } else if (auto iv = std::get_if<std::vector<int64_t>>(&value)) {
    hsize_t n = iv->size();
    H5::DataSpace space(1, &n);
    loc.createAttribute(key, H5::PredType::NATIVE_INT64, space).write(H5::PredType::NATIVE_INT64, iv->data());
  }
}

H5Attr read_attr(const H5::Attribute& a) {
  H5::DataType type = a.getDataType();
  H5::DataSpace space = a.getSpace();
  hssize_t n = space.getSimpleExtentNpoints();
  H5T_class_t cls = type.getClass();
  if (cls == H5T_STRING) {
    H5::StrType st = a.getStrType();
    if (st.isVariableStr()) {
      char* c = nullptr;
      a.read(st, &c);
      std::string s = c ? c : "";
      H5free_memory(c);
      return s;
    }
    std::string s;
    a.read(st, s);
    return s;
  }
  bool scalar = space.getSimpleExtentNdims() == 0;
  if (cls == H5T_FLOAT) {
    std::vector<double> v(n);
    a.read(H5::PredType::NATIVE_DOUBLE, v.data());
    if (scalar) return v[0];
    return v;
  }
  if (cls == H5T_INTEGER) {
    std::vector<int64_t> v(n);
    a.read(H5::PredType::NATIVE_INT64, v.data());
    if (scalar) return v[0];
    return v;
  }
  throw std::runtime_error("unsupported attribute type");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
struct H5Writer::Impl {
  H5::H5File file;
  Target target = Target::file;
  bool committed = false;

  H5::Group ensure_group(const std::vector<std::string>& parts, size_t count) {
    H5::Group g = file.openGroup("/");
    for (size_t i = 0; i < count; ++i) {
      g = g.nameExists(parts[i]) ? g.openGroup(parts[i]) : g.createGroup(parts[i]);
    }
    return g;
  }
};

H5Writer::H5Writer(std::filesystem::path final_path, Target target)
    : final_path_(std::move(final_path)), impl_(std::make_unique<Impl>()) {
  silence_hdf5();
  impl_->target = target;
  try {
    if (target == Target::memory) {
      tmp_path_ = final_path_.string() + " (in memory)";
      H5::FileAccPropList access;
      access.setCore(1 << 20, /*backing_store=*/false);
      impl_->file = H5::H5File(tmp_path_.string(), H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, access);
      return;
    }
    tmp_path_ = temporary_path(final_path_);
    if (!final_path_.parent_path().empty()) std::filesystem::create_directories(final_path_.parent_path());
    impl_->file = H5::H5File(tmp_path_.string(), H5F_ACC_TRUNC);
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot create HDF5 file ({})", tmp_path_.string(), e.getDetailMsg()));
  }
}

H5Writer::~H5Writer() {
  if (!impl_->committed) {
    try {
      impl_->file.close();
    } catch (...) {
    }
    std::error_code ec;
    if (impl_->target == Target::file) std::filesystem::remove(tmp_path_, ec);
  }
}

void H5Writer::write(const std::string& name, const torch::Tensor& tensor, const std::string& axes) {
  auto parts = split_path(name);
  if (parts.empty()) throw std::invalid_argument("H5Writer::write: empty name");
  torch::Tensor t = tensor.detach().to(torch::kCPU);
  if (t.scalar_type() == torch::kBool) t = t.to(torch::kUInt8);
  if (t.scalar_type() == torch::kFloat16 || t.scalar_type() == torch::kBFloat16) t = t.to(torch::kFloat32);
  t = t.contiguous();
  try {
    H5::Group g = impl_->ensure_group(parts, parts.size() - 1);
    std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
    H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(dims.size(), dims.data());
    H5::PredType type = h5_type(t.scalar_type());
    H5::DSetCreatPropList props;
    if (t.numel() >= 4096 && !dims.empty()) {
      // Chunked + deflate for large arrays (labels and probabilities compress well); a chunk holds
      // at most 1M elements, cut along the leading axes (never down to single elements: a 1-D
      // array of 13M bytes, e.g. a TorchScript model, is 13 chunks, not 13M).
      const hsize_t limit = hsize_t{1} << 20;
      std::vector<hsize_t> chunk = dims;
      for (size_t i = 0; i < chunk.size(); ++i) {
        hsize_t inner = 1;  // elements of one slice along axis i
        for (size_t j = i + 1; j < chunk.size(); ++j) inner *= chunk[j];
        if (inner * chunk[i] <= limit) break;
        chunk[i] = std::max<hsize_t>(1, limit / inner);
      }
      props.setChunk(chunk.size(), chunk.data());
      props.setDeflate(1);
    }
    if (g.nameExists(parts.back())) g.unlink(parts.back());
    H5::DataSet ds = g.createDataSet(parts.back(), type, space, props);
    if (t.numel() > 0) ds.write(t.data_ptr(), type);
    if (!axes.empty()) write_attr(ds, "axes", std::string(axes));
  } catch (const H5::Exception& e) {
    throw std::runtime_error(fmt::format("{}: cannot write '{}': {}", tmp_path_.string(), name, e.getDetailMsg()));
  }
}

void H5Writer::attr(const std::string& object, const std::string& key, const H5Attr& value) {
  try {
    if (object == "/" || object.empty()) {
      H5::Group root = impl_->file.openGroup("/");
      write_attr(root, key, value);
    } else {
      if (impl_->file.childObjType(object) == H5O_TYPE_GROUP) {
        H5::Group g = impl_->file.openGroup(object);
        write_attr(g, key, value);
      } else {
        H5::DataSet d = impl_->file.openDataSet(object);
        write_attr(d, key, value);
      }
    }
  } catch (const H5::Exception& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot write attribute '{}' on '{}': {}", tmp_path_.string(), key, object, e.getDetailMsg()));
  }
}

void H5Writer::commit() {
  if (impl_->target == Target::memory) throw std::logic_error("H5Writer::commit: " + tmp_path_.string());
  impl_->file.close();
  std::filesystem::rename(tmp_path_, final_path_);
  impl_->committed = true;
}

// ---------------------------------------------------------------------------------------------
struct H5Reader::Impl {
  H5::H5File file;
};

H5Reader::H5Reader(std::filesystem::path path) : path_(std::move(path)), impl_(std::make_unique<Impl>()) {
  silence_hdf5();
  if (!std::filesystem::is_regular_file(path_)) throw UserError(fmt::format("{}: no such file", path_.string()));
  try {
    if (!H5::H5File::isHdf5(path_.string()))
      throw UserError(fmt::format("{}: not an HDF5 file (truncated or foreign)", path_.string()));
    impl_->file = H5::H5File(path_.string(), H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: unreadable HDF5 file ({})", path_.string(), e.getDetailMsg()));
  }
}

H5Reader::~H5Reader() = default;
H5Reader::H5Reader(H5Reader&&) noexcept = default;

bool H5Reader::has(const std::string& name) const {
  auto parts = split_path(name);
  std::string prefix;
  for (const auto& p : parts) {
    prefix += "/" + p;
    if (H5Lexists(impl_->file.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

bool H5Reader::is_group(const std::string& name) const {
  if (!has(name)) return false;
  return impl_->file.childObjType(name) == H5O_TYPE_GROUP;
}

namespace {
struct DatasetLayout {
  std::vector<int64_t> shape;
  torch::ScalarType dtype;
  std::string dtype_name;
};

DatasetLayout layout_of(const H5::DataSet& ds) {
  H5::DataSpace space = ds.getSpace();
  int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(rank);
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  H5::DataType type = ds.getDataType();
  bool is_signed = type.getClass() == H5T_INTEGER && ds.getIntType().getSign() != H5T_SGN_NONE;
  auto [dtype, dname] = torch_type(type.getClass(), type.getSize(), is_signed);
  return {std::vector<int64_t>(dims.begin(), dims.end()), dtype, dname};
}
}  // namespace

std::pair<std::vector<int64_t>, std::string> H5Reader::describe(const std::string& name) const {
  if (!has(name)) throw UserError(fmt::format("{}: missing dataset '{}'", path_.string(), name));
  try {
    auto layout = layout_of(impl_->file.openDataSet(name));
    return {layout.shape, layout.dtype_name};
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot read '{}' ({})", path_.string(), name, e.getDetailMsg()));
  }
}

torch::Tensor H5Reader::read(const std::string& name) const {
  if (!has(name)) throw UserError(fmt::format("{}: missing dataset '{}'", path_.string(), name));
  try {
    H5::DataSet ds = impl_->file.openDataSet(name);
    auto [shape, dtype, dname] = layout_of(ds);
    if (dname == "unsupported")
      throw UserError(fmt::format("{}: dataset '{}' has an unsupported type", path_.string(), name));
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    if (t.numel() > 0) ds.read(t.data_ptr(), h5_type(dtype));
    return t;
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot read '{}' ({})", path_.string(), name, e.getDetailMsg()));
  }
}

namespace {
template <typename F>
auto with_object(const H5::H5File& file, const std::string& object, F&& f) {
  if (object == "/" || object.empty()) {
    H5::Group g = file.openGroup("/");
    return f(static_cast<H5::H5Object&>(g));
  }
  if (file.childObjType(object) == H5O_TYPE_GROUP) {
    H5::Group g = file.openGroup(object);
    return f(static_cast<H5::H5Object&>(g));
  }
  H5::DataSet d = file.openDataSet(object);
  return f(static_cast<H5::H5Object&>(d));
}
}  // namespace

bool H5Reader::has_attr(const std::string& object, const std::string& key) const {
  if (object != "/" && !object.empty() && !has(object)) return false;
  try {
    return with_object(impl_->file, object, [&](H5::H5Object& o) { return o.attrExists(key); });
  } catch (const H5::Exception&) {
    return false;
  }
}

H5Attr H5Reader::attr(const std::string& object, const std::string& key) const {
  if (!has_attr(object, key))
    throw UserError(fmt::format("{}: missing attribute '{}' on '{}'", path_.string(), key, object));
  try {
    return with_object(impl_->file, object, [&](H5::H5Object& o) { return read_attr(o.openAttribute(key)); });
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot read attribute '{}' ({})", path_.string(), key, e.getDetailMsg()));
  }
}

std::string H5Reader::attr_string(const std::string& object, const std::string& key) const {
  auto v = attr(object, key);
  if (auto s = std::get_if<std::string>(&v)) return *s;
  throw UserError(fmt::format("{}: attribute '{}' on '{}' is not a string", path_.string(), key, object));
}

double H5Reader::attr_double(const std::string& object, const std::string& key) const {
  auto v = attr(object, key);
  if (auto d = std::get_if<double>(&v)) return *d;
  if (auto i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw UserError(fmt::format("{}: attribute '{}' on '{}' is not a number", path_.string(), key, object));
}

int64_t H5Reader::attr_int(const std::string& object, const std::string& key) const {
  auto v = attr(object, key);
  if (auto i = std::get_if<int64_t>(&v)) return *i;
  throw UserError(fmt::format("{}: attribute '{}' on '{}' is not an integer", path_.string(), key, object));
}

std::vector<std::string> H5Reader::attr_names(const std::string& object) const {
  try {
    return with_object(impl_->file, object, [&](H5::H5Object& o) {
      std::vector<std::string> names;
      for (int i = 0; i < o.getNumAttrs(); ++i) names.push_back(o.openAttribute(static_cast<unsigned>(i)).getName());
      std::sort(names.begin(), names.end());
      return names;
    });
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot list attributes of '{}' ({})", path_.string(), object, e.getDetailMsg()));
  }
}

std::vector<std::string> H5Reader::list(const std::string& group) const {
  try {
    H5::Group g = impl_->file.openGroup(group.empty() ? "/" : group);
    std::vector<std::string> names;
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
    std::sort(names.begin(), names.end());
    return names;
  } catch (const H5::Exception& e) {
    throw UserError(fmt::format("{}: cannot list group '{}' ({})", path_.string(), group, e.getDetailMsg()));
  }
}

}  // namespace jcas
