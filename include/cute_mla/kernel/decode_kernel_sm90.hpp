// The SM90 MLA decode kernel.
//
// Grid: (num_sm_parts, query tiles, h_kv); one CTA per SM (230 KB of shared
// memory). blockIdx.x picks the scheduler part, a contiguous run of (request,
// page) work; blockIdx.y the 64-row query tile; blockIdx.z the KV head.
// Block: 384 threads = consumer warpgroups 0 and 1 (softmax and both GEMMs on
// wgmma) + producer warpgroup 2, whose warp 8 issues the TMA loads of Q and
// the KV pages (two stages); setmaxnreg moves the producer's registers to
// the consumers.
//
// Why this schedule (measured on an H100, bench quick grid, graph replay;
// bench/notes/tuning-log.md has every version):
//   * Memory-bound range (h_q * s_q <= 64): a 64-key page needs ~1.5 us of
//     tensor work and ~3.2 us of HBM time per SM, so the consumers may work in
//     lockstep as long as the copy engine never idles; the producer warp with
//     its own full/empty barriers keeps the next page in flight. Measured:
//     95 % of the copy ceiling at b=128 h_q=16 L=16K.
//   * Warpgroup 0 alone computes S (N = 64): with S split by keys over both
//     warpgroups (N = 32) each SS wgmma re-read Q, S was smem-bound (1728 vs
//     1152 cycles per page); the change took b=128 s_q=2 h_q=128 L=16K from
//     2576 to 2200 us (459 -> 537 TFLOP/s).
//   * Issuing S of the next page before P V (to fill the softmax gap) was
//     11 % slower with two KV stages: the next page is then needed ~0.6 us
//     earlier and its wait delays P V and the stage release. Closing the
//     compute-bound gap needs per-box barriers and box-granular refill (or a
//     third stage), not this reordering.
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>
#include <cutlass/arch/reg_reconfig.h>

#include "cute_mla/collective/consumer_sm90.hpp"
#include "cute_mla/collective/producer_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/decode_traits_sm90.hpp"

namespace cute_mla::kernel {

template <class Element>
__global__ void __launch_bounds__(DecodeTraitsSm90<Element>::kThreads, 1)
    decode_kernel_sm90(__grid_constant__ const DecodeParamsSm90 params) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Traits = DecodeTraitsSm90<Element>;
  using Storage = typename Traits::SharedStorage;
  extern __shared__ char smem_raw[];
  char* aligned = reinterpret_cast<char*>(
      (reinterpret_cast<uintptr_t>(smem_raw) + uintptr_t(1023)) & ~uintptr_t(1023));
  Storage& ss = *reinterpret_cast<Storage*>(aligned);

  const SchedMeta sched = params.sched_meta[blockIdx.x];
  if (sched.empty()) return;
  const int32_t m_tile = blockIdx.y;
  const int32_t kv_head = blockIdx.z;
  const int warp = threadIdx.x / 32;

  if (threadIdx.x == 0) {
    cutlass::arch::ClusterTransactionBarrier::init(&ss.q_full, 1);
    cutlass::arch::ClusterBarrier::init(&ss.q_empty, Traits::kWarpgroupThreads);  // S readers
    CUTE_UNROLL
    for (int s = 0; s < Traits::kStages; ++s) {
      cutlass::arch::ClusterTransactionBarrier::init(&ss.kv_full[s], 1);
      cutlass::arch::ClusterBarrier::init(&ss.kv_empty[s], Traits::kConsumerThreads);
    }
    cutlass::arch::fence_barrier_init();
  }
  __syncthreads();
  // The combine kernel may be scheduled now; its griddepcontrol.wait still
  // waits for this whole grid to finish and flush.
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");

  if (warp >= Traits::kProducerWarp) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kProducerRegisters>();
    if (warp == Traits::kProducerWarp && cute::elect_one_sync()) {
      cute::prefetch_tma_descriptor(&params.tma_q);
      cute::prefetch_tma_descriptor(&params.tma_q_rope);
      cute::prefetch_tma_descriptor(&params.tma_kv);
      cute::prefetch_tma_descriptor(&params.tma_kv_rope);
      collective::ProducerSm90<Traits>::run(params, sched, ss, m_tile, kv_head);
    }
  } else {
    cutlass::arch::warpgroup_reg_alloc<Traits::kConsumerRegisters>();
    collective::ConsumerSm90<Traits>::run(params, sched, ss, m_tile, kv_head);
  }
#endif
}

}  // namespace cute_mla::kernel
