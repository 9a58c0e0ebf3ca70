// Host adapter for the scheduler-metadata kernel: one launch on the caller's
// stream, no sync, no allocation (graph-capturable).
#pragma once

#include <cuda_runtime_api.h>

#include "cute_mla/arguments.hpp"
#include "cute_mla/device/device_info.hpp"
#include "cute_mla/kernel/metadata_kernel.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla::device {

template <int kThreads = 1024>
struct MetadataPlanner {
  using Kernel = kernel::MetadataKernel<kThreads>;

  static CheckResult can_implement(MetadataArguments const& a);
  static CheckResult run(MetadataArguments const& a, cudaStream_t stream);
};

// Defined outside the class so that `extern template` suppresses them.
template <int kThreads>
CheckResult MetadataPlanner<kThreads>::can_implement(MetadataArguments const& a) {
  if (a.batch < 1 || a.batch > Limits::kMaxBatch)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "cache_seqlens: batch size must be in [1, %d], got %d",
                              Limits::kMaxBatch, a.batch);
  if (a.config.num_parts < 1 || a.config.num_parts > Limits::kMaxParts)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "tile_scheduler_metadata: parts must be in [1, %d], got %d",
                              Limits::kMaxParts, a.config.num_parts);
  if (a.config.page_size < 1 || a.config.fixed_overhead_blocks < 0)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "config: page_size must be >= 1 and overhead >= 0");
  if (!a.cache_seqlens || !a.sched_meta || !a.num_splits)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "cache_seqlens/tile_scheduler_metadata/num_splits: null pointer");
  return current_sm90_device(nullptr);
}

template <int kThreads>
CheckResult MetadataPlanner<kThreads>::run(MetadataArguments const& a, cudaStream_t stream) {
  CheckResult r = can_implement(a);
  if (!r.ok()) return r;
  const int64_t smem = Kernel::shared_bytes(a.batch);
  r = allow_shared_memory(kernel::metadata_kernel<kThreads>, smem);
  if (!r.ok()) return r;
  kernel::metadata_kernel<kThreads><<<1, kThreads, smem, stream>>>(a);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return cuda_error("metadata_kernel launch", e);
  return CheckResult::success();
}

}  // namespace cute_mla::device
