// Host adapter for one MLA decode step: can_implement -> get_workspace_size
// -> run (decode kernel, then the combine kernel for split requests), each
// returning a status. The stream and the workspace are arguments of run,
// never part of the kernel parameters.
#pragma once

#include <cuda_runtime_api.h>

#include <cutlass/numeric_types.h>

#include <atomic>
#include <chrono>
#include <type_traits>

#include "cute_mla/arguments.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/collective/paged_kv_tma_sm90.hpp"
#include "cute_mla/device/combine.hpp"
#include "cute_mla/device/device_info.hpp"
#include "cute_mla/kernel/decode_kernel_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/decode_traits_sm90.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla::device {

// A token per initialize() for the two-piece merge's flags (WorkspaceLayout):
// distinct across calls and processes (a workspace may hold a flag a previous
// process left), never 0 (the reset value). A flag holding any other value
// reads as "not yet".
inline uint64_t next_pair_token() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed =
      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) << 17) ^
      uint64_t(reinterpret_cast<uintptr_t>(&counter));
  // splitmix64 of seed + n: consecutive calls give unrelated tokens.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (counter.fetch_add(1) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z | 1;
}

// out, lse and their strides have the same names in DecodeArguments, the
// decode kernel's parameters and CombineArguments.
template <class Dst>
void copy_outputs(DecodeArguments const& a, Dst* d) {
  d->out = a.out;
  d->out_batch_stride = a.out_batch_stride;
  d->out_seq_stride = a.out_seq_stride;
  d->out_head_stride = a.out_head_stride;
  d->lse = a.lse;
  d->lse_batch_stride = a.lse_batch_stride;
  d->lse_head_stride = a.lse_head_stride;
  d->lse_seq_stride = a.lse_seq_stride;
}

template <class Element>
struct MlaDecode {
  using Traits = kernel::DecodeTraitsSm90<Element>;
  static constexpr DataType kElement =
      std::is_same_v<Element, cutlass::half_t> ? DataType::kFloat16 : DataType::kBFloat16;

  static CheckResult can_implement(DecodeArguments const& a);
  static int64_t get_workspace_size(DecodeArguments const& a);
  static CheckResult initialize(DecodeArguments const& a, void* workspace,
                                kernel::DecodeParamsSm90* params);
  static CombineArguments combine_arguments(DecodeArguments const& a, void* workspace);
  static CheckResult run(DecodeArguments const& a, void* workspace, int64_t workspace_bytes,
                         cudaStream_t stream);
  // The decode kernel's and the combine's shared answer (kernel::merge_pairs_in_decode).
  static bool pairs_in_decode(DecodeArguments const& a) {
    return kernel::merge_pairs_in_decode(rows_per_kv_head(a), a.batch, a.num_sm_parts);
  }
};

template <class Element>
CheckResult MlaDecode<Element>::can_implement(DecodeArguments const& a) {
  CheckResult r = check_decode_arguments(a);
  if (!r.ok()) return r;
  if (a.element != kElement)
    return CheckResult::error(Status::kErrorInvalidType,
                              "q: this instantiation takes %s, got %s", dtype_name(kElement),
                              dtype_name(a.element));
  return current_sm90_device(nullptr);
}

template <class Element>
int64_t MlaDecode<Element>::get_workspace_size(DecodeArguments const& a) {
  return WorkspaceLayout::make(a.batch, a.num_sm_parts, a.num_heads_kv, rows_per_kv_head(a),
                               a.head_dim_v)
      .bytes;
}

template <class Element>
CheckResult MlaDecode<Element>::initialize(DecodeArguments const& a, void* workspace,
                                           kernel::DecodeParamsSm90* p) {
  using Loads = collective::PagedKvTmaSm90<Traits>;
  const int32_t hpk = a.num_heads_q / a.num_heads_kv;
  p->heads_pad_log2 = kernel::heads_pad_log2(hpk);
  CheckResult r = Loads::make_q_maps(a, 1 << p->heads_pad_log2, &p->tma_q, &p->tma_q_rope);
  if (!r.ok()) return r;
  r = Loads::make_kv_maps(a, &p->tma_kv, &p->tma_kv_rope);
  if (!r.ok()) return r;
  p->batch = a.batch;
  p->seqlen_q = a.seqlen_q;
  p->heads_per_kv = hpk;
  p->num_heads_kv = a.num_heads_kv;
  p->max_pages_per_seq = a.max_pages_per_seq;
  p->scale_log2 = a.softmax_scale * 1.4426950408889634f;
  p->mask = a.mask;
  p->kv_cache_hint = kernel::kv_cache_hint_for(a.batch, a.num_sm_parts);
  p->cluster_tiles = kernel::cluster_tiles_for(
      kernel::query_tiles(a.seqlen_q, 1 << p->heads_pad_log2, Traits::kBlockM));
  p->block_table = a.block_table;
  p->block_table_stride = a.block_table_stride;
  p->cache_seqlens = a.cache_seqlens;
  p->sched_meta = a.sched_meta;
  p->num_splits = a.num_splits;
  copy_outputs(a, p);
  const WorkspaceLayout w = WorkspaceLayout::make(a.batch, a.num_sm_parts, a.num_heads_kv,
                                                  rows_per_kv_head(a), a.head_dim_v);
  char* base = static_cast<char*>(workspace);
  p->lse_accum = reinterpret_cast<float*>(base + w.lse_offset);
  p->o_accum = reinterpret_cast<float*>(base + w.o_offset);
  p->pair_flags = pairs_in_decode(a)
                      ? reinterpret_cast<uint64_t*>(base + w.flags_offset)
                      : nullptr;
  p->pair_flag_tiles = int32_t(w.flag_tiles);
  p->pair_token = next_pair_token();
  return CheckResult::success();
}

template <class Element>
CombineArguments MlaDecode<Element>::combine_arguments(DecodeArguments const& a,
                                                       void* workspace) {
  const WorkspaceLayout w = WorkspaceLayout::make(a.batch, a.num_sm_parts, a.num_heads_kv,
                                                  rows_per_kv_head(a), a.head_dim_v);
  char* base = static_cast<char*>(workspace);
  CombineArguments c;
  c.batch = a.batch;
  c.seqlen_q = a.seqlen_q;
  c.num_heads_q = a.num_heads_q;
  c.num_heads_kv = a.num_heads_kv;
  c.head_dim_v = a.head_dim_v;
  c.max_splits = a.num_sm_parts;
  c.num_slots = int32_t(w.num_slots);
  c.element = a.element;
  c.o_accum = reinterpret_cast<const float*>(base + w.o_offset);
  c.lse_accum = reinterpret_cast<const float*>(base + w.lse_offset);
  c.num_splits = a.num_splits;
  c.num_splits_ready = true;  // planned before the decode kernel started
  c.pairs_merged = pairs_in_decode(a);
  copy_outputs(a, &c);
  return c;
}

template <class Element>
CheckResult MlaDecode<Element>::run(DecodeArguments const& a, void* workspace,
                                    int64_t workspace_bytes, cudaStream_t stream) {
  CheckResult r = can_implement(a);
  if (!r.ok()) return r;
  const int64_t need = get_workspace_size(a);
  if (workspace_bytes < need || workspace == nullptr)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "workspace: %lld bytes of device memory given, %lld needed",
                              static_cast<long long>(workspace_bytes),
                              static_cast<long long>(need));
  if (a.lse == nullptr)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "lse: required (the combine kernel writes it)");
  kernel::DecodeParamsSm90 params;
  r = initialize(a, workspace, &params);
  if (!r.ok()) return r;

  auto* fn = kernel::decode_kernel_sm90<Element>;
  r = allow_shared_memory(fn, Traits::kSharedBytes);
  if (!r.ok()) return r;
  const dim3 grid(a.num_sm_parts,
                  kernel::query_tiles(a.seqlen_q, 1 << params.heads_pad_log2, Traits::kBlockM),
                  a.num_heads_kv);
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(Traits::kThreads);
  config.dynamicSmemBytes = Traits::kSharedBytes;
  config.stream = stream;
  cudaLaunchAttribute attrs[2];
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = 1;
  attrs[0].val.clusterDim.y = unsigned(params.cluster_tiles);
  attrs[0].val.clusterDim.z = 1;
  attrs[1] = programmatic_serialization();  // the kernel waits before its first global access
  config.attrs = attrs;
  config.numAttrs = programmatic_launch_enabled() ? 2 : 1;
  cudaError_t e = cudaLaunchKernelEx(&config, fn, params);
  if (e == cudaSuccess) e = cudaGetLastError();
  if (e != cudaSuccess) return cuda_error("decode_kernel_sm90 launch", e);
  return Combine<Element>::run(combine_arguments(a, workspace), stream);
}

}  // namespace cute_mla::device
