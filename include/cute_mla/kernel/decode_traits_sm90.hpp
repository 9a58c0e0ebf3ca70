// Compile-time configuration of the SM90 decode kernel for one element type:
// tile sizes, shared-memory layouts, tiled MMAs and the shared storage.
//
// One CTA serves a 64-row query tile of one KV head and walks the (request,
// page) range its scheduler part names. Threads: the S warpgroup, two P V
// warpgroups and one producer warpgroup (512), of which one warp issues the
// copies (384 and no producer warpgroup with the experiment below). Warpgroup 0 computes S = Q K^T for all 64 keys of a page (N = 64)
// and the softmax; warpgroups 1 and 2 do O += P V, warpgroup 1 + h for
// O[:, 256h : 256h + 256).
//
// Why one warpgroup computes S: each SS wgmma reads its A operand (Q) from
// shared memory again. Split by keys over two warpgroups (N = 32 each), S
// reads 216 KB of smem per page, 1728 cycles at 128 B/clk, more than its
// 1152 tensor cycles; at N = 64 it reads 144 KB (1152 cycles). Measured on
// the H100 (bench quick grid): 2.45 us per page at b=128 s_q=2 h_q=128 with
// N = 32 split over both warpgroups.
#pragma once

#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cutlass/numeric_types.h>

#include "cute_mla/mla_shape.hpp"

// An experiment, off by default (CUTE_MLA_VALUES_ISSUE_LOADS=1 builds it): no
// producer warpgroup; a P.V warp issues the TMA loads (a page's refill right
// after its own P.V of the page two before), so the CTA has 384 threads,
// ptxas may give an instruction 168 registers instead of 128, and each P.V
// warpgroup issues one m64n256 wgmma per k-step instead of two m64n128
// (which read P from shared memory twice). bench/wgmma_rate.cu measures what
// the shape alone is worth.
#ifndef CUTE_MLA_VALUES_ISSUE_LOADS
#define CUTE_MLA_VALUES_ISSUE_LOADS 0
#endif
// A second experiment, off by default (CUTE_MLA_P_IN_REGISTERS=1): each P.V
// warpgroup reads P into registers by ldmatrix (once, not once per wgmma),
// arrives on kProbsConsumed at once and issues P.V as RS wgmmas; the S
// warpgroup posts P without a proxy fence. With CUTE_MLA_VALUES_ISSUE_LOADS
// the RS wgmma is m64n256 (bench/wgmma_rate.cu's "RS 1 x m64n256").
#ifndef CUTE_MLA_P_IN_REGISTERS
#define CUTE_MLA_P_IN_REGISTERS 0
#endif

namespace cute_mla::kernel {

template <class Element_>
struct DecodeTraitsSm90 {
  using Element = Element_;
  static_assert(sizeof(Element) == 2, "BF16 or FP16 operands");

  static constexpr int kBlockM = 64;                       // query rows per tile
  static constexpr int kBlockN = MlaShape::kPageSize;      // keys per tile: one page
  static constexpr int kHeadDim = MlaShape::kHeadDimQK;    // 576
  static constexpr int kHeadDimV = MlaShape::kHeadDimV;    // 512
  // A 128-byte swizzle row holds 64 16-bit elements: each TMA box is 64 wide.
  static constexpr int kBoxCols = 64;
  static constexpr int kBoxes = kHeadDim / kBoxCols;       // 9 boxes per tile
  static constexpr int kLatentBoxes = kHeadDimV / kBoxCols;  // 8, then the RoPE box
  // A page lands in groups of boxes, each on its own barrier: S starts on
  // the first group while the others are in flight. Three, not nine: each
  // wait on a barrier that has already completed still cost WG0 ~50 cycles
  // (ncu source counters, b=128 s_q=2 h_q=128), on its critical path.
  static constexpr int kBoxesPerGroup = 3;
  static constexpr int kBoxGroups = kBoxes / kBoxesPerGroup;
  CUTE_HOST_DEVICE static constexpr int group_of_box(int c) { return c / kBoxesPerGroup; }
  static constexpr int kStages = 2;                        // KV pages in flight
  static constexpr int kWarpgroupThreads = 128;
  // Warpgroup 0 computes S and the softmax; warpgroups 1 and 2 each own half
  // of O and compute P V for it; warpgroup 3 is the producer.
  static constexpr int kPvWarpgroups = 2;
  static constexpr int kConsumerWarpgroups = 1 + kPvWarpgroups;
  static constexpr int kConsumerThreads = kConsumerWarpgroups * kWarpgroupThreads;  // 384
  static constexpr int kConsumerWarps = kConsumerThreads / 32;                       // 12
  static constexpr bool kValuesIssueLoads = CUTE_MLA_VALUES_ISSUE_LOADS != 0;
  // The warp whose elected lane issues the TMA loads: the producer
  // warpgroup's first (warp 12), or the first P.V warp (warp 4).
  static constexpr int kLoaderWarp = kValuesIssueLoads ? kWarpgroupThreads / 32 : kConsumerWarps;
  static constexpr int kProducerWarp = kConsumerWarps;                               // warp 12
  static constexpr int kThreads = kConsumerThreads + (kValuesIssueLoads ? 0 : kWarpgroupThreads);  // 512
  // setmaxnreg budgets: 128 x (112 + 2 x 184 + 32) = 65536 registers, the
  // pool a 512-thread CTA gets at launch (128 each). A P.V warpgroup holds its
  // 64 x 256 fp32 O accumulator (128 registers); the S warpgroup holds S
  // (32) and its bf16 copy. Without the producer warpgroup: 384 x 168 at
  // launch, 128 x (112 + 2 x 192) of it used.
  static constexpr int kScoreRegisters = 112;
  static constexpr int kPvRegisters = kValuesIssueLoads ? 192 : 184;
  static constexpr int kProducerRegisters = 32;
  static constexpr int kLaunchRegisters = 65536 / kThreads / 8 * 8;  // per thread, at launch
  static_assert(kWarpgroupThreads * (kScoreRegisters + kPvWarpgroups * kPvRegisters +
                                     (kValuesIssueLoads ? 0 : kProducerRegisters)) <=
                    kThreads * kLaunchRegisters, "register pool");
  static constexpr int kColsPerWarpgroup = kHeadDimV / kPvWarpgroups;  // 256
  // Columns of O per P.V wgmma (see TiledMmaO).
  static constexpr int kColsPerPvMma = kValuesIssueLoads ? kColsPerWarpgroup : kColsPerWarpgroup / 2;
  static constexpr bool kPInRegisters = CUTE_MLA_P_IN_REGISTERS != 0;
  static_assert(kHeadDim % kBoxCols == 0 && kHeadDimV % kBoxCols == 0, "whole boxes");
  static_assert(kBlockN == 64, "a KV tile is one 64-token page");

  using BlockM = cute::Int<kBlockM>;
  using BlockN = cute::Int<kBlockN>;
  using HeadDim = cute::Int<kHeadDim>;
  using HeadDimV = cute::Int<kHeadDimV>;
  static constexpr int kHeadDimRope = MlaShape::kHeadDimRope;  // 64
  using ColsPerWg = cute::Int<kColsPerWarpgroup>;

  // Q and each KV stage: (rows, 576) K-major, 128-byte swizzle; the 9 column
  // boxes of 64 lie one after another, exactly as 9 TMA boxes write them.
  using SmemLayoutQ = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockM, HeadDim>{}));
  using SmemLayoutK = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockN, HeadDim>{}));
  // The same bytes as V^T (512 dims, 64 keys), MN-major, for the P.V GEMM.
  using SmemLayoutVt = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_MN_SW128_Atom<Element>{}, cute::Shape<HeadDimV, BlockN>{},
      cute::Step<cute::_2, cute::_1>{}));
  // P (64 rows, 64 keys), K-major: both halves, read by both warpgroups.
  using SmemLayoutP = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockM, BlockN>{}));

  // S = Q . K^T: 64 x 64 x 576 on warpgroup 0, both operands in smem.
  using TiledMmaS = decltype(cute::make_tiled_mma(
      cute::GMMA::ss_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, BlockN, HeadDim>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::K>()));
  // O_h += P . V_h: 64 x 256 x 64 per warpgroup, P and V in smem, as two
  // 64 x 128 wgmmas per k-step: ptxas checks every instruction against the
  // launch limit of 128 registers (512 threads), which an m64n256 fp32
  // accumulator alone fills, although setmaxnreg gives the warpgroup 184
  // ("C7602 Insufficient registers (128) ... register target of 154").
  // With 384 threads (CUTE_MLA_VALUES_ISSUE_LOADS) one m64n256.
  // (P from registers with CUTE_MLA_P_IN_REGISTERS: RS.)
  static constexpr auto pv_op() {
    using PvShape = cute::Shape<BlockM, cute::Int<kColsPerPvMma>, BlockN>;
    if constexpr (kPInRegisters)
      return cute::GMMA::rs_op_selector<Element, Element, float, PvShape, cute::GMMA::Major::K,
                                        cute::GMMA::Major::MN>();
    else
      return cute::GMMA::ss_op_selector<Element, Element, float, PvShape, cute::GMMA::Major::K,
                                        cute::GMMA::Major::MN>();
  }
  using TiledMmaO = decltype(cute::make_tiled_mma(pv_op()));

  static constexpr int kTileBytes = kBlockM * kHeadDim * int(sizeof(Element));  // Q or KV
  static constexpr int kBoxBytes = kBlockN * kBoxCols * int(sizeof(Element));    // 8 KB
  static_assert(kBoxes % kBoxesPerGroup == 0, "whole groups");

  struct SharedStorage {
    alignas(1024) Element q[cute::cosize_v<SmemLayoutQ>];
    alignas(1024) Element kv[kStages][cute::cosize_v<SmemLayoutK>];
    alignas(1024) Element p[cute::cosize_v<SmemLayoutP>];
    float row_scale[kBlockM];  // this page's rescale of O per row, for the P.V warpgroups
    float row_sum[kBlockM];    // the final row sums, for the P.V warpgroups
    float row_lse[kBlockM];    // a two-piece request's own base-2 LSE per row
    int32_t pair_ready;        // a pair's first piece has published (1) or timed out (0)
    alignas(8) uint64_t q_full;
    uint64_t q_empty;
    uint64_t kv_full[kStages][kBoxGroups];  // one per group of boxes
    uint64_t kv_empty[kStages];
  };
  // The dynamic shared memory base is only 16-byte aligned: ask for 1 KiB
  // more and align by hand.
  static constexpr int kSharedBytes = int(sizeof(SharedStorage)) + 1024;
  static constexpr int kMaxSharedBytes = 227 * 1024;  // SM90, per CTA, static + dynamic
  static_assert(kSharedBytes <= kMaxSharedBytes, "one CTA per SM: at most 227 KiB of smem");
};

}  // namespace cute_mla::kernel
