// The DLPack C exchange API (DLPack >= 1.2): a table of C functions a
// framework publishes as a PyCapsule named "dlpack_exchange_api" on its
// tensor type (`torch.Tensor.__dlpack_c_exchange_api__`: PyTorch 2.11 has
// it), so that a library reads a tensor's DLTensor with no Python call, no
// allocation and no export. Only the layout the DLPack specification fixes
// is declared here; nanobind's dlpack::dltensor is DLTensor.
#pragma once

#include <nanobind/ndarray.h>

#include <cstdint>

namespace cute_mla::python::dlpack_exchange {

struct Version {
  uint32_t major;
  uint32_t minor;
};

struct Header {
  Version version;
  Header* prev_api;  // an older table, for consumers of an older major version
};

// Fills `out` with a view of `py_object` (valid until control returns to
// Python); 0 on success, -1 with a Python exception set.
using DLTensorFromPyObject = int (*)(void* py_object, nanobind::dlpack::dltensor* out);

struct Api {
  Header header;
  void* managed_tensor_allocator;
  void* managed_tensor_from_py_object_no_sync;
  void* managed_tensor_to_py_object_no_sync;
  DLTensorFromPyObject dltensor_from_py_object_no_sync;  // may be null
  void* current_work_stream;
};

}  // namespace cute_mla::python::dlpack_exchange
