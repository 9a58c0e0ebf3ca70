// torch.Tensor objects turned into cute_mla::TensorDesc without linking torch
// and without a DLPack export (Tensor.__dlpack__ costs several microseconds a
// tensor in Python, and the decode passes up to eleven).
// A strided CUDA tensor of exactly torch.Tensor (nearly every call) is read
// through torch's DLPack C exchange API (dlpack_exchange.hpp): one C call
// fills a DLTensor view. Measured on an H100 host (2026-12-06, same run,
// 6.2 us per bare torch.add_): a decode call with out=/lse= 13.3 -> 11.3 us,
// allocating 19.0 -> 16.7 us, against reading the attributes below.
// torch's exchange crashes on sparse, nested, quantized and meta tensors, so
// the properties that rule those out are read first (for every tensor:
// check.hpp then names the argument). Anything else (CPU tensors, subclasses,
// which may override any attribute, a torch without the API) is read
// attribute by attribute: data_ptr(), shape, stride(), dtype, is_cuda/is_cpu,
// get_device(), through torch's own descriptors, looked up once, for an
// exact torch.Tensor.
// No checks here beyond "is this readable": check.hpp decides.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdio>
#include <cstring>

#include "cute_mla/check.hpp"
#include "dlpack_exchange.hpp"
#include "tensor_desc.hpp"

namespace cute_mla::python {

namespace nb = nanobind;

class TorchReader {
 public:
  // Never destroyed: its Python references must not be released after the
  // interpreter has finalized.
  static TorchReader& get() {
    static TorchReader* r = new TorchReader();
    return *r;
  }

  // `h` is None (an optional argument left out) or a torch.Tensor.
  TensorDesc describe(nb::handle h) const {
    TensorDesc t;
    if (h.is_none()) return t;
    t.defined = true;
    PyObject* o = h.ptr();
    const bool exact = Py_TYPE(o) == tensor_type_;
    const Route& r = exact ? direct_ : lookup_;
    const bool cuda = r.is_cuda(o).is(Py_True);
    // Sparse, nested and quantized tensors have no strides (or no data
    // pointer) to read: described as such, check.hpp names the argument.
    if (!r.layout(o).is(strided_) || !r.is_nested(o).is(Py_False) ||
        !r.is_quantized(o).is(Py_False)) {
      t.strided = false;
      t.device = cuda ? DeviceKind::kCUDA
                      : r.is_cpu(o).is(Py_True) ? DeviceKind::kCPU : DeviceKind::kOther;
      return t;
    }
    if (exact && cuda && read_exchanged(o, &t)) return t;

    nb::object ptr = r.data_ptr(o);
    t.data = PyLong_AsVoidPtr(ptr.ptr());
    nb::object shape = r.shape(o);
    nb::object strides = r.stride(o);
    const Py_ssize_t n = PyTuple_Size(shape.ptr());
    if (n < 0 || PyTuple_Size(strides.ptr()) != n) fail();
    t.ndim = int32_t(n);
    for (Py_ssize_t i = 0; i < n && i < TensorDesc::kMaxDims; ++i) {
      t.shape[i] = PyLong_AsLongLong(PyTuple_GetItem(shape.ptr(), i));
      t.strides[i] = PyLong_AsLongLong(PyTuple_GetItem(strides.ptr(), i));
    }
    if (PyErr_Occurred()) throw nb::python_error();

    nb::object dtype = r.dtype(o);
    t.dtype = dtype.is(bf16_)   ? DataType::kBFloat16
              : dtype.is(f16_)  ? DataType::kFloat16
              : dtype.is(f32_)  ? DataType::kFloat32
              : dtype.is(i32_)  ? DataType::kInt32
                                : DataType::kOther;
    // uint8 is the workspace's dtype: its name is known (saves str(dtype),
    // about 0.3 us).
    if (dtype.is(u8_)) name_uint8(&t);
    else if (t.dtype == DataType::kOther) dtype_text(dtype, t.dtype_text, sizeof(t.dtype_text));

    if (cuda) {
      t.device = DeviceKind::kCUDA;
      t.device_id = int32_t(PyLong_AsLong(r.get_device(o).ptr()));
    } else {
      t.device = r.is_cpu(o).is(Py_True) ? DeviceKind::kCPU : DeviceKind::kOther;
    }
    return t;
  }

 private:
  // A strided CUDA torch.Tensor through the exchange API; false (nothing
  // read) where the API is missing or fails, or for a dtype we do not take
  // (the attribute path names it as torch does).
  bool read_exchanged(PyObject* o, TensorDesc* t) const {
    if (api_ == nullptr) return false;
    nb::dlpack::dltensor dl;
    if (api_->dltensor_from_py_object_no_sync(o, &dl) != 0) {
      PyErr_Clear();
      return false;
    }
    t->dtype = dtype_of(dl.dtype);
    if (dl.ndim > TensorDesc::kMaxDims) return false;
    if (t->dtype == DataType::kOther) {
      // uint8 (the workspace, on every call) has a name; any other is named
      // by the attribute path, as torch names it.
      if (!(dl.dtype == nb::dlpack::dtype{uint8_t(nb::dlpack::dtype_code::UInt), 8, 1}))
        return false;
      name_uint8(t);
    }
    t->data = static_cast<char*>(dl.data) + dl.byte_offset;
    t->ndim = dl.ndim;
    int64_t compact = 1;  // strides may be null for a row-major tensor
    for (int i = dl.ndim - 1; i >= 0; --i) {
      t->shape[i] = dl.shape[i];
      t->strides[i] = dl.strides != nullptr ? dl.strides[i] : compact;
      compact *= dl.shape[i];
    }
    t->device = DeviceKind::kCUDA;
    t->device_id = dl.device.device_id;
    return true;
  }

  static void name_uint8(TensorDesc* t) { std::memcpy(t->dtype_text, "uint8", sizeof("uint8")); }

  // One field of a tensor: a property (shape, dtype, is_cuda, is_cpu) or a
  // method called without arguments (data_ptr, stride, get_device), read by
  // name, or through the descriptor found on torch.Tensor once.
  struct Field {
    nb::object name;
    nb::object descr;               // null: look the name up on each read
    descrgetfunc get = nullptr;     // a property's getter slot
    bool method = false;

    nb::object operator()(PyObject* o) const {
      // args[0] is free for the callee to use (PY_VECTORCALL_ARGUMENTS_OFFSET).
      PyObject* args[2] = {nullptr, o};
      PyObject* r;
      if (!descr.is_valid())
        r = method ? PyObject_VectorcallMethod(name.ptr(), args + 1,
                                               1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr)
                   : PyObject_GetAttr(o, name.ptr());
      else
        r = method ? PyObject_Vectorcall(descr.ptr(), args + 1,
                                         1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr)
                   : get(descr.ptr(), o, reinterpret_cast<PyObject*>(Py_TYPE(o)));
      if (!r) throw nb::python_error();
      return nb::steal(r);
    }
  };

  struct Route {
    Field data_ptr, shape, stride, dtype, is_cuda, is_cpu, get_device, layout, is_nested,
        is_quantized;
  };

  TorchReader() {
    nb::module_ torch = nb::module_::import_("torch");
    bf16_ = torch.attr("bfloat16");
    f16_ = torch.attr("float16");
    f32_ = torch.attr("float32");
    i32_ = torch.attr("int32");
    u8_ = torch.attr("uint8");
    nb::object tensor = torch.attr("Tensor");
    tensor_type_ = reinterpret_cast<PyTypeObject*>(tensor.ptr());
    strided_ = torch.attr("strided");
    lookup_ = {field("data_ptr", true), field("shape", false),     field("stride", true),
               field("dtype", false),   field("is_cuda", false),   field("is_cpu", false),
               field("get_device", true), field("layout", false), field("is_nested", false),
               field("is_quantized", false)};
    direct_ = lookup_;
    for (Field* f : {&direct_.data_ptr, &direct_.shape, &direct_.stride, &direct_.dtype,
                     &direct_.is_cuda, &direct_.is_cpu, &direct_.get_device, &direct_.layout,
                     &direct_.is_nested, &direct_.is_quantized}) {
      // Through the class, a descriptor is returned as it is.
      f->descr = nb::steal(PyObject_GetAttr(tensor.ptr(), f->name.ptr()));
      if (f->descr.is_valid())
        f->get = reinterpret_cast<descrgetfunc>(
            PyType_GetSlot(Py_TYPE(f->descr.ptr()), Py_tp_descr_get));
      // Not the descriptor expected (another torch): read it by name.
      if (!f->descr.is_valid() ||
          (f->method ? !PyCallable_Check(f->descr.ptr()) : f->get == nullptr)) {
        PyErr_Clear();
        f->descr = nb::object();
      }
    }
    api_ = exchange_api(tensor);
  }

  // The table torch publishes on torch.Tensor, if this torch has one of a
  // DLPack major version we know (1, from minor 2) with the function used
  // here.
  static const dlpack_exchange::Api* exchange_api(nb::handle tensor_type) {
    PyObject* capsule = PyObject_GetAttrString(tensor_type.ptr(), "__dlpack_c_exchange_api__");
    if (capsule == nullptr) {
      PyErr_Clear();
      return nullptr;
    }
    auto* api = static_cast<const dlpack_exchange::Api*>(
        PyCapsule_GetPointer(capsule, "dlpack_exchange_api"));
    Py_DECREF(capsule);  // the table outlives it: it is static in torch
    if (api == nullptr) {
      PyErr_Clear();
      return nullptr;
    }
    if (api->header.version.major != 1 || api->header.version.minor < 2 ||
        api->dltensor_from_py_object_no_sync == nullptr)
      return nullptr;
    return api;
  }

  static Field field(const char* name, bool method) {
    Field f;
    f.name = nb::steal(PyUnicode_InternFromString(name));
    f.method = method;
    return f;
  }

  [[noreturn]] static void fail() {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "expected a torch.Tensor (shape and stride() disagree)");
    throw nb::python_error();
  }

  // "torch.int64" -> "int64", for messages about dtypes we do not take.
  static void dtype_text(nb::handle dtype, char* buf, int size) {
    nb::str s = nb::str(dtype);
    const char* text = s.c_str();
    if (std::strncmp(text, "torch.", 6) == 0) text += 6;
    std::snprintf(buf, size, "%s", text);
  }

  nb::object bf16_, f16_, f32_, i32_, u8_, strided_;
  PyTypeObject* tensor_type_ = nullptr;
  Route lookup_, direct_;
  const dlpack_exchange::Api* api_ = nullptr;
};

inline TensorDesc describe_torch(nb::handle h) { return TorchReader::get().describe(h); }

}  // namespace cute_mla::python
