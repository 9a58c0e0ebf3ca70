// Compile-time configuration of the SM90 decode kernel for one element type:
// tile sizes, shared-memory layouts, tiled MMAs and the shared storage.
//
// One CTA serves a 64-row query tile of one KV head and walks the (request,
// page) range its scheduler part names. Threads: the S warpgroup, two P V
// warpgroups and one producer warpgroup (512), of which one warp issues the
// copies. Warpgroup 0 computes S = Q K^T for all 64 keys of a page (N = 64)
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

#ifndef CUTE_MLA_BOX_RELEASE
#define CUTE_MLA_BOX_RELEASE 0
#endif
#ifndef CUTE_MLA_RELEASE_BY_VALUES
#define CUTE_MLA_RELEASE_BY_VALUES 0
#endif
#ifndef CUTE_MLA_P_IN_REGISTERS
#define CUTE_MLA_P_IN_REGISTERS 0
#endif
#ifndef CUTE_MLA_SOFTMAX_IN_VALUES
#define CUTE_MLA_SOFTMAX_IN_VALUES 0
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
  // Stage reuse by box (CUTE_MLA_BOX_RELEASE, an experiment): a stage is
  // released in parts as its readers finish with them, the RoPE box after S,
  // then the latent boxes as P.V retires them, and the producer refills each
  // part as it frees, so the next page's first boxes are in flight while P.V
  // still reads the last ones (with one release per stage a page's load
  // latency sat in the stage's round trip,
  // bench/notes/design-two-page-warpgroups.md). The landing groups are the
  // release parts, and S reads them in that order:
  //   1: three parts, {8}, {0, 1, 4, 5}, {2, 3, 6, 7}: each P.V warpgroup's
  //      first 128 columns, then its last (its two m64n128 wgmma groups).
  //   0 (default): groups of three boxes in column order, released whole.
  // Measured no faster (2026-12-07); a finer split (five parts, P.V as four
  // m64n64 groups, CUTE_MLA_BOX_RELEASE=2 at commit 6b4ca70) was slower.
  static constexpr int kBoxRelease = CUTE_MLA_BOX_RELEASE;
  static_assert(kBoxRelease == 0 || kBoxRelease == 1, "CUTE_MLA_BOX_RELEASE is 0 or 1");
  static_assert(kBoxRelease == 0 || kBoxes == 9, "the release parts assume 8 latent boxes + RoPE");
  static constexpr int kBoxGroups = kBoxes / kBoxesPerGroup;
  CUTE_HOST_DEVICE static constexpr int group_of_box(int c) {
    return kBoxRelease == 0 ? c / kBoxesPerGroup : c == kBoxes - 1 ? 0 : c % 4 < 2 ? 1 : 2;
  }
  CUTE_HOST_DEVICE static constexpr int boxes_in_group(int g) {
    return kBoxRelease == 0 ? kBoxesPerGroup : g == 0 ? 1 : 4;
  }
  // Each release part frees the landing groups [part, part + 1) (box
  // release) or all of them (one part).
  static constexpr int kReleaseParts = kBoxRelease != 0 ? kBoxGroups : 1;
  // Every box in one group, and each group's byte count (the producer's
  // expect_tx) matching the boxes that complete it.
  static constexpr bool groups_partition_boxes() {
    for (int g = 0; g < kBoxGroups; ++g) {
      int n = 0;
      for (int c = 0; c < kBoxes; ++c) n += group_of_box(c) == g;
      if (n != boxes_in_group(g)) return false;
    }
    for (int c = 0; c < kBoxes; ++c)
      if (group_of_box(c) < 0 || group_of_box(c) >= kBoxGroups) return false;
    return true;
  }
  static_assert(groups_partition_boxes(), "landing groups must partition the boxes");
  static constexpr int kStages = 2;                        // KV pages in flight
  // Release by the P.V warps (CUTE_MLA_RELEASE_BY_VALUES, an experiment): the
  // S warps never arrive on a stage's empty barrier (a cluster-scope release
  // arrive cost them ~460 cycles a page, trace_decode at the knee); the P.V
  // warps, which see P only after S is done, release for them: the RoPE part
  // right after issuing their P.V (box release), else with their own release.
  static constexpr bool kReleaseByValues = CUTE_MLA_RELEASE_BY_VALUES != 0;
  // P in registers (CUTE_MLA_P_IN_REGISTERS with box release, an
  // experiment): the P.V warpgroups load P by ldmatrix and issue RS wgmmas,
  // so the S warpgroup posts P without a proxy fence (~150 cycles a page on
  // its path, trace_decode).
  static constexpr bool kPInRegisters = CUTE_MLA_P_IN_REGISTERS != 0;
  static_assert(kBoxRelease != 0 || CUTE_MLA_P_IN_REGISTERS == 0,
                "P in registers is built on the box-release P.V path");
  // Softmax in the P.V warpgroups (CUTE_MLA_SOFTMAX_IN_VALUES, an experiment,
  // on box release + release by values + P in registers): the S warpgroup
  // masks S, moves the row maxima on and stores S in fp32 (each thread's 32
  // values in its own 16-byte slots: rows 0-31 in P's buffer, rows 32-63 in
  // the stage's RoPE box, which S has read and only the P.V warps release),
  // then goes on to the next page's S; each P.V warpgroup exponentiates the
  // whole tile itself (the same bits in both), keeps the row sums and feeds
  // P to its RS wgmmas from registers (the S accumulator's fragment order is
  // the A operand's). The S warpgroup's loop loses the exponentials and the
  // bf16 post (bench/notes/tuning-log.md, session 18).
  static constexpr bool kSoftmaxInValues = CUTE_MLA_SOFTMAX_IN_VALUES != 0;
  static_assert(!kSoftmaxInValues || (kBoxRelease == 1 && kReleaseByValues && kPInRegisters),
                "the softmax in the P.V warpgroups needs box release 1, release by values and "
                "P in registers");
  static constexpr int kWarpgroupThreads = 128;
  // Warpgroup 0 computes S and the softmax; warpgroups 1 and 2 each own half
  // of O and compute P V for it; warpgroup 3 is the producer.
  static constexpr int kPvWarpgroups = 2;
  static constexpr int kConsumerWarpgroups = 1 + kPvWarpgroups;
  static constexpr int kConsumerThreads = kConsumerWarpgroups * kWarpgroupThreads;  // 384
  static constexpr int kConsumerWarps = kConsumerThreads / 32;                       // 12
  static constexpr int kProducerWarp = kConsumerWarps;                               // warp 12
  static constexpr int kThreads = kConsumerThreads + kWarpgroupThreads;             // 512
  // setmaxnreg budgets: 128 x (112 + 2 x 184 + 32) = 65536 registers, the
  // pool a 512-thread CTA gets at launch (128 each). A P.V warpgroup holds its
  // 64 x 256 fp32 O accumulator (128 registers); the S warpgroup holds S
  // (32) and its bf16 copy.
  static constexpr int kScoreRegisters = 112;
  static constexpr int kPvRegisters = 184;
  static constexpr int kProducerRegisters = 32;
  static_assert(kWarpgroupThreads * (kScoreRegisters + kPvWarpgroups * kPvRegisters +
                                     kProducerRegisters) <= 65536, "register pool");
  static constexpr int kColsPerWarpgroup = kHeadDimV / kPvWarpgroups;  // 256
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
  // accumulator alone fills, although setmaxnreg gives the warpgroup 184.
  using TiledMmaO = decltype(cute::make_tiled_mma(
      cute::GMMA::ss_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, cute::Int<kColsPerWarpgroup / 2>, BlockN>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>()));

  // P in registers: the same two 64 x 128 wgmmas per k-step, P from registers.
  using TiledMmaORs = decltype(cute::make_tiled_mma(
      cute::GMMA::rs_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, cute::Int<kColsPerWarpgroup / 2>, BlockN>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>()));

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
    uint64_t kv_empty[kStages][kReleaseParts];
  };
  // The dynamic shared memory base is only 16-byte aligned: ask for 1 KiB
  // more and align by hand.
  static constexpr int kSharedBytes = int(sizeof(SharedStorage)) + 1024;
  static constexpr int kMaxSharedBytes = 227 * 1024;  // SM90, per CTA, static + dynamic
  static_assert(kSharedBytes <= kMaxSharedBytes, "one CTA per SM: at most 227 KiB of smem");
};

}  // namespace cute_mla::kernel
