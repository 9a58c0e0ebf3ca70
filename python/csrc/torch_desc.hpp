// torch.Tensor objects turned into cute_mla::TensorDesc by reading their
// Python attributes (data_ptr(), shape, stride(), dtype, is_cuda/is_cpu,
// get_device()), without linking torch and without a DLPack export: an export
// (Tensor.__dlpack__) costs several microseconds a tensor in Python, these
// reads a few hundred nanoseconds, and the decode passes nine tensors.
// No checks here beyond "is this readable": check.hpp decides.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdio>
#include <cstring>

#include "cute_mla/check.hpp"

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

    nb::object ptr = call(o, data_ptr_);
    t.data = PyLong_AsVoidPtr(ptr.ptr());
    nb::object shape = attr(o, shape_);
    nb::object strides = call(o, stride_);
    const Py_ssize_t n = PyTuple_Size(shape.ptr());
    if (n < 0 || PyTuple_Size(strides.ptr()) != n) fail();
    t.ndim = int32_t(n);
    for (Py_ssize_t i = 0; i < n && i < TensorDesc::kMaxDims; ++i) {
      t.shape[i] = PyLong_AsLongLong(PyTuple_GetItem(shape.ptr(), i));
      t.strides[i] = PyLong_AsLongLong(PyTuple_GetItem(strides.ptr(), i));
    }
    if (PyErr_Occurred()) throw nb::python_error();

    nb::object dtype = attr(o, dtype_);
    t.dtype = dtype.is(bf16_)   ? DataType::kBFloat16
              : dtype.is(f16_)  ? DataType::kFloat16
              : dtype.is(f32_)  ? DataType::kFloat32
              : dtype.is(i32_)  ? DataType::kInt32
                                : DataType::kOther;
    if (t.dtype == DataType::kOther) dtype_text(dtype, t.dtype_text, sizeof(t.dtype_text));

    if (attr(o, is_cuda_).is(Py_True)) {
      t.device = DeviceKind::kCUDA;
      t.device_id = int32_t(PyLong_AsLong(call(o, get_device_).ptr()));
    } else {
      t.device = attr(o, is_cpu_).is(Py_True) ? DeviceKind::kCPU : DeviceKind::kOther;
    }
    return t;
  }

 private:
  TorchReader() {
    nb::module_ torch = nb::module_::import_("torch");
    bf16_ = torch.attr("bfloat16");
    f16_ = torch.attr("float16");
    f32_ = torch.attr("float32");
    i32_ = torch.attr("int32");
    data_ptr_ = intern("data_ptr");
    shape_ = intern("shape");
    stride_ = intern("stride");
    dtype_ = intern("dtype");
    is_cuda_ = intern("is_cuda");
    is_cpu_ = intern("is_cpu");
    get_device_ = intern("get_device");
  }

  static nb::object intern(const char* s) { return nb::steal(PyUnicode_InternFromString(s)); }

  [[noreturn]] static void fail() {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "expected a torch.Tensor (shape and stride() disagree)");
    throw nb::python_error();
  }

  static nb::object attr(PyObject* o, nb::object const& name) {
    PyObject* r = PyObject_GetAttr(o, name.ptr());
    if (!r) throw nb::python_error();
    return nb::steal(r);
  }

  // A method call without arguments; vectorcall skips making a bound method.
  static nb::object call(PyObject* o, nb::object const& name) {
    PyObject* r = PyObject_VectorcallMethod(name.ptr(), &o, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                            nullptr);
    if (!r) throw nb::python_error();
    return nb::steal(r);
  }

  // "torch.int64" -> "int64", for messages about dtypes we do not take.
  static void dtype_text(nb::handle dtype, char* buf, int size) {
    nb::str s = nb::str(dtype);
    const char* text = s.c_str();
    if (std::strncmp(text, "torch.", 6) == 0) text += 6;
    std::snprintf(buf, size, "%s", text);
  }

  nb::object bf16_, f16_, f32_, i32_;
  nb::object data_ptr_, shape_, stride_, dtype_, is_cuda_, is_cpu_, get_device_;
};

inline TensorDesc describe_torch(nb::handle h) { return TorchReader::get().describe(h); }

}  // namespace cute_mla::python
