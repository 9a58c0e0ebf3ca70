// The flat, framework-free arguments an engine fills in: raw pointers,
// strides in elements, sizes. No torch, no Python. Every field carries the
// shape of what it points to.
#pragma once

#include <cstdint>

#include "cute_mla/mla_shape.hpp"
#include "cute_mla/sched_meta.hpp"
#include "cute_mla/scheduler.hpp"

namespace cute_mla {

enum class DataType : int32_t { kBFloat16, kFloat16, kFloat32, kInt32, kOther };

inline const char* dtype_name(DataType t) {
  switch (t) {
    case DataType::kBFloat16: return "bfloat16";
    case DataType::kFloat16: return "float16";
    case DataType::kFloat32: return "float32";
    case DataType::kInt32: return "int32";
    case DataType::kOther: break;
  }
  return "other";
}

// Causal is bottom-right aligned: query token j of s_q sees keys
// [0, seqlen - s_q + j].
enum class MaskMode : int32_t { kNone, kCausal };

struct DecodeArguments {
  int32_t batch = 0;              // b
  int32_t seqlen_q = 0;           // s_q
  int32_t num_heads_q = 0;        // h_q
  int32_t num_heads_kv = 0;       // h_kv, divides h_q
  int32_t head_dim_qk = MlaShape::kHeadDimQK;
  int32_t head_dim_v = MlaShape::kHeadDimV;
  int32_t num_pages = 0;          // pages in the KV pool
  int32_t page_size = MlaShape::kPageSize;
  int32_t max_pages_per_seq = 0;  // block_table columns
  DataType element = DataType::kBFloat16;  // q, k_cache and out
  float softmax_scale = 0.f;      // applied to q.k
  MaskMode mask = MaskMode::kNone;

  const void* q = nullptr;        // (b, s_q, h_q, 576), last dim contiguous
  int64_t q_batch_stride = 0;
  int64_t q_seq_stride = 0;
  int64_t q_head_stride = 0;

  const void* k_cache = nullptr;  // (num_pages, page_size, h_kv, 576); V = [..., :512]
  int64_t k_page_stride = 0;
  int64_t k_row_stride = 0;
  int64_t k_head_stride = 0;

  // The second call convention (vLLM/SGLang FA3 backends): the RoPE parts as
  // their own operands. Then q and k_cache hold only the 512 latent columns
  // (head_dim_qk = 512) and these hold the 64 RoPE columns, each with its
  // own strides (a strided view of one 576-wide tensor or a tensor of its
  // own; no copy either way). Null: the RoPE columns are q[..., 512:] and
  // k_cache[..., 512:] (head_dim_qk = 576).
  const void* q_rope = nullptr;   // (b, s_q, h_q, 64), last dim contiguous
  int64_t q_rope_batch_stride = 0;
  int64_t q_rope_seq_stride = 0;
  int64_t q_rope_head_stride = 0;
  const void* k_rope = nullptr;   // (num_pages, page_size, h_kv, 64), last dim contiguous
  int64_t k_rope_page_stride = 0;
  int64_t k_rope_row_stride = 0;
  int64_t k_rope_head_stride = 0;

  const int32_t* block_table = nullptr;  // (b, max_pages_per_seq), last dim contiguous
  int64_t block_table_stride = 0;
  const int32_t* cache_seqlens = nullptr;  // (b,)

  const SchedMeta* sched_meta = nullptr;  // (num_sm_parts,)  from the planner
  int32_t num_sm_parts = 0;
  const int32_t* num_splits = nullptr;    // (b + 1,) exclusive prefix sum

  void* out = nullptr;            // (b, s_q, h_q, 512) element, last dim contiguous
  int64_t out_batch_stride = 0;
  int64_t out_seq_stride = 0;
  int64_t out_head_stride = 0;

  float* lse = nullptr;           // (b, h_q, s_q) fp32, natural log; may be null
  int64_t lse_batch_stride = 0;
  int64_t lse_head_stride = 0;
  int64_t lse_seq_stride = 0;
};

// Where the RoPE columns of q and of the cache live, for either convention.
struct RopeOperands {
  const void* q;
  int64_t q_batch_stride, q_seq_stride, q_head_stride;
  const void* k;
  int64_t k_page_stride, k_row_stride, k_head_stride;
};

inline RopeOperands rope_operands(DecodeArguments const& a, int64_t element_bytes) {
  if (a.q_rope != nullptr || a.k_rope != nullptr)
    return {a.q_rope, a.q_rope_batch_stride, a.q_rope_seq_stride, a.q_rope_head_stride,
            a.k_rope, a.k_rope_page_stride, a.k_rope_row_stride, a.k_rope_head_stride};
  const int64_t offset = int64_t(MlaShape::kHeadDimV) * element_bytes;
  return {a.q == nullptr ? nullptr : static_cast<const char*>(a.q) + offset,
          a.q_batch_stride, a.q_seq_stride, a.q_head_stride,
          a.k_cache == nullptr ? nullptr : static_cast<const char*>(a.k_cache) + offset,
          a.k_page_stride, a.k_row_stride, a.k_head_stride};
}

// Query rows one KV head serves: s_q * (h_q / h_kv).
inline int32_t rows_per_kv_head(DecodeArguments const& a) {
  return a.num_heads_kv > 0 ? a.seqlen_q * (a.num_heads_q / a.num_heads_kv) : 0;
}

struct MetadataArguments {
  int32_t batch = 0;                      // b
  const int32_t* cache_seqlens = nullptr; // (b,)
  SchedulerConfig config{};               // config.num_parts = rows of sched_meta
  SchedMeta* sched_meta = nullptr;        // (num_parts,) written
  int32_t* num_splits = nullptr;          // (b + 1,) written
};

// Merges the fp32 split partials of split requests. Slot s of request i is
// num_splits[i] + s; a request with one slot is left alone (the decode kernel
// wrote it).
struct CombineArguments {
  int32_t batch = 0;
  int32_t seqlen_q = 0;
  int32_t num_heads_q = 0;
  int32_t num_heads_kv = 0;
  int32_t head_dim_v = MlaShape::kHeadDimV;
  int32_t max_splits = 0;          // bound on slots per request (num_sm_parts)
  int32_t num_slots = 0;           // capacity of the accumulators (first dim)
  DataType element = DataType::kBFloat16;  // out

  const float* o_accum = nullptr;   // (num_slots, h_kv, rows, head_dim_v), normalized
  const float* lse_accum = nullptr; // (num_slots, h_kv, rows), base 2, -inf = no keys
  const int32_t* num_splits = nullptr;  // (b + 1,)
  // True when num_splits is complete whenever this combine may start (the
  // decode path: the metadata kernel had finished when every decode CTA
  // passed its own griddepcontrol.wait and let the combine launch), so the
  // combine reads it ahead of its wait. False (the default) for a standalone
  // combine, whose num_splits may come from the kernel just before.
  bool num_splits_ready = false;
  // True after a decode kernel that merged the requests of exactly two pieces
  // itself (WorkspaceLayout): the combine leaves them alone.
  bool pairs_merged = false;

  void* out = nullptr;              // (b, s_q, h_q, head_dim_v), last dim contiguous
  int64_t out_batch_stride = 0;
  int64_t out_seq_stride = 0;
  int64_t out_head_stride = 0;
  float* lse = nullptr;             // (b, h_q, s_q) natural log
  int64_t lse_batch_stride = 0;
  int64_t lse_head_stride = 0;
  int64_t lse_seq_stride = 0;
};

// Split partials live in the caller's workspace: lse_accum, then o_accum,
// then the pair flags, each 256-byte aligned. Slots = b + num_sm_parts bounds
// the pieces. A request cut into exactly two pieces may be merged by the
// decode kernel itself (kernel::merge_pairs_in_decode): one 64-bit flag per
// (first slot, KV head, query tile) tells the second piece that the first
// one's partial is written. The flags need no initial value: the first piece
// stores its launch's token, the second waits for it and resets the flag.
struct WorkspaceLayout {
  static constexpr int64_t kAlign = 256;
  int64_t num_slots = 0;
  int64_t lse_offset = 0;
  int64_t o_offset = 0;
  int64_t flags_offset = 0;
  int64_t flag_tiles = 0;  // query tiles per KV head the flags are laid out for
  int64_t bytes = 0;

  static int64_t align_up(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

  static WorkspaceLayout make(int64_t batch, int64_t num_sm_parts,
                              int64_t num_heads_kv, int64_t rows,
                              int64_t head_dim_v) {
    WorkspaceLayout w;
    w.num_slots = batch + num_sm_parts;
    int64_t per_slot_rows = num_heads_kv * rows;
    w.lse_offset = 0;
    w.o_offset = align_up(w.num_slots * per_slot_rows * int64_t(sizeof(float)));
    w.flags_offset = align_up(w.o_offset +
                              w.num_slots * per_slot_rows * head_dim_v * int64_t(sizeof(float)));
    // Tiles of 64 rows padded per KV head (s_q * heads rounded up to a power of
    // two): fewer than 2 * rows / 64 + 1.
    w.flag_tiles = (2 * rows + 63) / 64;
    w.bytes = align_up(w.flags_offset +
                       w.num_slots * num_heads_kv * w.flag_tiles * int64_t(sizeof(uint64_t)));
    return w;
  }
};

}  // namespace cute_mla
