// Device parameters of the SM90 decode kernel: derived on the host from
// DecodeArguments (tensor maps encoded there) and passed by value as
// __grid_constant__. The stream and the workspace allocation stay outside.
#pragma once

#include <cuda.h>

#include <cute/arch/copy_sm90_desc.hpp>

#include <cstdint>

#include "cute_mla/arguments.hpp"
#include "cute_mla/sched_meta.hpp"

namespace cute_mla::kernel {

struct DecodeParamsSm90 {
  // Each operand in two maps, its 512 latent columns and its 64 RoPE
  // columns, so the RoPE part may live in a tensor of its own; box 64 x 64.
  CUtensorMap tma_q;        // q as (512, h_q/h_kv, h_kv, s_q, b); box (64, box_heads, 1,
                            // box_seqs, 1)
  CUtensorMap tma_q_rope;   // the same, 64 RoPE columns
  CUtensorMap tma_kv;       // the cache as (512, page, h_kv, pages)
  CUtensorMap tma_kv_rope;  // the same, 64 RoPE columns

  int32_t batch;
  int32_t seqlen_q;
  int32_t heads_per_kv;       // h_q / h_kv
  int32_t num_heads_kv;
  int32_t heads_pad_log2;     // log2 of heads_per_kv rounded up to a power of two
  int32_t max_pages_per_seq;  // block_table columns: lengths beyond them are invalid
  float scale_log2;           // softmax_scale * log2(e)
  MaskMode mask;
  // CTAs per cluster along the query tiles (1 or 2): a cluster's CTAs walk
  // the same pages, and each page is read from L2 once and multicast to all.
  int32_t cluster_tiles;
  // L2 policy of the KV page loads (a cute::TMA::CacheHintSm90 value), chosen
  // per call by kv_cache_hint_for below.
  uint64_t kv_cache_hint;

  const int32_t* block_table;   // (b, max_pages_per_seq)
  int64_t block_table_stride;
  const int32_t* cache_seqlens; // (b,)
  const SchedMeta* sched_meta;  // (num_sm_parts,)
  const int32_t* num_splits;    // (b + 1,)

  void* out;                    // (b, s_q, h_q, 512)
  int64_t out_batch_stride, out_seq_stride, out_head_stride;
  float* lse;                   // (b, h_q, s_q), may be null
  int64_t lse_batch_stride, lse_head_stride, lse_seq_stride;

  float* o_accum;               // (slots, h_kv, rows, 512) split partials, normalised
  float* lse_accum;             // (slots, h_kv, rows) base-2 LSE of each partial
  // Requests of exactly two pieces: the second piece merges both
  // (WorkspaceLayout, ConsumerSm90). A flag equal to pair_token means "the
  // first piece's partial is written"; the token is new for every
  // initialize(), never 0. Null: no merge (merge_pairs_in_decode below).
  uint64_t* pair_flags;         // (slots, h_kv, pair_flag_tiles)
  int32_t pair_flag_tiles;
  uint64_t pair_token;
};

// Query-tile rows are laid out as R = s * heads_pad + h (heads_pad a power of
// two), so one TMA box of (heads, seqs) fills a tile and the rows past h_q / h_kv
// or s_q read as zeros. Tiles per KV head:
inline int32_t query_tiles(int32_t seqlen_q, int32_t heads_pad, int32_t block_m) {
  return (seqlen_q * heads_pad + block_m - 1) / block_m;
}

// Clusters pair query tiles when there is an even number of them: at h_q=128
// the two tiles' CTAs read every page from L2 twice, and ncu showed L2 at
// 97 % of its throughput (b=128 L=16K) before multicast.
inline int32_t cluster_tiles_for(int32_t query_tiles) { return query_tiles % 2 == 0 ? 2 : 1; }

// The KV pages' L2 policy. Measured on an H100 (graph replay, same-run A/B,
// two rounds, bench/notes/tuning-log.md session 9): evict-normal instead of
// evict-first took b=128 h_q=16 L=16K 824 -> 806 us, b=128 s_q=2 h_q=128
// L=16K 1905 -> 1873, L=4K 520 -> 516, h_q=128 L=16K 1006 -> 1001, but
// b=1 h_q=128 L=16K 41.3 -> 44.0 and b=8 h_q=128 L=4K 41.9 -> 44.0: with
// many pieces per request the fp32 partials the combine reads back want L2
// more than pages read once do. So evict-first while a request is cut into
// more than about three pieces on average (batch below half the parts).
inline uint64_t kv_cache_hint_for(int32_t batch, int32_t num_sm_parts) {
  using cute::TMA::CacheHintSm90;
  return uint64_t(2 * int64_t(batch) >= int64_t(num_sm_parts) ? CacheHintSm90::EVICT_NORMAL
                                                               : CacheHintSm90::EVICT_FIRST);
}

// Whether the decode kernel merges requests of exactly two pieces itself
// (pair_flags) instead of leaving them to the combine kernel: with 128 or more
// rows per KV head and a batch at least as large as the parts. Measured on an
// H100 (graph replay): with 128 rows the merge took b=128 L=1K 113.4 -> 109.1
// us, L=4K 297.5 -> 289.9, L=16K 995.7 -> 987.7, s_q=2 L=4K 512.4 -> 505.0
// (two machines, session 10); with 16 rows (b=128 L=16K, memory-bound) it
// lost, 807.4 -> 812.9, the combine's pass being short already. Below the
// parts' count most requests are cut into three or more pieces, the combine
// runs anyway, and a plan with even one merged pair was 4-5 us slower: same
// build, merge on / off, three rounds (session 15,
// bench/results/pair-merge-gate-ab_*_20261207-1612.txt): b=8 h_q=128 L=1K
// 33.8 -> 29.2, b=16 33.5 -> 29.3, b=32 46.8 -> 41.2, b=32 L=4K 84.1 -> 78.6,
// s_q=2 b=8 L=1K 35.1 -> 29.5, b=16 45.5 -> 37.6, b=32 64.8 -> 61.0, b=8 L=4K
// 58.1 -> 51.9; b=64 (66 parts) 75.6 -> 74.9; b = 1 and 128 unchanged. The
// gate 2 * batch >= parts lost b=32 s_q=2 L=1K's gain (33 parts).
inline bool merge_pairs_in_decode(int32_t rows_per_kv_head, int32_t batch, int32_t num_sm_parts) {
  return rows_per_kv_head >= 128 && batch >= num_sm_parts;
}

inline int32_t heads_pad_log2(int32_t heads_per_kv) {
  int32_t l = 0;
  while ((1 << l) < heads_per_kv) ++l;
  return l;
}

}  // namespace cute_mla::kernel
