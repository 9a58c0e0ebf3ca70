// The host-side architecture check (the other one is the device-side guard in
// each kernel) and the launch helpers every host adapter shares.
#pragma once

#include <cuda_runtime_api.h>

#include "cute_mla/status.hpp"

namespace cute_mla::device {

struct DeviceInfo {
  int device = 0;
  int major = 0;
  int minor = 0;
  int num_sms = 0;
};

inline CheckResult cuda_error(const char* what, cudaError_t e) {
  return CheckResult::error(Status::kErrorCuda, "%s: %s (%s)", what, cudaGetErrorName(e),
                            cudaGetErrorString(e));
}

// The current device, which must be an sm_90 (Hopper) GPU: every kernel here
// is compiled for sm_90a only.
inline CheckResult current_sm90_device(DeviceInfo* info) {
  DeviceInfo d;
  cudaError_t e = cudaGetDevice(&d.device);
  if (e != cudaSuccess) return cuda_error("cudaGetDevice", e);
  e = cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, d.device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(&d.minor, cudaDevAttrComputeCapabilityMinor, d.device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(&d.num_sms, cudaDevAttrMultiProcessorCount, d.device);
  if (e != cudaSuccess) return cuda_error("cudaDeviceGetAttribute", e);
  if (info) *info = d;
  if (d.major != 9 || d.minor != 0)
    return CheckResult::error(Status::kErrorArchMismatch,
                              "device: cute-mla kernels are built for sm_90a (Hopper); "
                              "cuda:%d is sm_%d%d",
                              d.device, d.major, d.minor);
  return CheckResult::success();
}

// Raise a kernel's dynamic shared memory limit when it needs more than the
// default 48 KiB (a per-function attribute; cheap, and allowed while a graph
// is being captured).
template <class Kernel>
inline CheckResult allow_shared_memory(Kernel kernel, int64_t bytes) {
  constexpr int64_t kDefault = 48 * 1024;
  if (bytes <= kDefault) return CheckResult::success();
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes));
  if (e != cudaSuccess) return cuda_error("cudaFuncSetAttribute(max dynamic shared memory)", e);
  return CheckResult::success();
}

}  // namespace cute_mla::device
