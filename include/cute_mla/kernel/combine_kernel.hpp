// The combine kernel: merges the fp32 split partials of split requests into
// the final output (input dtype) and natural-log LSE.
//
// Grid: (b, h_kv * ceil(rows / (8 / G)), kColChunks / C); G warps per
// (query row, C 128-column chunks) (rows = s_q * h_q / h_kv), each taking
// every G-th piece, their sums added through shared memory. G (warps_per_row)
// is 8 for small batches and 1 for large ones; C (kChunksPerWarp) is 1 with
// G > 1 and 4 with G = 1: with one chunk per warp at b=128 h_q=128 the
// kernel was latency-bound, 8192 CTAs each waiting on three dependent loads
// (ncu: 23.8 us, 33 % of DRAM bandwidth). A CTA whose request
// has a single piece exits at once: the decode kernel wrote that request
// directly. Each lane owns one float4 of the chunk, so every load and store
// of a warp is coalesced, and kUnroll pieces are loaded before any is used:
// the loop is latency-bound at small batch (one request, 132 pieces), where
// the first version (one warp per whole row, 2 loads in flight) took ~20 us.
// The per-split weights live in shared memory, one array per warp.
//
// Partials: o_accum is normalised (O / rowsum) and lse_accum is base 2 with
// -inf for a piece that saw no key. The merge is
//     lse2 = log2(sum_k 2^lse2_k),   out = sum_k 2^(lse2_k - lse2) * o_k,
// and a row whose pieces are all empty gets out = 0 and lse = +inf.
//
// Launched with programmatic dependent launch: griddepcontrol.wait blocks
// until the decode kernel's partials are visible (after a decode, num_splits
// is read ahead of it: CombineArguments::num_splits_ready).
#pragma once

#include <cstdint>

#include "cute_mla/arguments.hpp"
#include "cute_mla/kernel/grid_dependency.hpp"
#include "cute_mla/macros.hpp"
#include "cute_mla/mla_shape.hpp"

namespace cute_mla::kernel {

struct CombineConfig {
  static constexpr int kWarps = 8;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kVec = 4;                   // floats per float4
  static constexpr int kColsPerChunk = 32 * kVec;  // one float4 per lane
  static constexpr int kColChunks = MlaShape::kHeadDimV / kColsPerChunk;
  static constexpr int kUnroll = 8;                // pieces loaded before use
  static_assert(MlaShape::kHeadDimV % kColsPerChunk == 0,
                "head_dim_v must split into float4 columns across a warp");

  // Per warp: its weights (max_splits) and its partial float4 per lane.
  static int64_t shared_bytes(int32_t max_splits) {
    return int64_t(kWarps) * (max_splits * int64_t(sizeof(float)) + 32 * int64_t(sizeof(float4)));
  }

  // Warps that share one row's pieces: all 8 when the batch is small (few
  // rows, many pieces each: latency-bound), 1 when rows alone fill the GPU.
  static int32_t warps_per_row(int64_t batch, int64_t num_heads_kv, int64_t rows) {
    const int64_t row_tasks = batch * num_heads_kv * rows * kColChunks;
    return row_tasks <= 1024 ? 8 : row_tasks <= 2048 ? 4 : row_tasks <= 4096 ? 2 : 1;
  }

  // Chunks per warp: all of a row's when one warp owns the row.
  static int32_t chunks_per_warp(int32_t warps_per_row) {
    return warps_per_row == 1 ? kColChunks : 1;
  }
};

namespace detail {

CUTE_MLA_DEVICE float warp_max(float v) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}

CUTE_MLA_DEVICE float warp_sum(float v) {
#pragma unroll
  for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

template <class Element>
CUTE_MLA_DEVICE void store4(Element* dst, float4 v) {
  static_assert(sizeof(Element) == 2, "16-bit outputs");
  union { Element e[4]; uint2 u; } pack;
  pack.e[0] = Element(v.x);
  pack.e[1] = Element(v.y);
  pack.e[2] = Element(v.z);
  pack.e[3] = Element(v.w);
  *reinterpret_cast<uint2*>(dst) = pack.u;
}

// This warp's kChunks chunks of an output row set to `value`; the chunk-0
// warp also writes the LSE.
template <int kChunks, class Element>
CUTE_MLA_DEVICE void fill_row(Element* out, float* lse_out, int lane, bool writes_lse,
                              float value, float lse_value) {
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    store4(out + c * CombineConfig::kColsPerChunk + lane * CombineConfig::kVec,
           make_float4(value, value, value, value));
  if (writes_lse && lane == 0) *lse_out = lse_value;
}

}  // namespace detail

template <class Element, int kChunksPerWarp>
__global__ void __launch_bounds__(CombineConfig::kThreads)
    combine_kernel(__grid_constant__ const CombineArguments args, int32_t warps_per_row) {
  using Cfg = CombineConfig;
  static_assert(Cfg::kColChunks % kChunksPerWarp == 0, "whole chunks per warp");
  // Pieces loaded before use: fewer when each holds several chunks (registers).
  constexpr int kPieceUnroll = kChunksPerWarp == 1 ? Cfg::kUnroll : 2;
  // After a decode, num_splits comes from the metadata kernel, which had
  // finished when every decode CTA passed its own wait and let this grid
  // launch (decode_kernel_sm90.hpp): read it before the wait, one dependent
  // load less on the tail after the decode's last CTA.
  if (!args.num_splits_ready) wait_for_primary();
  const int32_t req = blockIdx.x;
  const int32_t first_slot = args.num_splits[req];
  const int32_t num_pieces = args.num_splits[req + 1] - first_slot;
  if (args.num_splits_ready) wait_for_primary();
  // The whole CTA: the decode kernel wrote this request (one piece, or two it
  // merged). It leaves only after the wait: a grid launched with PDL that
  // could finish before the kernel it follows would let the stream's next
  // kernel start before the decode's outputs are written.
  if (num_pieces <= 1 || (args.pairs_merged && num_pieces == 2)) return;

  const int32_t heads_per_kv = args.num_heads_q / args.num_heads_kv;
  const int32_t rows = args.seqlen_q * heads_per_kv;
  const int32_t rows_per_cta = Cfg::kWarps / warps_per_row;
  const int32_t row_groups = (rows + rows_per_cta - 1) / rows_per_cta;
  const int32_t warp = threadIdx.x / 32;
  const int32_t lane = threadIdx.x % 32;
  const int32_t group = warp % warps_per_row;  // this warp's share of the pieces
  const int32_t kv_head = blockIdx.y / row_groups;
  const int32_t row = (blockIdx.y % row_groups) * rows_per_cta + warp / warps_per_row;
  const bool has_row = row < rows;

  const int32_t seq = row / heads_per_kv;
  const int32_t head = kv_head * heads_per_kv + row % heads_per_kv;
  const int32_t chunk = blockIdx.z * kChunksPerWarp;  // this warp's first chunk
  const bool writes = group == 0 && has_row;
  const bool writes_lse = writes && chunk == 0;
  Element* out = static_cast<Element*>(args.out) + req * args.out_batch_stride +
                 seq * args.out_seq_stride + head * args.out_head_stride +
                 chunk * Cfg::kColsPerChunk;
  float* lse_out = args.lse + req * args.lse_batch_stride + head * args.lse_head_stride +
                   seq * args.lse_seq_stride;

  // Slot s, row r of kv head g sits at ((s * h_kv + g) * rows + r).
  const int64_t slot_rows = int64_t(args.num_heads_kv) * rows;
  const int64_t row_index = int64_t(first_slot) * slot_rows + int64_t(kv_head) * rows + row;

  // More pieces than the workspace was planned for means metadata from
  // another plan: make the row loudly wrong rather than read out of bounds.
  const float nan = __int_as_float(0x7fffffff);
  if (num_pieces > args.max_splits || first_slot + num_pieces > args.num_slots ||
      first_slot < 0) {
    if (writes) detail::fill_row<kChunksPerWarp>(out, lse_out, lane, writes_lse, nan, nan);
    return;  // the whole CTA
  }

  extern __shared__ float4 smem_combine[];
  float4* partial = smem_combine;                                         // (warps, 32)
  float* weight = reinterpret_cast<float*>(smem_combine + Cfg::kWarps * 32) +
                  warp * args.max_splits;                                 // (max_splits,)

  // This warp's first kPieceUnroll pieces are loaded before the weights are
  // known: their latency overlaps the LSE loads'. Loading a piece that turns
  // out empty or poisoned is harmless (in bounds, never multiplied).
  const float4* src =
      reinterpret_cast<const float4*>(args.o_accum + row_index * MlaShape::kHeadDimV +
                                      chunk * Cfg::kColsPerChunk) + lane;
  const int64_t slot_step = slot_rows * (MlaShape::kHeadDimV / Cfg::kVec);
  float4 early[kPieceUnroll][kChunksPerWarp];
  if (has_row) {
    #pragma unroll
    for (int u = 0; u < kPieceUnroll; ++u) {
      const int32_t k = group + u * warps_per_row;
      #pragma unroll
      for (int c = 0; c < kChunksPerWarp; ++c)
        if (k < num_pieces) early[u][c] = src[k * slot_step + c * 32];
    }
  }

  // Every warp of a row computes the row's weights (a few loads) rather than
  // wait for one that does.
  enum class RowKind { kMerge, kPoisoned, kEmpty, kNone };
  RowKind kind = has_row ? RowKind::kMerge : RowKind::kNone;
  float lse2 = 0.f;
  if (has_row) {
    float max_lse = -INFINITY;
    bool poisoned = false;
    for (int32_t k = lane; k < num_pieces; k += 32) {
      float l = args.lse_accum[row_index + k * slot_rows];
      weight[k] = l;
      max_lse = fmaxf(max_lse, l);
      poisoned |= l != l;
    }
    max_lse = detail::warp_max(max_lse);
    // A NaN piece (the decode kernel's mark for an invalid length) must stay
    // NaN: fmaxf alone would drop it and report an empty row.
    if (__any_sync(0xffffffffu, poisoned)) {
      kind = RowKind::kPoisoned;
    } else if (max_lse == -INFINITY) {  // no piece saw a key
      kind = RowKind::kEmpty;
    } else {
      float sum = 0.f;
      for (int32_t k = lane; k < num_pieces; k += 32) sum += exp2f(weight[k] - max_lse);
      sum = detail::warp_sum(sum);
      lse2 = max_lse + log2f(sum);
      for (int32_t k = lane; k < num_pieces; k += 32) weight[k] = exp2f(weight[k] - lse2);
    }
    __syncwarp();
  }

  float4 acc[kChunksPerWarp];
  #pragma unroll
  for (int c = 0; c < kChunksPerWarp; ++c) acc[c] = make_float4(0.f, 0.f, 0.f, 0.f);
  // acc += w * v, except for an empty piece (w == 0), which may hold anything, NaN included.
  auto accumulate = [&](float w, float4 const (&v)[kChunksPerWarp]) {
    if (w == 0.f) return;
    #pragma unroll
    for (int c = 0; c < kChunksPerWarp; ++c) {
      acc[c].x += w * v[c].x;
      acc[c].y += w * v[c].y;
      acc[c].z += w * v[c].z;
      acc[c].w += w * v[c].w;
    }
  };
  if (kind == RowKind::kMerge) {
    #pragma unroll
    for (int u = 0; u < kPieceUnroll; ++u) {
      const int32_t k = group + u * warps_per_row;
      if (k < num_pieces) accumulate(weight[k], early[u]);
    }
#pragma unroll kPieceUnroll
    for (int32_t k = group + kPieceUnroll * warps_per_row; k < num_pieces; k += warps_per_row) {
      float4 v[kChunksPerWarp];
      #pragma unroll
      for (int c = 0; c < kChunksPerWarp; ++c) v[c] = src[k * slot_step + c * 32];
      accumulate(weight[k], v);
    }
  }
  if (warps_per_row > 1) {  // CTA-uniform; only with one chunk per warp
    partial[warp * 32 + lane] = acc[0];
    __syncthreads();
    if (group == 0) {
      for (int32_t g = 1; g < warps_per_row; ++g) {
        const float4 v = partial[(warp + g) * 32 + lane];
        acc[0].x += v.x;
        acc[0].y += v.y;
        acc[0].z += v.z;
        acc[0].w += v.w;
      }
    }
  }
  if (!writes) return;
  if (kind == RowKind::kPoisoned) {
    detail::fill_row<kChunksPerWarp>(out, lse_out, lane, writes_lse, nan, nan);
  } else if (kind == RowKind::kEmpty) {
    detail::fill_row<kChunksPerWarp>(out, lse_out, lane, writes_lse, 0.f, INFINITY);
  } else {
    #pragma unroll
    for (int c = 0; c < kChunksPerWarp; ++c)
      detail::store4(out + c * Cfg::kColsPerChunk + lane * Cfg::kVec, acc[c]);
    if (writes_lse && lane == 0) *lse_out = lse2 * 0.69314718055994530942f;  // ln 2
  }
}

}  // namespace cute_mla::kernel
