// DLPack arrays (torch, CuPy, JAX, ...) as nanobind sees them, turned into
// cute_mla::TensorDesc. No checks here: check.hpp decides.
#pragma once

#include <nanobind/ndarray.h>

#include <cstdio>
#include <optional>

#include "cute_mla/check.hpp"

namespace cute_mla::python {

namespace nb = nanobind;

inline DataType dtype_of(nb::dlpack::dtype t) {
  using nb::dlpack::dtype_code;
  if (t.lanes != 1) return DataType::kOther;
  if (t.code == uint8_t(dtype_code::Bfloat) && t.bits == 16) return DataType::kBFloat16;
  if (t.code == uint8_t(dtype_code::Float) && t.bits == 16) return DataType::kFloat16;
  if (t.code == uint8_t(dtype_code::Float) && t.bits == 32) return DataType::kFloat32;
  if (t.code == uint8_t(dtype_code::Int) && t.bits == 32) return DataType::kInt32;
  return DataType::kOther;
}

// DLPack's name for a dtype, for messages about dtypes we do not take.
inline void dtype_text(nb::dlpack::dtype t, char* buf, int size) {
  using nb::dlpack::dtype_code;
  const char* kind = "dtype";
  switch (dtype_code(t.code)) {
    case dtype_code::Int: kind = "int"; break;
    case dtype_code::UInt: kind = "uint"; break;
    case dtype_code::Float: kind = "float"; break;
    case dtype_code::Bfloat: kind = "bfloat"; break;
    case dtype_code::Complex: kind = "complex"; break;
    case dtype_code::Bool: std::snprintf(buf, size, "bool"); return;
    default: break;
  }
  std::snprintf(buf, size, "%s%d", kind, int(t.bits));
}

template <class... Flags>
TensorDesc describe(nb::ndarray<Flags...> const& a) {
  TensorDesc t;
  t.defined = true;
  t.data = const_cast<void*>(static_cast<const void*>(a.data()));
  t.ndim = int32_t(a.ndim());
  const int n = t.ndim < TensorDesc::kMaxDims ? t.ndim : TensorDesc::kMaxDims;
  for (int i = 0; i < n; ++i) {
    t.shape[i] = int64_t(a.shape(i));
    t.strides[i] = a.stride(i);
  }
  t.dtype = dtype_of(a.dtype());
  if (t.dtype == DataType::kOther) dtype_text(a.dtype(), t.dtype_text, sizeof(t.dtype_text));
  if (a.device_type() == nb::device::cuda::value) t.device = DeviceKind::kCUDA;
  else if (a.device_type() == nb::device::cpu::value) t.device = DeviceKind::kCPU;
  else t.device = DeviceKind::kOther;
  t.device_id = a.device_id();
  return t;
}

template <class... Flags>
TensorDesc describe(std::optional<nb::ndarray<Flags...>> const& a) {
  return a ? describe(*a) : TensorDesc{};
}

}  // namespace cute_mla::python
