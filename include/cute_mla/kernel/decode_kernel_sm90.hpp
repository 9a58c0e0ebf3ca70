// The SM90 MLA decode kernel.
//
// Grid: (num_sm_parts, query tiles, h_kv); one CTA per SM (225 KB of shared
// memory). blockIdx.x picks the scheduler part, a contiguous run of (request,
// page) work; blockIdx.y the 64-row query tile; blockIdx.z the KV head. With
// an even number of query tiles, clusters of two CTAs (tiles 2k, 2k+1) walk
// the same pages, and each CTA loads every other box of a page for both
// (TMA multicast).
// Block: 512 threads = warpgroup 0 (S and softmax), warpgroups 1 and 2 (half
// of O each: P V), warpgroup 3 whose warp 12 issues the TMA loads of Q and of
// the KV pages (two stages, three box groups each) and whose warp 14
// publishes a two-piece request's first partial (ConsumerSm90::publish);
// setmaxnreg moves registers from the S and producer warpgroups to the P V
// ones. Each part's requests are walked last to first (part_pieces.hpp).
// Launched with programmatic dependent launch (unless CUTE_MLA_PDL=0): every
// CTA waits for the previous kernel on the stream before its first global
// access, and lets the combine kernel launch once past its setup.
//
// Why this schedule (measured on an H100, bench quick grid, graph replay;
// bench/notes/tuning-log.md has every version):
//   * Memory-bound range (h_q * s_q <= 64): a 64-key page needs ~1.5 us of
//     tensor work and ~3.2 us of HBM time per SM; the producer warp with its
//     own full/empty barriers keeps the next page in flight. Measured: 95 %
//     of the copy ceiling at b=128 h_q=16 L=16K.
//   * One warpgroup computes S at N = 64: with S split by keys over two
//     warpgroups (N = 32) each SS wgmma re-read Q and S was smem-bound (1728
//     vs 1152 cycles per page).
//   * h_q = 128: ncu showed L2 at 97 % of its throughput (b=128 L=16K): both
//     query tiles' CTAs read every page from L2. Multicast in clusters of two
//     took that point from 1183 to 1079 us.
//   * S in its own warpgroup, P V in two others: S of page t+1 runs while
//     P V of page t does. With two 72 KB stages (all that fits next to Q) a
//     page is resident from its S to its P V, so any deeper overlap exposes
//     the next page's load; ncu (s_q=2) shows warpgroup 0 busy all the time,
//     ~70 % in S and ~30 % in the softmax, and the P V warpgroups waiting
//     for P. b=128 s_q=2 h_q=128 L=16K: 2200 -> 2066 us (with a cheaper
//     softmax and three box barriers instead of nine).
//   * Not FlashMLA's two warpgroups computing S and P V of alternate pages:
//     built three times (2026-11-22, 2026-12-07 twice), exact, and 1.16-1.51x
//     slower at h_q = 128 (1840 -> 2622 us at s_q = 2 L = 16K for the last):
//     with two stages a page is held until the later warpgroup's P V of it,
//     which puts load latency, S and softmax in series
//     (bench/notes/design-two-page-warpgroups.md).
//   * Not a stage released in parts as P.V retires them (box release), nor
//     the next page's S issued before this page's softmax (S ahead): with
//     the load early the S warpgroup's own loop binds (S, softmax and
//     ~1500 cycles of posting and release a page; b=128 s_q=2 L=16K 1822 us,
//     box release 1846, S ahead 2717: it waits for a page only P.V's
//     release lets in). Nor, with the load early, work taken off the S
//     warpgroup's loop: the P.V warps releasing the stage for it (+2.3 % at
//     s_q = 2), P.V with P from registers (+2.5 %), or the softmax moved into
//     the P.V warpgroups (+7.4 %; its own loop shrank, but S stretched
//     1672 -> 2468 cycles a page: P.V's wgmmas then run under S on the
//     same tensor cores). Box release and these three are kept at commit
//     efce424 (bench/notes/tuning-log.md, sessions 18-19).
//   * Built, not yet measured (CUTE_MLA_VALUES_ISSUE_LOADS=1, off): no
//     producer warpgroup (384 threads, a P.V warp issues the loads) so that
//     P.V can be one m64n256 wgmma per k-step, reading P once; at s_q = 2
//     S + P.V on the tensor pipe (~1670 + ~1400 cycles a page) is nearly the
//     whole tile. bench/wgmma_rate.cu measures the two shapes first.
#pragma once

#include <cute/arch/cluster_sm90.hpp>
#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>
#include <cutlass/arch/reg_reconfig.h>

#include "cute_mla/collective/consumer_sm90.hpp"
#include "cute_mla/collective/producer_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/decode_traits_sm90.hpp"
#include "cute_mla/kernel/grid_dependency.hpp"

namespace cute_mla::kernel {

template <class Element>
__global__ void __launch_bounds__(DecodeTraitsSm90<Element>::kThreads, 1)
    decode_kernel_sm90(__grid_constant__ const DecodeParamsSm90 params) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using Traits = DecodeTraitsSm90<Element>;
  using Storage = typename Traits::SharedStorage;
#if defined(CUTE_MLA_TRACE)
  static_assert(Traits::kSharedBytes + sizeof(trace::Local) <= Traits::kMaxSharedBytes,
                "trace::kWindow: the stamps must fit the shared memory the kernel leaves");
#endif
  extern __shared__ char smem_raw[];
  // Offset the shared array itself (not an integer cast of its address), so
  // the compiler keeps seeing shared memory: LDS/STS rather than generic
  // LD/ST, which compute-sanitizer's racecheck can also follow.
  const uint32_t misalign = cute::cast_smem_ptr_to_uint(smem_raw) & 1023u;
  Storage& ss = *reinterpret_cast<Storage*>(smem_raw + ((1024u - misalign) & 1023u));

  const int32_t m_tile = blockIdx.y;
  const int32_t kv_head = blockIdx.z;
  const int warp = threadIdx.x / 32;

  // The tensor maps live in the kernel parameters, which no earlier kernel
  // writes: fetched before the wait below.
  if (threadIdx.x == Traits::kLoaderWarp * 32) {
    cute::prefetch_tma_descriptor(&params.tma_q);
    cute::prefetch_tma_descriptor(&params.tma_q_rope);
    cute::prefetch_tma_descriptor(&params.tma_kv);
    cute::prefetch_tma_descriptor(&params.tma_kv_rope);
  }
  // Launched with programmatic dependent launch (device/mla_decode.hpp): the
  // CTAs may be resident while the previous kernel on the stream (the
  // metadata kernel, or whatever wrote q, the cache or the lengths) still
  // runs. Every global read and write comes after this wait, which returns
  // once that kernel has finished and its writes are visible; without the
  // launch attribute it returns at once.
  wait_for_primary();
  // Loaded here, tested after the barrier setup below, which hides most of
  // the load's DRAM latency. A cluster's CTAs share blockIdx.x, so both
  // leave together.
  const SchedMeta sched = params.sched_meta[blockIdx.x];
  if (threadIdx.x == 0) {
    trace::init();
    cutlass::arch::ClusterTransactionBarrier::init(&ss.q_full, 1);
    cutlass::arch::ClusterBarrier::init(&ss.q_empty, Traits::kWarpgroupThreads);  // S readers
    CUTE_UNROLL
    for (int s = 0; s < Traits::kStages; ++s) {
      CUTE_UNROLL
      for (int g = 0; g < Traits::kBoxGroups; ++g)
        cutlass::arch::ClusterTransactionBarrier::init(&ss.kv_full[s][g], 1);
      // One arrival per reading warp of every CTA of the cluster (the S warps
      // after S, the P.V warps after P.V): a multicast load overwrites the
      // stage in all of them.
      // (Constant counts: init asserts a nonzero count at run time otherwise.)
      if (params.cluster_tiles > 1)
        cutlass::arch::ClusterBarrier::init(&ss.kv_empty[s], Traits::kConsumerWarps * 2);
      else
        cutlass::arch::ClusterBarrier::init(&ss.kv_empty[s], Traits::kConsumerWarps);
    }
    cutlass::arch::fence_barrier_init();
  }
  // The peers' barriers must be initialised before any multicast or remote arrive.
  if (params.cluster_tiles > 1) {
    cute::cluster_arrive_relaxed();
    cute::cluster_wait();
  } else {
    __syncthreads();
  }
  if (sched.empty()) return;
  // The combine kernel may be scheduled now; its griddepcontrol.wait still
  // waits for this whole grid to finish and flush. After this CTA's own
  // wait above, so that what the combine reads ahead of its wait (num_splits,
  // written by the metadata kernel) is complete when it starts.
  allow_dependents();

  if (!Traits::kValuesIssueLoads && warp >= Traits::kProducerWarp) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kProducerRegisters>();
    if (warp == Traits::kProducerWarp && cute::elect_one_sync()) {
      collective::ProducerSm90<Traits>::run(params, sched, ss, m_tile, kv_head);
    }
#if defined(CUTE_MLA_TRACE)
    if (warp == Traits::kProducerWarp + 1 && cute::elect_one_sync())
      collective::ProducerSm90<Traits>::observe(params, sched, ss);
#endif
    if (warp == Traits::kProducerWarp + 2)
      collective::ConsumerSm90<Traits>::publish(params, sched, m_tile, kv_head);
  } else if (warp < Traits::kWarpgroupThreads / 32) {
    cutlass::arch::warpgroup_reg_dealloc<Traits::kScoreRegisters>();
    collective::ConsumerSm90<Traits>::run_scores(params, sched, ss, m_tile, kv_head);
  } else {
    cutlass::arch::warpgroup_reg_alloc<Traits::kPvRegisters>();
    collective::ConsumerSm90<Traits>::run_values(params, sched, ss, m_tile, kv_head);
  }
  // No CTA may exit while a peer can still arrive on its barriers.
  if (params.cluster_tiles > 1) cute::cluster_sync();
#if defined(CUTE_MLA_TRACE)
  __syncthreads();
  if (threadIdx.x == 0) trace::flush();
#endif
#endif
}

}  // namespace cute_mla::kernel
