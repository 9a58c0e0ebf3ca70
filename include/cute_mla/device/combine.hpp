// Host adapter for the combine kernel. Launched with programmatic dependent
// launch so its CTAs are resident, and past their prologue, while the decode
// kernel drains; griddepcontrol.wait inside orders the reads.
#pragma once

#include <cuda_runtime_api.h>

#include "cute_mla/arguments.hpp"
#include "cute_mla/device/device_info.hpp"
#include "cute_mla/kernel/combine_kernel.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla::device {

template <class Element>
struct Combine {
  using Cfg = kernel::CombineConfig;

  static CheckResult can_implement(CombineArguments const& a);
  static dim3 grid(CombineArguments const& a);
  static CheckResult run(CombineArguments const& a, cudaStream_t stream);
};

// Defined outside the class (not implicitly inline) so that the
// `extern template` declarations in instantiations.hpp suppress them.
template <class Element>
CheckResult Combine<Element>::can_implement(CombineArguments const& a) {
  if (a.batch < 1 || a.num_heads_kv < 1 || a.num_heads_q % a.num_heads_kv != 0 ||
      a.seqlen_q < 1 || a.max_splits < 1 || a.max_splits > Limits::kMaxParts ||
      a.head_dim_v != MlaShape::kHeadDimV)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "combine: sizes out of range (batch %d, s_q %d, h_q %d, h_kv "
                              "%d, max_splits %d, head_dim_v %d)",
                              a.batch, a.seqlen_q, a.num_heads_q, a.num_heads_kv,
                              a.max_splits, a.head_dim_v);
  if (!a.o_accum || !a.lse_accum || !a.num_splits || !a.out || !a.lse)
    return CheckResult::error(Status::kErrorInvalidValue, "combine: null pointer");
  return current_sm90_device(nullptr);
}

template <class Element>
dim3 Combine<Element>::grid(CombineArguments const& a) {
  const int rows = a.seqlen_q * (a.num_heads_q / a.num_heads_kv);
  const int g = Cfg::warps_per_row(a.batch, a.num_heads_kv, rows);
  const int rows_per_cta = Cfg::kWarps / g;
  const int groups = (rows + rows_per_cta - 1) / rows_per_cta;
  return dim3(a.batch, a.num_heads_kv * groups, Cfg::kColChunks / Cfg::chunks_per_warp(g));
}

template <class Element>
CheckResult Combine<Element>::run(CombineArguments const& a, cudaStream_t stream) {
  CheckResult r = can_implement(a);
  if (!r.ok()) return r;
  const int32_t warps_per_row =
      Cfg::warps_per_row(a.batch, a.num_heads_kv, a.seqlen_q * (a.num_heads_q / a.num_heads_kv));
  auto* fn = Cfg::chunks_per_warp(warps_per_row) == 1
                 ? kernel::combine_kernel<Element, 1>
                 : kernel::combine_kernel<Element, Cfg::kColChunks>;
  const int64_t smem = Cfg::shared_bytes(a.max_splits);
  r = allow_shared_memory(fn, smem);
  if (!r.ok()) return r;

  cudaLaunchConfig_t config = {};
  config.gridDim = grid(a);
  config.blockDim = dim3(Cfg::kThreads, 1, 1);
  config.dynamicSmemBytes = static_cast<size_t>(smem);
  config.stream = stream;
  cudaLaunchAttribute attr[1] = {programmatic_serialization()};
  config.attrs = attr;
  config.numAttrs = programmatic_launch_enabled() ? 1 : 0;
  cudaError_t e = cudaLaunchKernelEx(&config, fn, a, warps_per_row);
  if (e != cudaSuccess) return cuda_error("combine_kernel launch", e);
  return CheckResult::success();
}

}  // namespace cute_mla::device
