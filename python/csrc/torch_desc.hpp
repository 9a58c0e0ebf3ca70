// torch.Tensor objects turned into cute_mla::TensorDesc by reading their
// Python attributes (data_ptr(), shape, stride(), dtype, is_cuda/is_cpu,
// get_device()), without linking torch and without a DLPack export: an export
// (Tensor.__dlpack__) costs several microseconds a tensor in Python, these
// reads a few hundred nanoseconds, and the decode passes nine tensors.
// An exact torch.Tensor (nearly every call) is read through torch's own
// descriptors, looked up once, which skips the attribute lookup of every
// read: about 90 of 630 ns a tensor (measured on a 2-core AMD EPYC VM).
// Subclasses may override any of these attributes and keep the lookup.
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
    const Route& r = Py_TYPE(o) == tensor_type_ ? direct_ : lookup_;

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
    // uint8 is the workspace's dtype, read on every call: its name is known
    // (saves str(dtype), about 0.3 us).
    if (dtype.is(u8_)) std::memcpy(t.dtype_text, "uint8", sizeof("uint8"));
    else if (t.dtype == DataType::kOther) dtype_text(dtype, t.dtype_text, sizeof(t.dtype_text));

    if (r.is_cuda(o).is(Py_True)) {
      t.device = DeviceKind::kCUDA;
      t.device_id = int32_t(PyLong_AsLong(r.get_device(o).ptr()));
    } else {
      t.device = r.is_cpu(o).is(Py_True) ? DeviceKind::kCPU : DeviceKind::kOther;
    }
    return t;
  }

 private:
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
    Field data_ptr, shape, stride, dtype, is_cuda, is_cpu, get_device;
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
    lookup_ = {field("data_ptr", true), field("shape", false), field("stride", true),
               field("dtype", false),   field("is_cuda", false), field("is_cpu", false),
               field("get_device", true)};
    direct_ = lookup_;
    for (Field* f : {&direct_.data_ptr, &direct_.shape, &direct_.stride, &direct_.dtype,
                     &direct_.is_cuda, &direct_.is_cpu, &direct_.get_device}) {
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

  nb::object bf16_, f16_, f32_, i32_, u8_;
  PyTypeObject* tensor_type_ = nullptr;
  Route lookup_, direct_;
};

inline TensorDesc describe_torch(nb::handle h) { return TorchReader::get().describe(h); }

}  // namespace cute_mla::python
