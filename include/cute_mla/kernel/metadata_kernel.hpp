// The scheduler-metadata kernel: plans split-KV work on the GPU from the live
// cache_seqlens, so a captured CUDA graph re-plans on every replay with no
// host sync.
//
// Grid: one CTA of kThreads threads. Each thread owns a contiguous chunk of
// requests (b <= 16384: at most 16 each at 1024 threads) and each part in a
// strided loop. Shared memory holds the int64 cost prefix sum (b + 1 entries)
// that every part's binary search reads. All planning arithmetic is
// SplitPlanner's, the same code the CPU path runs.
#pragma once

#include <cstdint>

#include "cute_mla/arguments.hpp"
#include "cute_mla/kernel/block_scan.hpp"
#include "cute_mla/kernel/grid_dependency.hpp"
#include "cute_mla/scheduler.hpp"

namespace cute_mla::kernel {

template <int kThreads_>
struct MetadataKernel {
  static constexpr int kThreads = kThreads_;
  static constexpr int kWarps = kThreads / detail::kWarpSize;
  static_assert(kThreads % detail::kWarpSize == 0 && kWarps <= detail::kWarpSize,
                "the block scan needs whole warps and at most 32 of them");

  static int64_t shared_bytes(int32_t batch) {
    return (int64_t(batch) + 1 + kWarps) * int64_t(sizeof(int64_t));
  }
};

template <int kThreads>
__global__ void __launch_bounds__(kThreads, 1)
    metadata_kernel(__grid_constant__ const MetadataArguments args) {
  extern __shared__ int64_t smem_prefix[];
  // The decode kernel that usually follows may become resident now (it is
  // launched with programmatic dependent launch and waits for this grid to
  // finish before it reads the plan).
  allow_dependents();
  const int32_t batch = args.batch;
  int64_t* prefix = smem_prefix;                  // (b + 1,)
  int64_t* scratch = smem_prefix + batch + 1;     // (warps,)
  SchedulerConfig const& config = args.config;

  const int32_t per_thread = (batch + kThreads - 1) / kThreads;
  const int32_t lo = min(int32_t(threadIdx.x) * per_thread, batch);
  const int32_t hi = min(lo + per_thread, batch);

  // Costs and their prefix sum.
  int64_t local = 0;
  for (int32_t i = lo; i < hi; ++i)
    local += SplitPlanner::request_cost(args.cache_seqlens[i], config);
  int64_t running = detail::block_exclusive_scan(local, scratch);
  for (int32_t i = lo; i < hi; ++i) {
    prefix[i] = running;
    running += SplitPlanner::request_cost(args.cache_seqlens[i], config);
  }
  if (threadIdx.x == kThreads - 1) prefix[batch] = running;
  __syncthreads();
  const SplitPlan plan = SplitPlanner::plan(prefix[batch], batch, config);

  // Splits per request and their exclusive prefix sum.
  int32_t local_splits = 0;
  for (int32_t i = lo; i < hi; ++i)
    local_splits += SplitPlanner::request_splits(prefix[i], prefix[i + 1], plan);
  int32_t splits = int32_t(detail::block_exclusive_scan(int64_t(local_splits), scratch));
  for (int32_t i = lo; i < hi; ++i) {
    splits += SplitPlanner::request_splits(prefix[i], prefix[i + 1], plan);
    args.num_splits[i + 1] = splits;
  }
  if (threadIdx.x == 0) args.num_splits[0] = 0;

  for (int32_t part = threadIdx.x; part < config.num_parts; part += kThreads)
    args.sched_meta[part] = SplitPlanner::make_part(part, prefix, batch, plan);
}

}  // namespace cute_mla::kernel
