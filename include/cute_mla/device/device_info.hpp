// The host-side architecture check (the other one is the device-side guard in
// each kernel) and the launch helpers every host adapter shares.
//
// Both are on every launch's path, and what they ask the driver never changes
// within a process (a device's compute capability; a kernel's shared-memory
// limit once raised), so each answer is asked once per device (and kernel)
// and kept: three cudaDeviceGetAttribute and one cudaFuncSetAttribute per
// launch were a measurable share of the per-call host time.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>

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

// Whether the decode and combine kernels are launched with programmatic
// dependent launch (PDL: each may become resident while the kernel before it
// on the stream drains; both wait for it before touching global memory).
// On by default; CUTE_MLA_PDL=0 in the environment turns it off for the
// process (e.g. for a profiler or a graph tool that does not handle
// programmatic edges), read once.
inline bool programmatic_launch_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("CUTE_MLA_PDL");
    return v == nullptr || !(v[0] == '0' && v[1] == '\0');
  }();
  return enabled;
}

// The launch attribute that lets a kernel (one that calls
// kernel::wait_for_primary before its dependent accesses) start early.
inline cudaLaunchAttribute programmatic_serialization() {
  cudaLaunchAttribute a;
  a.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  a.val.programmaticStreamSerializationAllowed = 1;
  return a;
}

namespace detail {

constexpr int kMaxDevices = 64;

// One slot per device, written once under the mutex and published by `known`.
struct DeviceInfoCache {
  std::mutex fill;
  std::atomic<bool> known[kMaxDevices] = {};
  DeviceInfo info[kMaxDevices];

  static DeviceInfoCache& get() {
    static DeviceInfoCache c;
    return c;
  }
};

inline CheckResult query_device(int device, DeviceInfo* d) {
  d->device = device;
  cudaError_t e = cudaDeviceGetAttribute(&d->major, cudaDevAttrComputeCapabilityMajor, device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(&d->minor, cudaDevAttrComputeCapabilityMinor, device);
  if (e == cudaSuccess)
    e = cudaDeviceGetAttribute(&d->num_sms, cudaDevAttrMultiProcessorCount, device);
  if (e != cudaSuccess) return cuda_error("cudaDeviceGetAttribute", e);
  return CheckResult::success();
}

// The largest dynamic shared memory a kernel has been allowed on a device.
// Kernels of one signature share a pointer type, so the key is the address.
struct SharedMemoryLimits {
  static constexpr int kSlots = 64;
  std::mutex lock;
  const void* fn[kSlots] = {};
  int device[kSlots] = {};
  int64_t bytes[kSlots] = {};
  int used = 0;

  static SharedMemoryLimits& get() {
    static SharedMemoryLimits s;
    return s;
  }

  // The slot of (fn, device), made if there is room; -1 when full (then the
  // attribute is simply set on every call, as before).
  int slot(const void* f, int dev) {
    for (int i = 0; i < used; ++i)
      if (fn[i] == f && device[i] == dev) return i;
    if (used == kSlots) return -1;
    fn[used] = f;
    device[used] = dev;
    bytes[used] = 0;
    return used++;
  }
};

}  // namespace detail

// The current device, which must be an sm_90 (Hopper) GPU: every kernel here
// is compiled for sm_90a only.
inline CheckResult current_sm90_device(DeviceInfo* info) {
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return cuda_error("cudaGetDevice", e);
  DeviceInfo d;
  if (device >= 0 && device < detail::kMaxDevices) {
    auto& cache = detail::DeviceInfoCache::get();
    if (!cache.known[device].load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> guard(cache.fill);
      if (!cache.known[device].load(std::memory_order_relaxed)) {
        CheckResult r = detail::query_device(device, &cache.info[device]);
        if (!r.ok()) return r;
        cache.known[device].store(true, std::memory_order_release);
      }
    }
    d = cache.info[device];
  } else {
    CheckResult r = detail::query_device(device, &d);
    if (!r.ok()) return r;
  }
  if (info) *info = d;
  if (d.major != 9 || d.minor != 0)
    return CheckResult::error(Status::kErrorArchMismatch,
                              "device: cute-mla kernels are built for sm_90a (Hopper); "
                              "cuda:%d is sm_%d%d",
                              d.device, d.major, d.minor);
  return CheckResult::success();
}

// Raise a kernel's dynamic shared memory limit when it needs more than the
// default 48 KiB (a per-function, per-device attribute; allowed while a graph
// is being captured). Only a limit above the one already set reaches the driver.
template <class Kernel>
inline CheckResult allow_shared_memory(Kernel kernel, int64_t bytes) {
  constexpr int64_t kDefault = 48 * 1024;
  if (bytes <= kDefault) return CheckResult::success();
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return cuda_error("cudaGetDevice", e);
  auto& limits = detail::SharedMemoryLimits::get();
  std::lock_guard<std::mutex> guard(limits.lock);
  const int s = limits.slot(reinterpret_cast<const void*>(kernel), dev);
  if (s >= 0 && limits.bytes[s] >= bytes) return CheckResult::success();
  e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(bytes));
  if (e != cudaSuccess) return cuda_error("cudaFuncSetAttribute(max dynamic shared memory)", e);
  if (s >= 0) limits.bytes[s] = bytes;
  return CheckResult::success();
}

}  // namespace cute_mla::device
