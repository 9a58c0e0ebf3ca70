// Compile-time configuration of the SM90 decode kernel for one element type:
// tile sizes, shared-memory layouts, tiled MMAs and the shared storage.
//
// One CTA serves a 64-row query tile of one KV head and walks the (request,
// page) range its scheduler part names. Threads: two consumer warpgroups and
// one producer warpgroup (384), of which one lane issues the copies.
// The consumers take pages in pairs ("seesaw"): warpgroup 0 computes S for
// the even page and warpgroup 1 for the odd one, each at N = 64 (an SS wgmma
// re-reads its A operand, Q, from shared memory: split by keys at N = 32, S
// read 216 KB of smem per page, 1728 cycles at 128 B/clk, more than its 1152
// tensor cycles). Warpgroup w owns O[:, 256w : 256w + 256) and adds both
// pages' P V into it: its own P from registers, the other's from smem.
//
// Shared memory (227 KiB at most): Q's 512 latent columns (64 KB), two KV
// stages of 64 x 576 (72 KB each) and both P tiles (8 KB each) = 224 KB.
// Q's 64 RoPE columns live in registers (16 per thread) instead: with them
// in smem the second P tile would not fit.
#pragma once

#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cutlass/numeric_types.h>

#include "cute_mla/mla_shape.hpp"

namespace cute_mla::kernel {

template <class Element_>
struct DecodeTraitsSm90 {
  using Element = Element_;
  static_assert(sizeof(Element) == 2, "BF16 or FP16 operands");

  static constexpr int kBlockM = 64;                       // query rows per tile
  static constexpr int kBlockN = MlaShape::kPageSize;      // keys per tile: one page
  static constexpr int kHeadDim = MlaShape::kHeadDimQK;    // 576
  static constexpr int kHeadDimV = MlaShape::kHeadDimV;    // 512
  static constexpr int kHeadDimRope = MlaShape::kHeadDimRope;  // 64
  // A 128-byte swizzle row holds 64 16-bit elements: each TMA box is 64 wide.
  static constexpr int kBoxCols = 64;
  static constexpr int kBoxes = kHeadDim / kBoxCols;       // 9 boxes per KV tile
  static constexpr int kLatentBoxes = kHeadDimV / kBoxCols;  // 8 (Q in smem, V)
  static constexpr int kStages = 2;                        // KV pages in flight
  static constexpr int kConsumerWarpgroups = 2;
  static constexpr int kConsumerThreads = kConsumerWarpgroups * 128;
  static constexpr int kProducerWarp = kConsumerThreads / 32;  // warp 8
  static constexpr int kThreads = kConsumerThreads + 128;
  // setmaxnreg budgets: 2 x 128 x 240 + 128 x 24 = 64512 registers, exactly
  // the pool a 384-thread CTA gets at launch (168 per thread): an increase
  // past the pool blocks forever. A consumer holds O (128), S (32), P (16)
  // and Q's RoPE columns (16); at 232 it spilled.
  static constexpr int kConsumerRegisters = 240;
  static constexpr int kProducerRegisters = 24;
  static_assert(kConsumerThreads * kConsumerRegisters + 128 * kProducerRegisters <=
                    kThreads * (65536 / kThreads / 8 * 8),
                "setmaxnreg budgets exceed the CTA's register pool");
  static constexpr int kColsPerWarpgroup = kHeadDimV / kConsumerWarpgroups;  // 256
  static constexpr int kWarpgroupThreads = 128;
  static_assert(kHeadDim % kBoxCols == 0 && kHeadDimV % kBoxCols == 0, "whole boxes");
  static_assert(kBlockN == 64, "a KV tile is one 64-token page");

  // A KV stage is refilled in three groups, each released when its last
  // reader is done: the RoPE box (read only by S), the V columns of
  // warpgroup 0 (boxes 0-3) and those of warpgroup 1 (boxes 4-7).
  enum Group : int { kGroupRope = 0, kGroupLeft = 1, kGroupRight = 2, kGroups = 3 };
  static constexpr int kBoxesPerHalf = kColsPerWarpgroup / kBoxCols;  // 4

  using BlockM = cute::Int<kBlockM>;
  using BlockN = cute::Int<kBlockN>;
  using HeadDimV = cute::Int<kHeadDimV>;
  using HeadDimRope = cute::Int<kHeadDimRope>;
  using ColsPerWg = cute::Int<kColsPerWarpgroup>;

  // Q's latent columns (64, 512) and a KV stage (64, 576), K-major with a
  // 128-byte swizzle: 64-column boxes one after another, as TMA writes them.
  using SmemLayoutQ = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockM, HeadDimV>{}));
  using SmemLayoutK = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockN, HeadDimV>{}));
  using SmemLayoutKRope = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockN, HeadDimRope>{}));
  // The latent bytes of a stage as V^T (512 dims, 64 keys), MN-major.
  using SmemLayoutVt = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_MN_SW128_Atom<Element>{}, cute::Shape<HeadDimV, BlockN>{},
      cute::Step<cute::_2, cute::_1>{}));
  // P (64 rows, 64 keys), K-major.
  using SmemLayoutP = decltype(cute::tile_to_shape(
      cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockM, BlockN>{}));

  // S = Q K^T, 64 x 64: the latent part with both operands in smem, the
  // RoPE part with Q from registers.
  using TiledMmaS = decltype(cute::make_tiled_mma(
      cute::GMMA::ss_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, BlockN, HeadDimV>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::K>()));
  using TiledMmaSRope = decltype(cute::make_tiled_mma(
      cute::GMMA::rs_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, BlockN, HeadDimRope>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::K>()));
  // O_w += P V_w, 64 x 256 x 64: own P from registers, the other's from smem.
  using TiledMmaORegP = decltype(cute::make_tiled_mma(
      cute::GMMA::rs_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, ColsPerWg, BlockN>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>()));
  using TiledMmaOSmemP = decltype(cute::make_tiled_mma(
      cute::GMMA::ss_op_selector<Element, Element, float,
                                 cute::Shape<BlockM, ColsPerWg, BlockN>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>()));

  static constexpr int kBoxBytes = kBlockN * kBoxCols * int(sizeof(Element));  // 8 KB
  static constexpr int kQBytes = kLatentBoxes * kBoxBytes;                      // 64 KB
  CUTE_HOST_DEVICE static constexpr int group_bytes(int group) {
    return group == kGroupRope ? kBoxBytes : kBoxesPerHalf * kBoxBytes;
  }

  struct SharedStorage {
    alignas(1024) Element q[cute::cosize_v<SmemLayoutQ>];
    // Per stage: 8 latent boxes, then the RoPE box.
    alignas(1024) Element kv[kStages][kBoxes * kBlockN * kBoxCols];
    alignas(1024) Element p[2][cute::cosize_v<SmemLayoutP>];  // P of warpgroup 0 / 1
    // Seesaw exchange, per row (log2 units): warpgroup 0 posts its new max
    // and rescale after the even page, warpgroup 1 after the odd page.
    float max0[kBlockM], scale0[kBlockM];
    float max1[kBlockM], scale1[kBlockM];
    float row_sum[2][kBlockM];  // each warpgroup's row sums, for the epilogue
    alignas(8) uint64_t q_full;
    uint64_t q_empty;
    uint64_t kv_full[kStages][kGroups];
    uint64_t kv_empty[kStages][kGroups];
  };
  // The dynamic shared memory base is only 16-byte aligned: ask for 1 KiB
  // more and align by hand.
  static constexpr int kSharedBytes = int(sizeof(SharedStorage)) + 1024;
  static_assert(kSharedBytes <= 227 * 1024, "one CTA per SM: at most 227 KiB of smem");
};

}  // namespace cute_mla::kernel
