// Loading Q and the paged KV cache with TMA (cp.async.bulk.tensor) into
// 128-byte-swizzled shared memory, and the host side that describes the
// tensors to the copy engine.
//
// Paging is the coordinate, not the address: the KV tensor map is 4-D
// (dim, row in page, kv head, page), so a page id read from the block table
// is the last coordinate of the copy. Ids outside the pool read as zeros
// (TMA out-of-bounds fill), never as a fault. Other page sizes change only
// this component (the box height and the rows a tile takes from a page).
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstring>

#include <cute/arch/copy_sm90_desc.hpp>
#include <cute/arch/copy_sm90_tma.hpp>
#if defined(__CUDACC__)
#include <cutlass/arch/barrier.h>
#endif

#include "cute_mla/arguments.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla::collective {

namespace detail {

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The driver entry point, looked up once: the library links only the CUDA
// runtime, never libcuda directly.
inline EncodeTiledFn encode_tiled_fn() {
  static EncodeTiledFn fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return EncodeTiledFn(nullptr);
    return reinterpret_cast<EncodeTiledFn>(p);
  }();
  return fn;
}

// Everything a tensor map is a function of (the swizzle and fill are fixed).
struct TensorMapKey {
  const void* base;
  uint64_t dims[5];
  uint64_t strides[4];
  uint32_t box[5];
  int32_t rank;
  int32_t dtype;
};

// Encoding costs the host about a microsecond per map and a decode step needs
// four, while an engine passes the same cache (and often the same query
// buffer) to the same layer every step: the last kEntries encodings of this
// host thread are kept and reused when every input is equal. A map holds no
// more than its inputs, so a hit is the map a new encoding would give.
class TensorMapCache {
 public:
  static constexpr int kEntries = 256;
  const CUtensorMap* find(TensorMapKey const& k) const {
    for (int i = 0; i < used_; ++i)
      if (keys_[i].base == k.base && std::memcmp(&keys_[i], &k, sizeof(k)) == 0)
        return &maps_[i];
    return nullptr;
  }
  void insert(TensorMapKey const& k, CUtensorMap const& m) {
    keys_[next_] = k;
    maps_[next_] = m;
    next_ = (next_ + 1) % kEntries;
    if (used_ < kEntries) ++used_;
  }

 private:
  TensorMapKey keys_[kEntries];
  CUtensorMap maps_[kEntries];
  int used_ = 0;
  int next_ = 0;
};

inline TensorMapCache& tensor_map_cache() {
  static thread_local TensorMapCache cache;
  return cache;
}

// A 16-bit tensor of `rank` dims (dims[0] contiguous) with 128-byte swizzle.
inline CheckResult encode_16bit(const char* name, CUtensorMap* map, int rank, const void* base,
                                const uint64_t* dims, const uint64_t* strides_bytes,
                                const uint32_t* box, CUtensorMapDataType dtype) {
  TensorMapKey key{};  // zeroed, padding included: keys compare with memcmp
  key.base = base;
  key.rank = rank;
  key.dtype = int32_t(dtype);
  for (int i = 0; i < rank; ++i) {
    key.dims[i] = dims[i];
    key.box[i] = box[i];
    if (i + 1 < rank) key.strides[i] = strides_bytes[i];
  }
  TensorMapCache& cache = tensor_map_cache();
  if (CUtensorMap const* hit = cache.find(key)) {
    *map = *hit;
    return CheckResult::success();
  }
  EncodeTiledFn fn = encode_tiled_fn();
  if (fn == nullptr)
    return CheckResult::error(Status::kErrorCuda,
                              "%s: the driver has no cuTensorMapEncodeTiled (needs CUDA 12+)",
                              name);
  cuuint64_t d[5];
  cuuint64_t s[4];
  cuuint32_t b[5];
  cuuint32_t e[5];
  for (int i = 0; i < rank; ++i) {
    d[i] = dims[i];
    b[i] = box[i];
    e[i] = 1;
    if (i + 1 < rank) s[i] = strides_bytes[i];
  }
  CUresult r = fn(map, dtype, cuuint32_t(rank), const_cast<void*>(base), d, s, b, e,
                  CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                  CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return CheckResult::error(Status::kErrorInvalidValue,
                              "%s: the TMA engine cannot describe this tensor (CUresult %d); "
                              "check its strides and alignment",
                              name, int(r));
  cache.insert(key, *map);
  return CheckResult::success();
}

}  // namespace detail

template <class Traits>
struct PagedKvTmaSm90 {
  using Element = typename Traits::Element;
  static constexpr int kBoxCols = Traits::kBoxCols;
  static constexpr int kBoxElems = Traits::kBlockN * kBoxCols;  // one 64 x 64 box
  static constexpr uint64_t kEvictLast = uint64_t(cute::TMA::CacheHintSm90::EVICT_LAST);

  static CUtensorMapDataType dtype() {
    return cute::is_same_v<Element, cutlass::half_t> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                     : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  }

  // A paged cache operand as (cols, page rows, h_kv, pages); one box = 64
  // columns of one page. The latent map covers 512 columns of k_cache, the
  // RoPE map 64 columns wherever they live (k_cache + 512 or k_rope).
  static CheckResult make_page_map(const char* name, DecodeArguments const& a, const void* base,
                                   int32_t cols, int64_t row_stride, int64_t head_stride,
                                   int64_t page_stride, CUtensorMap* map) {
    const uint64_t eb = sizeof(Element);
    const uint64_t dims[4] = {uint64_t(cols), uint64_t(a.page_size), uint64_t(a.num_heads_kv),
                              uint64_t(a.num_pages)};
    const uint64_t strides[3] = {uint64_t(row_stride) * eb, uint64_t(head_stride) * eb,
                                 uint64_t(page_stride) * eb};
    const uint32_t box[4] = {uint32_t(kBoxCols), uint32_t(Traits::kBlockN), 1u, 1u};
    return detail::encode_16bit(name, map, 4, base, dims, strides, box, dtype());
  }

  static CheckResult make_kv_maps(DecodeArguments const& a, CUtensorMap* latent,
                                  CUtensorMap* rope) {
    CheckResult r = make_page_map("k_cache", a, a.k_cache, Traits::kHeadDimV, a.k_row_stride,
                                  a.k_head_stride, a.k_page_stride, latent);
    if (!r.ok()) return r;
    const RopeOperands ro = rope_operands(a, sizeof(Element));
    return make_page_map(a.k_rope != nullptr ? "k_rope" : "k_cache", a, ro.k,
                         Traits::kHeadDimRope, ro.k_row_stride, ro.k_head_stride,
                         ro.k_page_stride, rope);
  }

  // A query operand as (cols, h_q/h_kv, h_kv, s_q, b); one box = 64 columns
  // of a query tile: (heads_pad heads x 64/heads_pad tokens) or 64 heads of
  // one token. The latent map covers q's 512 columns, the RoPE map 64
  // columns wherever they live (q + 512 or q_rope).
  static CheckResult make_query_map(const char* name, DecodeArguments const& a,
                                    const void* base, int32_t cols, int64_t head_stride,
                                    int64_t seq_stride, int64_t batch_stride, int32_t heads_pad,
                                    CUtensorMap* map) {
    const uint64_t eb = sizeof(Element);
    const int32_t hpk = a.num_heads_q / a.num_heads_kv;
    const uint64_t dims[5] = {uint64_t(cols), uint64_t(hpk), uint64_t(a.num_heads_kv),
                              uint64_t(a.seqlen_q), uint64_t(a.batch)};
    const uint64_t strides[4] = {uint64_t(head_stride) * eb, uint64_t(head_stride) * hpk * eb,
                                 uint64_t(seq_stride) * eb, uint64_t(batch_stride) * eb};
    const int32_t box_heads = heads_pad < Traits::kBlockM ? heads_pad : Traits::kBlockM;
    const uint32_t box[5] = {uint32_t(kBoxCols), uint32_t(box_heads), 1u,
                             uint32_t(Traits::kBlockM / box_heads), 1u};
    return detail::encode_16bit(name, map, 5, base, dims, strides, box, dtype());
  }

  static CheckResult make_q_maps(DecodeArguments const& a, int32_t heads_pad,
                                 CUtensorMap* latent, CUtensorMap* rope) {
    CheckResult r = make_query_map("q", a, a.q, Traits::kHeadDimV, a.q_head_stride,
                                   a.q_seq_stride, a.q_batch_stride, heads_pad, latent);
    if (!r.ok()) return r;
    const RopeOperands ro = rope_operands(a, sizeof(Element));
    return make_query_map(a.q_rope != nullptr ? "q_rope" : "q", a, ro.q, Traits::kHeadDimRope,
                          ro.q_head_stride, ro.q_seq_stride, ro.q_batch_stride, heads_pad, rope);
  }

#if defined(__CUDACC__)
  // The boxes of one page (kv head `kv_head`, pool page `page`; eight latent
  // boxes, then the RoPE box): box c completes barrier
  // bars[Traits::group_of_box(c)], so a reader may start on one group while
  // the others are in flight. In a cluster of `cluster` CTAs every CTA
  // expects all of a group's boxes, and CTA `rank` loads boxes rank,
  // rank + cluster, ... for all (multicast).
  CUTE_DEVICE static void load_page(CUtensorMap const& latent, CUtensorMap const& rope,
                                    uint64_t* bars, Element* smem, int32_t kv_head, int32_t page,
                                    int32_t rank, int32_t cluster, uint64_t cache_hint) {
    using Barrier = cutlass::arch::ClusterTransactionBarrier;
    const uint16_t everyone = uint16_t((1u << cluster) - 1u);
#pragma unroll
    for (int g = 0; g < Traits::kBoxGroups; ++g)
      Barrier::arrive_and_expect_tx(&bars[g], Traits::kBoxBytes * Traits::kBoxesPerGroup);
#pragma unroll
    for (int c = 0; c < Traits::kBoxes; ++c) {
      const int g = Traits::group_of_box(c);
      if (c % cluster != rank) continue;
      load_box(latent, rope, &bars[g], smem, c, kv_head, page, cluster, everyone, cache_hint);
    }
  }

  // Box c of one page (latent boxes 0-7, the RoPE box 8) into its place in
  // the stage at `smem`, completing `bar`; multicast to `everyone` in a cluster.
  CUTE_DEVICE static void load_box(CUtensorMap const& latent, CUtensorMap const& rope,
                                   uint64_t* bar, Element* smem, int c, int32_t kv_head,
                                   int32_t page, int32_t cluster, uint16_t everyone,
                                   uint64_t cache_hint) {
    const bool is_rope = c == Traits::kLatentBoxes;
    CUtensorMap const* map = is_rope ? &rope : &latent;
    const int32_t col = is_rope ? 0 : c * kBoxCols;
    if (cluster == 1)
      cute::SM90_TMA_LOAD_4D::copy(map, bar, cache_hint, smem + c * kBoxElems, col, 0, kv_head,
                                   page);
    else
      cute::SM90_TMA_LOAD_MULTICAST_4D::copy(map, bar, everyone, cache_hint, smem + c * kBoxElems,
                                             col, 0, kv_head, page);
  }

  // The nine boxes of query tile `m_tile` of (request, kv head), laid out
  // as a page's.
  CUTE_DEVICE static void load_q(CUtensorMap const& latent, CUtensorMap const& rope,
                                 uint64_t* bar, Element* smem, int32_t heads_pad_log2,
                                 int32_t m_tile, int32_t kv_head, int32_t req) {
    const int32_t first_row = m_tile * Traits::kBlockM;  // in R = s * heads_pad + h
    const int32_t head0 = first_row & ((1 << heads_pad_log2) - 1);
    const int32_t seq0 = first_row >> heads_pad_log2;
#pragma unroll
    for (int c = 0; c < Traits::kLatentBoxes; ++c)
      cute::SM90_TMA_LOAD_5D::copy(&latent, bar, kEvictLast, smem + c * kBoxElems,
                                   c * kBoxCols, head0, kv_head, seq0, req);
    cute::SM90_TMA_LOAD_5D::copy(&rope, bar, kEvictLast,
                                 smem + Traits::kLatentBoxes * kBoxElems, 0, head0, kv_head,
                                 seq0, req);
  }
#endif
};

}  // namespace cute_mla::collective
