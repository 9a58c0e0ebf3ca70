// The two consumer warpgroups of the decode kernel. Per page, warpgroup 0
// computes S = Q K^T on the tensor cores and the online softmax in the log2
// domain, and posts P and each row's rescale factor in shared memory; then
// both warpgroups rescale their half of O and add P V (warpgroup w owns
// columns [256w, 256w + 256)).
// The epilogue writes the final output for a request of one piece, or an fp32
// partial (normalised O, base-2 LSE) for a piece of a split request.
//
// What must stay true:
//   * rows past a sequence end of the last page are zeroed in shared memory
//     before any GEMM reads them (the cache may hold NaN there);
//   * every consumer thread arrives on kv_empty (and every thread of
//     warpgroup 0 on q_empty) exactly once per use, after its last read of
//     the buffer has completed (wgmma waited);
//   * P is rewritten only after warpgroup 1 arrived on kProbsConsumed for
//     the previous page (its wgmma reads are done); row_scale alternates
//     between two buffers, so a write is two pages after the read it could
//     clobber and a full kProbsReady barrier lies between; row_sum is read by
//     warpgroup 1 before it reaches the next page's kProbsReady.
#pragma once

#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>

#include <cmath>

#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/named_barriers.hpp"
#include "cute_mla/kernel/part_pieces.hpp"
#include "cute_mla/mla_shape.hpp"

namespace cute_mla::collective {

namespace detail {

// A wgmma accumulator ((2, 2, V), M, N) seen as (rows, cols) of this thread:
// ((2, M), (2, V, N)). Each thread holds rows r and r + 8 of its warp's 16.
template <class Layout>
CUTE_DEVICE auto accumulator_rowcol(Layout l) {
  using namespace cute;
  auto v = get<0>(l);
  return make_layout(make_layout(get<1>(v), get<1>(l)),
                     make_layout(get<0>(v), get<2>(v), get<2>(l)));
}

// Both operands in shared memory; zero_init replaces instead of adding.
template <bool kZeroInit, class Mma, class TA, class TB, class TC>
CUTE_DEVICE void gemm_ss(Mma& mma, TA const& a, TB const& b, TC& c) {
  using namespace cute;
  warpgroup_fence_operand(c);
  warpgroup_arrive();
  if constexpr (kZeroInit) mma.accumulate_ = GMMA::ScaleOut::Zero;
  CUTE_UNROLL
  for (int k = 0; k < size<2>(a); ++k) {
    gemm(mma, a(_, _, k), b(_, _, k), c);
    mma.accumulate_ = GMMA::ScaleOut::One;
  }
  warpgroup_commit_batch();
  warpgroup_wait<0>();
  warpgroup_fence_operand(c);
}

CUTE_DEVICE float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

CUTE_DEVICE float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

}  // namespace detail

template <class Traits>
struct ConsumerSm90 {
  using Element = typename Traits::Element;
  using Barrier = cutlass::arch::ClusterBarrier;
  using TxBarrier = cutlass::arch::ClusterTransactionBarrier;
  static constexpr int kRows = 2;  // query rows per thread (r, r + 8)
  static constexpr float kLn2 = 0.69314718055994530942f;

  // bar.sync / bar.arrive need each warp converged; data-dependent paths in
  // the math before them (exp2f, conversions) may leave it split, and
  // compute-sanitizer's synccheck saw exactly that without the __syncwarp.
  CUTE_DEVICE static void sync(kernel::NamedBarrier id) {
    __syncwarp();
    cutlass::arch::NamedBarrier::sync(Traits::kConsumerThreads, static_cast<uint32_t>(id));
  }

  CUTE_DEVICE static void arrive(kernel::NamedBarrier id) {
    __syncwarp();
    cutlass::arch::NamedBarrier::arrive(Traits::kConsumerThreads, static_cast<uint32_t>(id));
  }

  template <class Storage>
  CUTE_DEVICE static void run(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                              Storage& ss, int32_t m_tile, int32_t kv_head) {
    using namespace cute;
    using T = Traits;
    const int wg = threadIdx.x / T::kWarpgroupThreads;  // consumer warpgroup 0 or 1
    const int tid = threadIdx.x % T::kWarpgroupThreads;
    const bool computes_s = wg == 0;

    typename T::TiledMmaS mma_s;
    typename T::TiledMmaO mma_o;
    auto thr_s = mma_s.get_thread_slice(tid);
    auto thr_o = mma_o.get_thread_slice(tid);

    Tensor sQ = make_tensor(make_smem_ptr(ss.q), typename T::SmemLayoutQ{});    // (64,576)
    Tensor sP = make_tensor(make_smem_ptr(ss.p), typename T::SmemLayoutP{});    // (64,64)
    Tensor tSrQ = thr_s.make_fragment_A(thr_s.partition_A(sQ));                 // (MMA,1,36)
    Tensor tOrP = thr_o.make_fragment_A(thr_o.partition_A(sP));                 // (MMA,1,4)
    Tensor tSsP = thr_s.partition_C(sP);                                         // (MMA,1,1)

    // (row, col) of every accumulator element this thread holds. The S and
    // O accumulators give a thread the same two rows.
    Tensor cS = thr_s.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::BlockN>{}));
    Tensor cO = thr_o.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::ColsPerWg>{}));
    Tensor cS_rc = make_tensor(cS.data(), detail::accumulator_rowcol(cS.layout()));  // (2,16)
    Tensor cO_rc = make_tensor(cO.data(), detail::accumulator_rowcol(cO.layout()));  // (2,64)

    const int32_t heads_pad_mask = (1 << params.heads_pad_log2) - 1;
    int32_t row[kRows], seq[kRows], head_in_group[kRows];
    bool row_valid[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      row[i] = get<0>(cO_rc(i, 0));
      const int32_t r = m_tile * T::kBlockM + row[i];
      seq[i] = r >> params.heads_pad_log2;
      head_in_group[i] = r & heads_pad_mask;
      row_valid[i] = seq[i] < params.seqlen_q && head_in_group[i] < params.heads_per_kv;
    }
    const bool causal = params.mask == MaskMode::kCausal;

    int32_t q_uses = 0;
    int32_t kv_uses = 0;
    for (int32_t req = sched.begin_req; req <= sched.end_req; ++req) {
      const kernel::Piece pc = kernel::piece_of(sched, req, params.cache_seqlens[req],
                                                MlaShape::kPageSize, params.max_pages_per_seq);
      Tensor tOrO = partition_fragment_C(mma_o, Shape<typename T::BlockM,
                                                      typename T::ColsPerWg>{});  // (MMA,1,1)
      clear(tOrO);
      Tensor O = make_tensor(tOrO.data(), detail::accumulator_rowcol(tOrO.layout()));  // (2,64)
      // Warpgroup 0 keeps the running max (log2 units) and row sums.
      float row_max[kRows], row_sum[kRows];
      int32_t key_limit[kRows];
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) {
        row_max[i] = -INFINITY;
        row_sum[i] = 0.f;
        // Bottom-right causal: token s of s_q sees keys [0, len - s_q + s].
        key_limit[i] = causal ? min(pc.seqlen, pc.seqlen - params.seqlen_q + 1 + seq[i])
                              : pc.seqlen;
      }
      const bool has_kv = pc.begin_block < pc.end_block;
      if (has_kv && computes_s) {
        TxBarrier::wait(&ss.q_full, q_uses & 1);
        ++q_uses;
      }
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        const int32_t stage = kv_uses % T::kStages;
        TxBarrier::wait(&ss.kv_full[stage], (kv_uses / T::kStages) & 1);
        const bool first_use = kv_uses == 0;
        ++kv_uses;
        Element* kv = ss.kv[stage];
        Tensor sK = make_tensor(make_smem_ptr(kv), typename T::SmemLayoutK{});   // (64,576)

        const int32_t rows_in_page = pc.seqlen - blk * T::kBlockN;
        if (rows_in_page < T::kBlockN) zero_tail_rows(sK, rows_in_page);

        float scale[kRows];
        if (computes_s) {
          Tensor tSrK = thr_s.make_fragment_B(thr_s.partition_B(sK));            // (MMA,1,36)
          Tensor tSrS = partition_fragment_C(mma_s, Shape<typename T::BlockM,
                                                          typename T::BlockN>{});  // (MMA,1,1)
          detail::gemm_ss<true>(mma_s, tSrQ, tSrK, tSrS);
          if (blk + 1 == pc.end_block) Barrier::arrive(&ss.q_empty);  // Q read for the last time

          Tensor S = make_tensor(tSrS.data(), detail::accumulator_rowcol(tSrS.layout()));  // (2,32)
          const int32_t first_key = blk * T::kBlockN;
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) {
            float tile_max = -INFINITY;
            CUTE_UNROLL
            for (int j = 0; j < size<1>(S); ++j) {
              if (first_key + get<1>(cS_rc(i, j)) >= key_limit[i]) S(i, j) = -INFINITY;
              tile_max = fmaxf(tile_max, S(i, j));
            }
            const float new_max =
                fmaxf(row_max[i], detail::quad_max(tile_max) * params.scale_log2);
            // A row with no key yet keeps -inf; subtract 0 instead so nothing is NaN.
            const float base = new_max == -INFINITY ? 0.f : new_max;
            scale[i] = exp2f(row_max[i] - base);
            row_max[i] = new_max;
            float sum = 0.f;
            CUTE_UNROLL
            for (int j = 0; j < size<1>(S); ++j) {
              S(i, j) = exp2f(fmaf(S(i, j), params.scale_log2, -base));
              sum += S(i, j);
            }
            row_sum[i] = row_sum[i] * scale[i] + sum;
          }
          Tensor tSrP = make_tensor_like<Element>(tSrS);
          CUTE_UNROLL
          for (int k = 0; k < size(tSrS); ++k) tSrP(k) = Element(tSrS(k));
          // Warpgroup 1 must be done with the previous page's P and scale.
          if (!first_use) sync(kernel::NamedBarrier::kProbsConsumed);
          copy(tSrP, tSsP);
          if (tid % 4 == 0) {
            CUTE_UNROLL
            for (int i = 0; i < kRows; ++i) ss.row_scale[stage][row[i]] = scale[i];
          }
          cutlass::arch::fence_view_async_shared();
          sync(kernel::NamedBarrier::kProbsReady);
        } else {
          sync(kernel::NamedBarrier::kProbsReady);
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) scale[i] = ss.row_scale[stage][row[i]];
        }

        // Most pages leave the row maxima unchanged: skip the 128 multiplies then.
        if (__any_sync(0xffffffffu, scale[0] != 1.f || scale[1] != 1.f)) {
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) {
            CUTE_UNROLL
            for (int j = 0; j < size<1>(O); ++j) O(i, j) *= scale[i];
          }
        }

        Tensor sVt = make_tensor(make_smem_ptr(kv), typename T::SmemLayoutVt{});  // (512,64)
        Tensor sVw = local_tile(sVt, Shape<typename T::ColsPerWg, typename T::BlockN>{},
                                make_coord(wg, _0{}));                           // (256,64)
        Tensor tOrV = thr_o.make_fragment_B(thr_o.partition_B(sVw));            // (MMA,1,4)
        detail::gemm_ss<false>(mma_o, tOrP, tOrV, tOrO);
        if (!computes_s) arrive(kernel::NamedBarrier::kProbsConsumed);
        Barrier::arrive(&ss.kv_empty[stage]);
      }
      epilogue(params, ss, pc, req, kv_head, wg, tid, has_kv, row, seq, head_in_group,
               row_valid, row_max, row_sum, O, cO_rc);
    }
    // Match warpgroup 1's last kProbsConsumed arrival.
    if (computes_s && kv_uses > 0) sync(kernel::NamedBarrier::kProbsConsumed);
  }

  // Rows [rows_in_page, 64) of the last page hold whatever the pool holds
  // (NaN in tests): zero them, 16 bytes at a time, before a GEMM reads them.
  template <class SmemTensor>
  CUTE_DEVICE static void zero_tail_rows(SmemTensor& sK, int32_t rows_in_page) {
    using namespace cute;
    constexpr int kChunk = 16 / int(sizeof(Element));
    constexpr int kChunksPerRow = Traits::kHeadDim / kChunk;
    const int32_t first = rows_in_page < 0 ? 0 : rows_in_page;
    const int32_t chunks = (Traits::kBlockN - first) * kChunksPerRow;
    for (int32_t c = threadIdx.x; c < chunks; c += Traits::kConsumerThreads) {
      const int32_t r = first + c / kChunksPerRow;
      const int32_t col = (c % kChunksPerRow) * kChunk;
      *reinterpret_cast<uint4*>(&sK(r, col)) = make_uint4(0, 0, 0, 0);
    }
    cutlass::arch::fence_view_async_shared();
    sync(kernel::NamedBarrier::kTailZeroed);
  }

  template <class Storage, class OTensor, class CoordTensor>
  CUTE_DEVICE static void epilogue(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                   kernel::Piece const& pc, int32_t req, int32_t kv_head,
                                   int wg, int tid, bool has_kv, int32_t const* row,
                                   int32_t const* seq, int32_t const* head_in_group,
                                   bool const* row_valid, float const* row_max,
                                   float const* row_sum, OTensor const& O,
                                   CoordTensor const& cO_rc) {
    using namespace cute;
    float total[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) total[i] = detail::quad_sum(row_sum[i]);
    if (has_kv) {
      if (wg == 0 && tid % 4 == 0) {
        CUTE_UNROLL
        for (int i = 0; i < kRows; ++i) ss.row_sum[row[i]] = total[i];
      }
      sync(kernel::NamedBarrier::kRowSumExchange);
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) total[i] = ss.row_sum[row[i]];
    }
    const float nan = __int_as_float(0x7fffffff);
    const int32_t rows_per_kv = params.seqlen_q * params.heads_per_kv;
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      if (!row_valid[i]) continue;
      const bool any = has_kv && total[i] > 0.f;
      float inv = any ? 1.f / total[i] : 0.f;
      float lse2 = any ? row_max[i] + log2f(total[i]) : -INFINITY;
      if (pc.invalid) inv = lse2 = nan;
      const int32_t head = kv_head * params.heads_per_kv + head_in_group[i];
      const int32_t col0 = wg * Traits::kColsPerWarpgroup;
      if (!pc.split) {
        Element* out = static_cast<Element*>(params.out) + req * params.out_batch_stride +
                       seq[i] * params.out_seq_stride + head * params.out_head_stride + col0;
        CUTE_UNROLL
        for (int j = 0; j < size<1>(O); j += 2) {
          const int32_t col = get<1>(cO_rc(i, j));
          union { Element e[2]; uint32_t u; } pack;
          pack.e[0] = Element(O(i, j) * inv);
          pack.e[1] = Element(O(i, j + 1) * inv);
          *reinterpret_cast<uint32_t*>(out + col) = pack.u;
        }
        if (wg == 0 && tid % 4 == 0 && params.lse != nullptr)
          params.lse[req * params.lse_batch_stride + head * params.lse_head_stride +
                     seq[i] * params.lse_seq_stride] =
              pc.invalid ? nan : (any ? lse2 * kLn2 : INFINITY);
      } else {
        const int64_t slot = int64_t(params.num_splits[req]) + pc.split_index;
        const int64_t row_index = (slot * params.num_heads_kv + kv_head) * rows_per_kv +
                                  seq[i] * params.heads_per_kv + head_in_group[i];
        float* partial = params.o_accum + row_index * Traits::kHeadDimV + col0;
        CUTE_UNROLL
        for (int j = 0; j < size<1>(O); j += 2) {
          const int32_t col = get<1>(cO_rc(i, j));
          *reinterpret_cast<float2*>(partial + col) = make_float2(O(i, j) * inv, O(i, j + 1) * inv);
        }
        if (wg == 0 && tid % 4 == 0) params.lse_accum[row_index] = lse2;
      }
    }
  }
};

}  // namespace cute_mla::collective
