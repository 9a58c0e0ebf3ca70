// Validation: the one place that decides whether cute-mla can run on given
// inputs. Each function returns a CheckResult whose message starts with the
// argument's name and says what was expected and what was given.
//
//   check_decode_arguments   the flat struct C++ engines fill in (limits,
//                            strides, alignment, pointers);
//   check_decode_tensors     tensor descriptions (what the Python binding
//                            sees through DLPack: dtype, device, rank,
//                            shape consistency), then fills DecodeArguments
//                            and runs check_decode_arguments on it;
//   check_metadata_tensors, check_combine_tensors: the same for the other two
//                            operations.
//
// Values stored in device memory (lengths, page ids) cannot be read here
// without a device sync; the kernels treat them defensively instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cute_mla/arguments.hpp"
#include "cute_mla/mla_shape.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla {

enum class DeviceKind : int32_t { kCPU, kCUDA, kOther };

// A framework-neutral description of one tensor (DLPack's fields).
struct TensorDesc {
  static constexpr int kMaxDims = 6;
  bool defined = false;           // false: an optional argument left out
  void* data = nullptr;
  int32_t ndim = 0;
  int64_t shape[kMaxDims] = {0};
  int64_t strides[kMaxDims] = {0};  // elements
  DataType dtype = DataType::kOther;
  char dtype_text[16] = {0};      // the caller's name for an unsupported dtype, e.g. "int64"
  DeviceKind device = DeviceKind::kOther;
  int32_t device_id = 0;
  // false: a sparse, nested or quantized tensor (no plain data and strides);
  // only the device is described.
  bool strided = true;
};

struct DecodeTensors {
  TensorDesc q, k_cache, block_table, cache_seqlens, sched_meta, num_splits;
  TensorDesc out, lse;  // optional: undefined means "to be allocated"
  // The second call convention: q_nope / q_pe and the cache's latent / RoPE
  // parts as separate tensors (or strided views of one). With these defined,
  // q and k_cache are the 512-column latent parts.
  TensorDesc q_rope, k_rope;
  int64_t head_dim_v = MlaShape::kHeadDimV;
  double softmax_scale = 0.0;
  bool causal = false;
};

struct MetadataTensors {
  TensorDesc cache_seqlens;
  TensorDesc sched_meta, num_splits;  // optional outputs
  int64_t num_q_tokens_per_head_k = 0;
  int64_t num_heads_k = 0;
};

struct CombineTensors {
  TensorDesc o_accum, lse_accum, num_splits, out, lse;
  int64_t max_splits = 0;
};

namespace detail {

inline const char* device_name(DeviceKind d) {
  switch (d) {
    case DeviceKind::kCPU: return "cpu";
    case DeviceKind::kCUDA: return "cuda";
    case DeviceKind::kOther: break;
  }
  return "a non-CPU, non-CUDA device";
}

// The dtype as the caller knows it: ours, or the caller's own name for one we do not use.
inline const char* type_text(TensorDesc const& t) {
  return (t.dtype == DataType::kOther && t.dtype_text[0]) ? t.dtype_text : dtype_name(t.dtype);
}

// The stride of `dim`, or `fallback` where the dimension has one element: its stride is
// never used, and frameworks report arbitrary values for it.
inline int64_t stride_or(TensorDesc const& t, int dim, int64_t fallback) {
  return t.shape[dim] == 1 ? fallback : t.strides[dim];
}

inline bool aligned(const void* p, int64_t bytes) {
  return (reinterpret_cast<uintptr_t>(p) % uint64_t(bytes)) == 0;
}

inline int64_t element_bytes(DataType t) {
  switch (t) {
    case DataType::kBFloat16:
    case DataType::kFloat16: return 2;
    case DataType::kFloat32:
    case DataType::kInt32: return 4;
    case DataType::kOther: break;
  }
  return 1;
}

// Shape as text, e.g. "(2, 1, 16, 576)", into a caller buffer.
inline const char* shape_text(TensorDesc const& t, char* buf, int size) {
  int n = std::snprintf(buf, size, "(");
  for (int i = 0; i < t.ndim && n < size; ++i)
    n += std::snprintf(buf + n, size - n, i ? ", %lld" : "%lld",
                       static_cast<long long>(t.shape[i]));
  if (t.ndim == 1 && n < size) n += std::snprintf(buf + n, size - n, ",");
  if (n < size) std::snprintf(buf + n, size - n, ")");
  return buf;
}

#define CUTE_MLA_FAIL(kind, ...) return CheckResult::error(Status::kind, __VA_ARGS__)

inline CheckResult expect_strided(const char* name, TensorDesc const& t) {
  if (!t.strided)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "%s: expected a dense (strided) tensor, got a sparse, nested or quantized one",
                  name);
  return CheckResult::success();
}

inline CheckResult expect_device(const char* name, TensorDesc const& t,
                                 DeviceKind want, int32_t want_id) {
  if (!t.strided) return expect_strided(name, t);
  if (t.device != want)
    CUTE_MLA_FAIL(kErrorInvalidDevice, "%s: expected a %s tensor, got one on %s", name,
                  device_name(want), device_name(t.device));
  if (want == DeviceKind::kCUDA && t.device_id != want_id)
    CUTE_MLA_FAIL(kErrorInvalidDevice,
                  "%s: expected a tensor on cuda:%d (the device of q), got cuda:%d",
                  name, want_id, t.device_id);
  return CheckResult::success();
}

inline CheckResult expect_dtype(const char* name, TensorDesc const& t, DataType want) {
  if (t.dtype != want)
    CUTE_MLA_FAIL(kErrorInvalidType, "%s: expected dtype %s, got %s", name,
                  dtype_name(want), type_text(t));
  return CheckResult::success();
}

inline CheckResult expect_ndim(const char* name, TensorDesc const& t, int ndim,
                               const char* layout) {
  if (t.ndim != ndim)
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: expected %d dimension(s) %s, got %d", name,
                  ndim, layout, t.ndim);
  return CheckResult::success();
}

inline CheckResult expect_dim(const char* name, TensorDesc const& t, int dim,
                              int64_t want, const char* what) {
  if (t.shape[dim] != want) {
    char buf[96];
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: expected shape[%d] == %lld (%s), got shape %s",
                  name, dim, static_cast<long long>(want), what,
                  shape_text(t, buf, sizeof(buf)));
  }
  return CheckResult::success();
}

// Row-major contiguous, ignoring strides of size-1 dimensions.
inline bool contiguous(TensorDesc const& t) {
  int64_t expect = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expect) return false;
    expect *= t.shape[i];
  }
  return true;
}

inline CheckResult expect_contiguous(const char* name, TensorDesc const& t) {
  if (!contiguous(t))
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: expected a contiguous tensor", name);
  return CheckResult::success();
}

inline CheckResult expect_unit_last_stride(const char* name, TensorDesc const& t) {
  if (t.ndim > 0 && t.shape[t.ndim - 1] > 1 && t.strides[t.ndim - 1] != 1)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "%s: expected a contiguous last dimension (stride(-1) == 1), got stride %lld",
                  name, static_cast<long long>(t.strides[t.ndim - 1]));
  return CheckResult::success();
}

// Distinct elements at distinct addresses: an output written by many CTAs must not alias
// itself (stride 0, or strides smaller than the extent they step over).
inline bool non_overlapping(TensorDesc const& t) {
  int order[TensorDesc::kMaxDims];
  int n = 0;
  for (int i = 0; i < t.ndim && i < TensorDesc::kMaxDims; ++i)
    if (t.shape[i] > 1) order[n++] = i;
  for (int i = 1; i < n; ++i)  // insertion sort by stride
    for (int j = i; j > 0 && t.strides[order[j]] < t.strides[order[j - 1]]; --j) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  int64_t span = 1;  // elements covered by the dimensions seen so far
  for (int i = 0; i < n; ++i) {
    if (t.strides[order[i]] < span) return false;
    span = t.strides[order[i]] * t.shape[order[i]];
  }
  return true;
}

inline CheckResult expect_non_overlapping(const char* name, TensorDesc const& t) {
  if (!non_overlapping(t))
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "%s: its strides make distinct elements share memory; pass a tensor whose "
                  "elements do not overlap (e.g. a contiguous one)",
                  name);
  return CheckResult::success();
}

inline CheckResult expect_fits_int32(const char* name, const char* what, int64_t value) {
  if (value > INT32_MAX)
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: %s must fit in int32, got %lld", name, what,
                  static_cast<long long>(value));
  return CheckResult::success();
}

inline CheckResult expect_stride_multiple(const char* name, const char* which,
                                          int64_t stride, int64_t elem_bytes) {
  if (stride < 0 || (stride * elem_bytes) % Limits::kStrideAlignBytes != 0)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "%s: %s stride must be a non-negative multiple of %d bytes (TMA), got "
                  "%lld elements of %lld bytes",
                  name, which, Limits::kStrideAlignBytes, static_cast<long long>(stride),
                  static_cast<long long>(elem_bytes));
  return CheckResult::success();
}

#define CUTE_MLA_TRY(expr)                       \
  do {                                           \
    ::cute_mla::CheckResult r_ = (expr);         \
    if (!r_.ok()) return r_;                     \
  } while (0)

}  // namespace detail

// ---------------------------------------------------------------------------
// The flat struct.
inline CheckResult check_decode_arguments(DecodeArguments const& a) {
  using namespace detail;
  if (a.element != DataType::kBFloat16 && a.element != DataType::kFloat16)
    CUTE_MLA_FAIL(kErrorInvalidType, "q: expected dtype bfloat16 or float16, got %s",
                  dtype_name(a.element));
  if (a.batch < 1 || a.batch > Limits::kMaxBatch)
    CUTE_MLA_FAIL(kErrorInvalidValue, "q: batch size must be in [1, %d], got %d",
                  Limits::kMaxBatch, a.batch);
  if (a.seqlen_q < 1 || a.seqlen_q > Limits::kMaxSeqlenQ)
    CUTE_MLA_FAIL(kErrorInvalidValue, "q: seqlen_q (dim 1) must be in [1, %d], got %d",
                  Limits::kMaxSeqlenQ, a.seqlen_q);
  if (a.num_heads_q < 1 || a.num_heads_q > Limits::kMaxHeadsQ)
    CUTE_MLA_FAIL(kErrorInvalidValue, "q: num_heads_q (dim 2) must be in [1, %d], got %d",
                  Limits::kMaxHeadsQ, a.num_heads_q);
  if (a.num_heads_kv < 1 || a.num_heads_q % a.num_heads_kv != 0)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "k_cache: num_heads_kv (dim 2) must be >= 1 and divide num_heads_q = %d, "
                  "got %d",
                  a.num_heads_q, a.num_heads_kv);
  const bool split_rope = a.q_rope != nullptr || a.k_rope != nullptr;
  if (split_rope && (a.q_rope == nullptr || a.k_rope == nullptr))
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: null pointer (q_rope and k_rope come together)",
                  a.q_rope == nullptr ? "q_rope" : "k_rope");
  if (!split_rope && a.head_dim_qk != MlaShape::kHeadDimQK)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "q: head dim (dim 3) must be %d (512 latent + 64 rope), got %d",
                  MlaShape::kHeadDimQK, a.head_dim_qk);
  if (split_rope && a.head_dim_qk != MlaShape::kHeadDimV)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "q_nope: head dim (dim 3) must be %d when the rope part is separate, got %d",
                  MlaShape::kHeadDimV, a.head_dim_qk);
  if (a.head_dim_v != MlaShape::kHeadDimV)
    CUTE_MLA_FAIL(kErrorInvalidValue, "head_dim_v: must be %d, got %d", MlaShape::kHeadDimV,
                  a.head_dim_v);
  if (a.page_size != MlaShape::kPageSize)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "k_cache: page size (dim 1) must be %d in this release, got %d",
                  MlaShape::kPageSize, a.page_size);
  if (a.num_pages < 1)
    CUTE_MLA_FAIL(kErrorInvalidValue, "k_cache: needs at least one page, got %d",
                  a.num_pages);
  if (a.max_pages_per_seq < 1)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "block_table: needs at least one column (max pages per sequence), got %d",
                  a.max_pages_per_seq);
  if (!(a.softmax_scale > 0.f) || !std::isfinite(a.softmax_scale))
    CUTE_MLA_FAIL(kErrorInvalidValue, "softmax_scale: must be finite and > 0, got %g",
                  static_cast<double>(a.softmax_scale));
  if (a.num_sm_parts < 1 || a.num_sm_parts > Limits::kMaxParts)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "tile_scheduler_metadata: number of parts (dim 0) must be in [1, %d], "
                  "got %d",
                  Limits::kMaxParts, a.num_sm_parts);

  // The RoPE operands are optional (null: the 576-wide convention).
  struct Ptr { const char* name; const void* p; int64_t align; bool required; };
  const Ptr ptrs[] = {
      {"q", a.q, Limits::kStrideAlignBytes, true},
      {"k_cache", a.k_cache, Limits::kStrideAlignBytes, true},
      {"block_table", a.block_table, 4, true},
      {"cache_seqlens", a.cache_seqlens, 4, true},
      {"tile_scheduler_metadata", a.sched_meta, 32, true},
      {"num_splits", a.num_splits, 4, true},
      {"out", a.out, Limits::kStrideAlignBytes, true},
      {"q_rope", a.q_rope, Limits::kStrideAlignBytes, false},
      {"k_rope", a.k_rope, Limits::kStrideAlignBytes, false},
  };
  for (Ptr const& p : ptrs) {
    if (p.p == nullptr) {
      if (!p.required) continue;
      CUTE_MLA_FAIL(kErrorInvalidValue, "%s: null pointer", p.name);
    }
    if (!aligned(p.p, p.align))
      CUTE_MLA_FAIL(kErrorInvalidValue, "%s: data pointer must be %lld-byte aligned",
                    p.name, static_cast<long long>(p.align));
  }
  if (a.lse != nullptr && !aligned(a.lse, 4))
    CUTE_MLA_FAIL(kErrorInvalidValue, "lse: data pointer must be 4-byte aligned");

  const int64_t eb = element_bytes(a.element);
  // Innermost first, so that a bad stride is named rather than one derived from it.
  struct Stride { const char* tensor; const char* which; int64_t stride; bool applies; };
  const Stride strides[] = {
      {"q", "head", a.q_head_stride, true},
      {"q", "seq", a.q_seq_stride, true},
      {"q", "batch", a.q_batch_stride, true},
      {"k_cache", "head", a.k_head_stride, true},
      {"k_cache", "row", a.k_row_stride, true},
      {"k_cache", "page", a.k_page_stride, true},
      {"q_rope", "head", a.q_rope_head_stride, split_rope},
      {"q_rope", "seq", a.q_rope_seq_stride, split_rope},
      {"q_rope", "batch", a.q_rope_batch_stride, split_rope},
      {"k_rope", "head", a.k_rope_head_stride, split_rope},
      {"k_rope", "row", a.k_rope_row_stride, split_rope},
      {"k_rope", "page", a.k_rope_page_stride, split_rope},
      {"out", "head", a.out_head_stride, true},
      {"out", "seq", a.out_seq_stride, true},
      {"out", "batch", a.out_batch_stride, true},
  };
  for (Stride const& st : strides)
    if (st.applies) CUTE_MLA_TRY(expect_stride_multiple(st.tensor, st.which, st.stride, eb));
  if (a.block_table_stride < a.max_pages_per_seq && a.batch > 1)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "block_table: row stride %lld is smaller than its %d columns",
                  static_cast<long long>(a.block_table_stride), a.max_pages_per_seq);
  // The kernels index pages with 32-bit TMA coordinates and rows with 64-bit
  // offsets; a pool past 2^31 pages cannot be addressed.
  if (int64_t(a.max_pages_per_seq) * MlaShape::kPageSize > INT32_MAX)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "block_table: %d pages of %d tokens exceed the int32 sequence length",
                  a.max_pages_per_seq, MlaShape::kPageSize);
  return CheckResult::success();
}

// The RoPE part of an operand in the second convention: the latent part's
// device, dtype and leading dims, 64 columns, last dim contiguous.
inline CheckResult expect_rope_operand(const char* name, TensorDesc const& t,
                                       const char* latent_name, TensorDesc const& latent,
                                       int32_t dev, const char* layout) {
  using namespace detail;
  CUTE_MLA_TRY(expect_device(name, t, DeviceKind::kCUDA, dev));
  if (t.dtype != latent.dtype)
    CUTE_MLA_FAIL(kErrorInvalidType, "%s: expected dtype %s (the dtype of %s), got %s", name,
                  dtype_name(latent.dtype), latent_name, type_text(t));
  CUTE_MLA_TRY(expect_ndim(name, t, 4, layout));
  for (int d = 0; d < 3; ++d)
    CUTE_MLA_TRY(expect_dim(name, t, d, latent.shape[d], latent_name));
  CUTE_MLA_TRY(expect_dim(name, t, 3, MlaShape::kHeadDimRope, "the rope dim"));
  return expect_unit_last_stride(name, t);
}

// ---------------------------------------------------------------------------
// Tensor descriptions, as the binding sees them.
inline CheckResult check_decode_tensors(DecodeTensors const& t, DecodeArguments* out_args) {
  using namespace detail;
  TensorDesc const& q = t.q;
  // In the second convention (RoPE operands apart) q and k_cache are called
  // q_nope and ckv_cache, in every message.
  const bool split_rope = t.q_rope.defined || t.k_rope.defined;
  const char* q_name = split_rope ? "q_nope" : "q";
  const char* k_name = split_rope ? "ckv_cache" : "k_cache";
  if (!q.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "%s: is required", q_name);
  CUTE_MLA_TRY(expect_strided(q_name, q));
  if (q.device != DeviceKind::kCUDA)
    CUTE_MLA_FAIL(kErrorInvalidDevice, "%s: expected a cuda tensor, got one on %s", q_name,
                  device_name(q.device));
  if (q.dtype != DataType::kBFloat16 && q.dtype != DataType::kFloat16)
    CUTE_MLA_FAIL(kErrorInvalidType, "%s: expected dtype bfloat16 or float16, got %s", q_name,
                  type_text(q));
  if (split_rope && !(t.q_rope.defined && t.k_rope.defined))
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: is required with %s",
                  t.q_rope.defined ? "kpe_cache" : "q_pe",
                  t.q_rope.defined ? "q_pe" : "kpe_cache");
  const int64_t head_dim_qk = split_rope ? MlaShape::kHeadDimV : MlaShape::kHeadDimQK;
  CUTE_MLA_TRY(expect_ndim(q_name, q, 4, split_rope ? "(batch, seqlen_q, num_heads_q, 512)"
                                                    : "(batch, seqlen_q, num_heads_q, 576)"));
  CUTE_MLA_TRY(expect_dim(q_name, q, 3, head_dim_qk,
                          split_rope ? "the latent dim" : "512 latent + 64 rope"));
  CUTE_MLA_TRY(expect_unit_last_stride(q_name, q));
  const int32_t dev = q.device_id;
  const int64_t b = q.shape[0], s_q = q.shape[1], h_q = q.shape[2];

  TensorDesc const& k = t.k_cache;
  if (!k.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "%s: is required", k_name);
  CUTE_MLA_TRY(expect_device(k_name, k, DeviceKind::kCUDA, dev));
  if (k.dtype != q.dtype)
    CUTE_MLA_FAIL(kErrorInvalidType, "%s: expected dtype %s (the dtype of %s), got %s", k_name,
                  dtype_name(q.dtype), q_name, type_text(k));
  CUTE_MLA_TRY(expect_ndim(k_name, k, 4, split_rope
                                             ? "(num_pages, page_size, num_heads_kv, 512)"
                                             : "(num_pages, page_size, num_heads_kv, 576)"));
  CUTE_MLA_TRY(expect_dim(k_name, k, 3, head_dim_qk, "the head dim of q"));
  CUTE_MLA_TRY(expect_unit_last_stride(k_name, k));
  if (split_rope) {
    CUTE_MLA_TRY(expect_rope_operand("q_pe", t.q_rope, "q_nope", q, dev,
                                     "(batch, seqlen_q, num_heads_q, 64)"));
    CUTE_MLA_TRY(expect_rope_operand("kpe_cache", t.k_rope, "ckv_cache", k, dev,
                                     "(num_pages, page_size, num_heads_kv, 64)"));
  }

  TensorDesc const& bt = t.block_table;
  if (!bt.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "block_table: is required");
  CUTE_MLA_TRY(expect_device("block_table", bt, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("block_table", bt, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("block_table", bt, 2, "(batch, max_pages_per_seq)"));
  CUTE_MLA_TRY(expect_dim("block_table", bt, 0, b, "the batch size of q"));
  CUTE_MLA_TRY(expect_unit_last_stride("block_table", bt));

  TensorDesc const& sl = t.cache_seqlens;
  if (!sl.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "cache_seqlens: is required");
  CUTE_MLA_TRY(expect_device("cache_seqlens", sl, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("cache_seqlens", sl, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("cache_seqlens", sl, 1, "(batch,)"));
  CUTE_MLA_TRY(expect_dim("cache_seqlens", sl, 0, b, "the batch size of q"));
  CUTE_MLA_TRY(expect_contiguous("cache_seqlens", sl));

  TensorDesc const& sm = t.sched_meta;
  if (!sm.defined)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "tile_scheduler_metadata: is required (from get_mla_metadata)");
  CUTE_MLA_TRY(expect_device("tile_scheduler_metadata", sm, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("tile_scheduler_metadata", sm, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("tile_scheduler_metadata", sm, 2, "(num_sm_parts, 8)"));
  CUTE_MLA_TRY(expect_dim("tile_scheduler_metadata", sm, 1, kSchedMetaInts,
                          "ints per scheduler record"));
  CUTE_MLA_TRY(expect_contiguous("tile_scheduler_metadata", sm));

  TensorDesc const& ns = t.num_splits;
  if (!ns.defined)
    CUTE_MLA_FAIL(kErrorInvalidValue, "num_splits: is required (from get_mla_metadata)");
  CUTE_MLA_TRY(expect_device("num_splits", ns, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("num_splits", ns, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("num_splits", ns, 1, "(batch + 1,)"));
  if (ns.shape[0] != b + 1)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "num_splits: has %lld entries, expected batch + 1 = %lld: the metadata "
                  "was planned for another batch size",
                  static_cast<long long>(ns.shape[0]), static_cast<long long>(b + 1));
  CUTE_MLA_TRY(expect_contiguous("num_splits", ns));

  if (t.head_dim_v != MlaShape::kHeadDimV)
    CUTE_MLA_FAIL(kErrorInvalidValue, "head_dim_v: must be %d, got %lld",
                  MlaShape::kHeadDimV, static_cast<long long>(t.head_dim_v));

  if (t.out.defined) {
    TensorDesc const& o = t.out;
    CUTE_MLA_TRY(expect_device("out", o, DeviceKind::kCUDA, dev));
    if (o.dtype != q.dtype)
      CUTE_MLA_FAIL(kErrorInvalidType, "out: expected dtype %s (the dtype of q), got %s",
                    dtype_name(q.dtype), type_text(o));
    CUTE_MLA_TRY(expect_ndim("out", o, 4, "(batch, seqlen_q, num_heads_q, 512)"));
    const int64_t want[4] = {b, s_q, h_q, MlaShape::kHeadDimV};
    for (int d = 0; d < 4; ++d)
      CUTE_MLA_TRY(expect_dim("out", o, d, want[d], "(batch, seqlen_q, num_heads_q, 512)"));
    CUTE_MLA_TRY(expect_unit_last_stride("out", o));
    CUTE_MLA_TRY(expect_non_overlapping("out", o));
  }
  if (t.lse.defined) {
    TensorDesc const& l = t.lse;
    CUTE_MLA_TRY(expect_device("lse", l, DeviceKind::kCUDA, dev));
    CUTE_MLA_TRY(expect_dtype("lse", l, DataType::kFloat32));
    CUTE_MLA_TRY(expect_ndim("lse", l, 3, "(batch, num_heads_q, seqlen_q)"));
    const int64_t want[3] = {b, h_q, s_q};
    for (int d = 0; d < 3; ++d)
      CUTE_MLA_TRY(expect_dim("lse", l, d, want[d], "(batch, num_heads_q, seqlen_q)"));
    CUTE_MLA_TRY(expect_non_overlapping("lse", l));
  }

  // Sizes must fit the int32 fields before narrowing.
  if (b > Limits::kMaxBatch)
    CUTE_MLA_FAIL(kErrorInvalidValue, "%s: batch size must be in [1, %d], got %lld", q_name,
                  Limits::kMaxBatch, static_cast<long long>(b));
  CUTE_MLA_TRY(expect_fits_int32(q_name, "seqlen_q (dim 1)", s_q));
  CUTE_MLA_TRY(expect_fits_int32(q_name, "num_heads_q (dim 2)", h_q));
  CUTE_MLA_TRY(expect_fits_int32(k_name, "num_pages (dim 0)", k.shape[0]));
  CUTE_MLA_TRY(expect_fits_int32(k_name, "page size (dim 1)", k.shape[1]));
  CUTE_MLA_TRY(expect_fits_int32(k_name, "num_heads_kv (dim 2)", k.shape[2]));
  CUTE_MLA_TRY(expect_fits_int32("block_table", "max_pages_per_seq (dim 1)", bt.shape[1]));
  CUTE_MLA_TRY(expect_fits_int32("tile_scheduler_metadata", "num_sm_parts (dim 0)", sm.shape[0]));

  DecodeArguments a;
  a.batch = int32_t(b);
  a.seqlen_q = int32_t(s_q);
  a.num_heads_q = int32_t(h_q);
  a.num_heads_kv = int32_t(k.shape[2]);
  a.head_dim_qk = int32_t(q.shape[3]);
  a.head_dim_v = int32_t(t.head_dim_v);
  a.num_pages = int32_t(k.shape[0]);
  a.page_size = int32_t(k.shape[1]);
  a.max_pages_per_seq = int32_t(bt.shape[1]);
  a.element = q.dtype;
  a.softmax_scale = float(t.softmax_scale);
  if (!(t.softmax_scale > 0.0) || !std::isfinite(t.softmax_scale) ||
      !std::isfinite(a.softmax_scale))
    CUTE_MLA_FAIL(kErrorInvalidValue, "softmax_scale: must be finite and > 0, got %g",
                  t.softmax_scale);
  a.mask = t.causal ? MaskMode::kCausal : MaskMode::kNone;
  a.q = q.data;
  a.q_head_stride = stride_or(q, 2, head_dim_qk);
  a.q_seq_stride = stride_or(q, 1, a.q_head_stride * h_q);
  a.q_batch_stride = stride_or(q, 0, a.q_seq_stride * s_q);
  a.k_cache = k.data;
  a.k_head_stride = stride_or(k, 2, head_dim_qk);
  a.k_row_stride = stride_or(k, 1, a.k_head_stride * k.shape[2]);
  a.k_page_stride = stride_or(k, 0, a.k_row_stride * k.shape[1]);
  if (split_rope) {
    TensorDesc const& qr = t.q_rope;
    a.q_rope = qr.data;
    a.q_rope_head_stride = stride_or(qr, 2, MlaShape::kHeadDimRope);
    a.q_rope_seq_stride = stride_or(qr, 1, a.q_rope_head_stride * h_q);
    a.q_rope_batch_stride = stride_or(qr, 0, a.q_rope_seq_stride * s_q);
    TensorDesc const& kr = t.k_rope;
    a.k_rope = kr.data;
    a.k_rope_head_stride = stride_or(kr, 2, MlaShape::kHeadDimRope);
    a.k_rope_row_stride = stride_or(kr, 1, a.k_rope_head_stride * kr.shape[2]);
    a.k_rope_page_stride = stride_or(kr, 0, a.k_rope_row_stride * kr.shape[1]);
  }
  a.block_table = static_cast<const int32_t*>(bt.data);
  a.block_table_stride = bt.shape[0] > 1 ? bt.strides[0] : bt.shape[1];
  a.cache_seqlens = static_cast<const int32_t*>(sl.data);
  a.sched_meta = static_cast<const SchedMeta*>(sm.data);
  a.num_sm_parts = int32_t(sm.shape[0]);
  a.num_splits = static_cast<const int32_t*>(ns.data);
  if (t.out.defined) {
    a.out = t.out.data;
    a.out_head_stride = stride_or(t.out, 2, MlaShape::kHeadDimV);
    a.out_seq_stride = stride_or(t.out, 1, a.out_head_stride * h_q);
    a.out_batch_stride = stride_or(t.out, 0, a.out_seq_stride * s_q);
  }
  if (t.lse.defined) {
    a.lse = static_cast<float*>(t.lse.data);
    a.lse_batch_stride = t.lse.strides[0];
    a.lse_head_stride = t.lse.strides[1];
    a.lse_seq_stride = t.lse.strides[2];
  }
  if (out_args) *out_args = a;
  if (!t.out.defined) {
    // Checking before out is allocated: stand in an aligned, contiguous out.
    a.out = const_cast<void*>(a.q);
    a.out_head_stride = MlaShape::kHeadDimV;
    a.out_seq_stride = a.out_head_stride * h_q;
    a.out_batch_stride = a.out_seq_stride * s_q;
  }
  return check_decode_arguments(a);
}

// ---------------------------------------------------------------------------
inline CheckResult check_metadata_tensors(MetadataTensors const& t) {
  using namespace detail;
  TensorDesc const& sl = t.cache_seqlens;
  if (!sl.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "cache_seqlens: is required");
  CUTE_MLA_TRY(expect_strided("cache_seqlens", sl));
  if (sl.device != DeviceKind::kCUDA && sl.device != DeviceKind::kCPU)
    CUTE_MLA_FAIL(kErrorInvalidDevice, "cache_seqlens: expected a cpu or cuda tensor, got %s",
                  device_name(sl.device));
  CUTE_MLA_TRY(expect_dtype("cache_seqlens", sl, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("cache_seqlens", sl, 1, "(batch,)"));
  CUTE_MLA_TRY(expect_contiguous("cache_seqlens", sl));
  const int64_t b = sl.shape[0];
  if (b < 1 || b > Limits::kMaxBatch)
    CUTE_MLA_FAIL(kErrorInvalidValue, "cache_seqlens: batch size must be in [1, %d], got %lld",
                  Limits::kMaxBatch, static_cast<long long>(b));
  if (t.num_heads_k < 1 || t.num_heads_k > Limits::kMaxHeadsQ)
    CUTE_MLA_FAIL(kErrorInvalidValue, "num_heads_k: must be in [1, %d], got %lld",
                  Limits::kMaxHeadsQ, static_cast<long long>(t.num_heads_k));
  if (t.num_q_tokens_per_head_k < 1 ||
      t.num_q_tokens_per_head_k > int64_t(Limits::kMaxSeqlenQ) * Limits::kMaxHeadsQ)
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "num_q_tokens_per_head_k: must be seqlen_q * num_heads_q // num_heads_k in "
                  "[1, %d], got %lld",
                  Limits::kMaxSeqlenQ * Limits::kMaxHeadsQ,
                  static_cast<long long>(t.num_q_tokens_per_head_k));
  if (t.sched_meta.defined) {
    TensorDesc const& sm = t.sched_meta;
    CUTE_MLA_TRY(expect_device("tile_scheduler_metadata", sm, sl.device, sl.device_id));
    CUTE_MLA_TRY(expect_dtype("tile_scheduler_metadata", sm, DataType::kInt32));
    CUTE_MLA_TRY(expect_ndim("tile_scheduler_metadata", sm, 2, "(num_sm_parts, 8)"));
    CUTE_MLA_TRY(expect_dim("tile_scheduler_metadata", sm, 1, kSchedMetaInts,
                            "ints per scheduler record"));
    if (sm.shape[0] < 1 || sm.shape[0] > Limits::kMaxParts)
      CUTE_MLA_FAIL(kErrorInvalidValue,
                    "tile_scheduler_metadata: number of parts must be in [1, %d], got %lld",
                    Limits::kMaxParts, static_cast<long long>(sm.shape[0]));
    CUTE_MLA_TRY(expect_contiguous("tile_scheduler_metadata", sm));
    if (!aligned(sm.data, 32))
      CUTE_MLA_FAIL(kErrorInvalidValue, "tile_scheduler_metadata: must be 32-byte aligned");
  }
  if (t.num_splits.defined) {
    TensorDesc const& ns = t.num_splits;
    CUTE_MLA_TRY(expect_device("num_splits", ns, sl.device, sl.device_id));
    CUTE_MLA_TRY(expect_dtype("num_splits", ns, DataType::kInt32));
    CUTE_MLA_TRY(expect_ndim("num_splits", ns, 1, "(batch + 1,)"));
    CUTE_MLA_TRY(expect_dim("num_splits", ns, 0, b + 1, "batch + 1"));
    CUTE_MLA_TRY(expect_contiguous("num_splits", ns));
  }
  return CheckResult::success();
}

// ---------------------------------------------------------------------------
inline CheckResult check_combine_tensors(CombineTensors const& t, CombineArguments* out_args) {
  using namespace detail;
  TensorDesc const& o = t.out;
  if (!o.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "out: is required");
  CUTE_MLA_TRY(expect_strided("out", o));
  if (o.device != DeviceKind::kCUDA)
    CUTE_MLA_FAIL(kErrorInvalidDevice, "out: expected a cuda tensor, got one on %s",
                  device_name(o.device));
  if (o.dtype != DataType::kBFloat16 && o.dtype != DataType::kFloat16)
    CUTE_MLA_FAIL(kErrorInvalidType, "out: expected dtype bfloat16 or float16, got %s",
                  type_text(o));
  CUTE_MLA_TRY(expect_ndim("out", o, 4, "(batch, seqlen_q, num_heads_q, 512)"));
  CUTE_MLA_TRY(expect_dim("out", o, 3, MlaShape::kHeadDimV, "head_dim_v"));
  CUTE_MLA_TRY(expect_unit_last_stride("out", o));
  const int32_t dev = o.device_id;
  const int64_t b = o.shape[0], s_q = o.shape[1], h_q = o.shape[2];

  TensorDesc const& oa = t.o_accum;
  if (!oa.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "o_accum: is required");
  CUTE_MLA_TRY(expect_device("o_accum", oa, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("o_accum", oa, DataType::kFloat32));
  CUTE_MLA_TRY(expect_ndim("o_accum", oa, 4, "(slots, num_heads_kv, rows, 512)"));
  CUTE_MLA_TRY(expect_contiguous("o_accum", oa));
  CUTE_MLA_TRY(expect_dim("o_accum", oa, 3, MlaShape::kHeadDimV, "head_dim_v"));
  const int64_t slots = oa.shape[0], h_kv = oa.shape[1], rows = oa.shape[2];
  if (h_kv < 1 || h_q % h_kv != 0 || rows != s_q * (h_q / h_kv))
    CUTE_MLA_FAIL(kErrorInvalidValue,
                  "o_accum: shape[1:3] must be (num_heads_kv, seqlen_q * num_heads_q / "
                  "num_heads_kv), got (%lld, %lld) for out of shape (%lld, %lld, %lld, 512)",
                  static_cast<long long>(h_kv), static_cast<long long>(rows),
                  static_cast<long long>(b), static_cast<long long>(s_q),
                  static_cast<long long>(h_q));
  if (!aligned(oa.data, 16))
    CUTE_MLA_FAIL(kErrorInvalidValue, "o_accum: data pointer must be 16-byte aligned");

  TensorDesc const& la = t.lse_accum;
  if (!la.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "lse_accum: is required");
  CUTE_MLA_TRY(expect_device("lse_accum", la, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("lse_accum", la, DataType::kFloat32));
  CUTE_MLA_TRY(expect_ndim("lse_accum", la, 3, "(slots, num_heads_kv, rows)"));
  CUTE_MLA_TRY(expect_contiguous("lse_accum", la));
  const int64_t want_la[3] = {slots, h_kv, rows};
  for (int d = 0; d < 3; ++d)
    CUTE_MLA_TRY(expect_dim("lse_accum", la, d, want_la[d], "the first dims of o_accum"));

  TensorDesc const& ns = t.num_splits;
  if (!ns.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "num_splits: is required");
  CUTE_MLA_TRY(expect_device("num_splits", ns, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("num_splits", ns, DataType::kInt32));
  CUTE_MLA_TRY(expect_ndim("num_splits", ns, 1, "(batch + 1,)"));
  CUTE_MLA_TRY(expect_dim("num_splits", ns, 0, b + 1, "batch + 1"));
  CUTE_MLA_TRY(expect_contiguous("num_splits", ns));

  TensorDesc const& l = t.lse;
  if (!l.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "lse: is required");
  CUTE_MLA_TRY(expect_device("lse", l, DeviceKind::kCUDA, dev));
  CUTE_MLA_TRY(expect_dtype("lse", l, DataType::kFloat32));
  CUTE_MLA_TRY(expect_ndim("lse", l, 3, "(batch, num_heads_q, seqlen_q)"));
  const int64_t want_l[3] = {b, h_q, s_q};
  for (int d = 0; d < 3; ++d)
    CUTE_MLA_TRY(expect_dim("lse", l, d, want_l[d], "(batch, num_heads_q, seqlen_q)"));

  if (t.max_splits < 1 || t.max_splits > Limits::kMaxParts)
    CUTE_MLA_FAIL(kErrorInvalidValue, "max_splits: must be in [1, %d], got %lld",
                  Limits::kMaxParts, static_cast<long long>(t.max_splits));
  if (b < 1 || b > Limits::kMaxBatch || slots > INT32_MAX)
    CUTE_MLA_FAIL(kErrorInvalidValue, "out: batch size must be in [1, %d], got %lld",
                  Limits::kMaxBatch, static_cast<long long>(b));
  CUTE_MLA_TRY(expect_non_overlapping("out", o));
  CUTE_MLA_TRY(expect_non_overlapping("lse", l));
  const int64_t out_head = stride_or(o, 2, MlaShape::kHeadDimV);
  const int64_t out_seq = stride_or(o, 1, out_head * h_q);
  const int64_t out_batch = stride_or(o, 0, out_seq * s_q);
  CUTE_MLA_TRY(expect_stride_multiple("out", "batch", out_batch, 2));
  CUTE_MLA_TRY(expect_stride_multiple("out", "seq", out_seq, 2));
  CUTE_MLA_TRY(expect_stride_multiple("out", "head", out_head, 2));
  if (!aligned(o.data, 16))
    CUTE_MLA_FAIL(kErrorInvalidValue, "out: data pointer must be 16-byte aligned");

  CombineArguments a;
  a.batch = int32_t(b);
  a.seqlen_q = int32_t(s_q);
  a.num_heads_q = int32_t(h_q);
  a.num_heads_kv = int32_t(h_kv);
  a.head_dim_v = MlaShape::kHeadDimV;
  a.max_splits = int32_t(t.max_splits);
  a.num_slots = int32_t(slots);
  a.element = o.dtype;
  a.o_accum = static_cast<const float*>(oa.data);
  a.lse_accum = static_cast<const float*>(la.data);
  a.num_splits = static_cast<const int32_t*>(ns.data);
  a.out = o.data;
  a.out_batch_stride = out_batch;
  a.out_seq_stride = out_seq;
  a.out_head_stride = out_head;
  a.lse = static_cast<float*>(l.data);
  a.lse_batch_stride = l.strides[0];
  a.lse_head_stride = l.strides[1];
  a.lse_seq_stride = l.strides[2];
  if (out_args) *out_args = a;
  return CheckResult::success();
}

// ---------------------------------------------------------------------------
// Length values, where they are readable on the host (CPU planning, or a
// caller that asked for the check): every length >= 0 and, when
// max_pages_per_seq > 0, within the block table's capacity.
inline CheckResult check_seqlen_values(const int32_t* seqlens, int64_t batch,
                                       int64_t max_pages_per_seq, int64_t page_size) {
  for (int64_t i = 0; i < batch; ++i) {
    if (seqlens[i] < 0)
      CUTE_MLA_FAIL(kErrorInvalidValue, "cache_seqlens: entry %lld is %d; lengths must be >= 0",
                    static_cast<long long>(i), seqlens[i]);
    if (max_pages_per_seq > 0 && int64_t(seqlens[i]) > max_pages_per_seq * page_size)
      CUTE_MLA_FAIL(kErrorInvalidValue,
                    "cache_seqlens: entry %lld is %d, above the block table's capacity of "
                    "%lld pages x %lld tokens",
                    static_cast<long long>(i), seqlens[i],
                    static_cast<long long>(max_pages_per_seq),
                    static_cast<long long>(page_size));
  }
  return CheckResult::success();
}

// ---------------------------------------------------------------------------
// A caller-owned decode workspace (the split partials): a contiguous uint8
// cuda tensor on q's device of at least `need` bytes
// (decode_workspace_size), 256-byte aligned like WorkspaceLayout's offsets.
inline CheckResult check_workspace_tensor(TensorDesc const& w, int32_t device_id,
                                          int64_t need) {
  using namespace detail;
  if (!w.defined) CUTE_MLA_FAIL(kErrorInvalidValue, "workspace: is required (%lld bytes)",
                                static_cast<long long>(need));
  CUTE_MLA_TRY(expect_device("workspace", w, DeviceKind::kCUDA, device_id));
  if (w.dtype != DataType::kOther || std::strcmp(w.dtype_text, "uint8") != 0)
    CUTE_MLA_FAIL(kErrorInvalidType, "workspace: expected dtype uint8, got %s", type_text(w));
  CUTE_MLA_TRY(expect_contiguous("workspace", w));
  int64_t bytes = 1;
  for (int i = 0; i < w.ndim; ++i) bytes *= w.shape[i];
  if (!aligned(w.data, WorkspaceLayout::kAlign))
    CUTE_MLA_FAIL(kErrorInvalidValue, "workspace: data pointer must be %lld-byte aligned",
                  static_cast<long long>(WorkspaceLayout::kAlign));
  if (bytes < need)
    CUTE_MLA_FAIL(kErrorInvalidValue, "workspace: %lld bytes given, %lld needed",
                  static_cast<long long>(bytes), static_cast<long long>(need));
  return CheckResult::success();
}

#undef CUTE_MLA_TRY
#undef CUTE_MLA_FAIL

}  // namespace cute_mla
