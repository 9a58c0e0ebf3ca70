// The two consumer warpgroups of the decode kernel, in a "seesaw" schedule.
// Pages come in pairs (a, b); warpgroup w owns O's columns [256w, 256w+256).
//   warpgroup 0: S_a = Q K_a^T; softmax against the running max m: m0 =
//     max(m, rowmax S_a), scale0 = 2^(m - m0); O_L = O_L * scale0 + P_a V_a,L;
//     posts P_a, m0, scale0.
//   warpgroup 1 (S_b computed meanwhile): O_R = O_R * scale0 + P_a V_a,R, and
//     while that runs, S_b's softmax against m0: m1, scale1 = 2^(m0 - m1);
//     posts P_b, m1, scale1; O_R = O_R * scale1 + P_b V_b,R.
//   warpgroup 0: O_L = O_L * scale1 + P_b V_b,L.
// One warpgroup's softmax runs on the CUDA cores while the other's GEMMs keep
// the tensor cores busy; each multiplies its own P from registers and the
// other's from smem. Row sums stay per warpgroup (both relative to the same
// max) and are added in the epilogue, which writes the final output for a
// request of one piece, or an fp32 partial (normalised O, base-2 LSE) for a
// piece of a split one. Page a's V_R is consumed mid-pair (not last), so its
// stage refills while page b is still in use.
//
// What must stay true:
//   * rows past a sequence end of the last page are zeroed in shared memory
//     by the warpgroup computing that page's S, before it reads them; the
//     other warpgroup reads them only after a seesaw barrier;
//   * each KV group is released (kv_empty) exactly once per use by its last
//     reader, after its wgmma completed: the RoPE box by the page's S
//     warpgroup, V_L by warpgroup 0, V_R by warpgroup 1; q_empty by every
//     consumer thread once per request, after its last S;
//   * every pair runs kWg0Ready (0 -> 1) then kWg1Ready (1 -> 0), also when
//     page b is missing: a warpgroup arrives only after syncing on the
//     other's previous signal, and rewrites a posted buffer (P, max, scale)
//     only after the other warpgroup's reads of it were waited for.
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

// The 64 x 64 S accumulator ((2 cols, 2 rows, 8 col groups), 1, 1) converted
// to the A operand of a register-sourced wgmma over K = 64 keys
// ((2 cols, 2 rows, 2 k halves), 1, 4 k blocks): column group g is k block
// g / 2, half g % 2. Both are the m64 fragments of the PTX ISA.
template <class AccTensor, class ATensor>
CUTE_DEVICE void accumulator_to_operand_a(AccTensor const& acc, ATensor& a) {
  using namespace cute;
  CUTE_UNROLL
  for (int g = 0; g < 8; ++g)
    CUTE_UNROLL
    for (int r = 0; r < 2; ++r)
      CUTE_UNROLL
      for (int c = 0; c < 2; ++c)
        a(make_coord(make_coord(c, r, g % 2), 0, g / 2)) =
            typename ATensor::value_type(acc(make_coord(make_coord(c, r, g), 0, 0)));
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
  using NB = kernel::NamedBarrier;
  static constexpr int kRows = 2;  // query rows per thread (r, r + 8)
  static constexpr float kLn2 = 0.69314718055994530942f;

  // bar.sync / bar.arrive need each warp converged; data-dependent paths in
  // the math before them (exp2f, conversions) may leave it split.
  CUTE_DEVICE static void sync(NB id, int threads = Traits::kConsumerThreads) {
    __syncwarp();
    cutlass::arch::NamedBarrier::sync(threads, static_cast<uint32_t>(id));
  }

  CUTE_DEVICE static void arrive(NB id) {
    __syncwarp();
    cutlass::arch::NamedBarrier::arrive(Traits::kConsumerThreads, static_cast<uint32_t>(id));
  }

  // The state of one (request, row tile) while its pages stream by.
  struct RowState {
    float max[kRows];  // running max, log2 units, shared by both warpgroups
    float sum[kRows];  // this thread's part of this warpgroup's row sums
    int32_t seqlen;    // keys of the request
  };

  template <class Storage>
  CUTE_DEVICE static void run(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                              Storage& ss, int32_t m_tile, int32_t kv_head) {
    using namespace cute;
    using T = Traits;
    const int wg = threadIdx.x / T::kWarpgroupThreads;  // consumer warpgroup 0 or 1
    const int tid = threadIdx.x % T::kWarpgroupThreads;

    typename T::TiledMmaS mma_s;
    typename T::TiledMmaSRope mma_sr;
    typename T::TiledMmaORegP mma_or;
    typename T::TiledMmaOSmemP mma_os;
    auto thr_s = mma_s.get_thread_slice(tid);
    auto thr_sr = mma_sr.get_thread_slice(tid);
    auto thr_or = mma_or.get_thread_slice(tid);
    auto thr_os = mma_os.get_thread_slice(tid);

    Tensor sQ = make_tensor(make_smem_ptr(ss.q), typename T::SmemLayoutQ{});       // (64,512)
    Tensor tSrQ = thr_s.make_fragment_A(thr_s.partition_A(sQ));                    // (MMA,1,32)
    Tensor sPown = make_tensor(make_smem_ptr(ss.p[wg]), typename T::SmemLayoutP{});
    Tensor sPother = make_tensor(make_smem_ptr(ss.p[1 - wg]), typename T::SmemLayoutP{});
    Tensor tSsP = thr_s.partition_C(sPown);                                         // store own P
    Tensor tOrPother = thr_os.make_fragment_A(thr_os.partition_A(sPother));        // (MMA,1,4)

    // Q's RoPE columns as the A operand of the RS wgmma, and where each
    // element comes from.
    Tensor cQr = thr_sr.partition_A(
        make_identity_tensor(Shape<typename T::BlockM, typename T::HeadDimRope>{}));
    Tensor tSrQr = make_tensor<Element>(
        partition_shape_A(mma_sr, Shape<typename T::BlockM, typename T::HeadDimRope>{}));

    // (row, col) of every accumulator element this thread holds. The S and
    // O accumulators give a thread the same two rows.
    Tensor cS = thr_s.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::BlockN>{}));
    Tensor cO = thr_os.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::ColsPerWg>{}));
    Tensor cS_rc = make_tensor(cS.data(), detail::accumulator_rowcol(cS.layout()));  // (2,16)
    Tensor cO_rc = make_tensor(cO.data(), detail::accumulator_rowcol(cO.layout()));  // (2,64)

    // Few registers are left beside O, S, P and Q's RoPE columns: keep only
    // the tile rows and derive (token, head) from them where needed.
    int32_t row[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) row[i] = get<0>(cO_rc(i, 0));

    int32_t q_uses = 0;
    int32_t kv_uses = 0;  // pages consumed so far: page k uses stage k % kStages
    for (int32_t req = sched.begin_req; req <= sched.end_req; ++req) {
      const kernel::Piece pc = kernel::piece_of(sched, req, params.cache_seqlens[req],
                                                MlaShape::kPageSize, params.max_pages_per_seq);
      Tensor tOrO = partition_fragment_C(mma_os, Shape<typename T::BlockM,
                                                       typename T::ColsPerWg>{});  // (MMA,1,1)
      clear(tOrO);
      Tensor O = make_tensor(tOrO.data(), detail::accumulator_rowcol(tOrO.layout()));  // (2,64)
      RowState st;
      st.seqlen = pc.seqlen;
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) {
        st.max[i] = -INFINITY;
        st.sum[i] = 0.f;
      }
      const bool has_kv = pc.begin_block < pc.end_block;
      if (has_kv) {
        load_q_rope(params, cQr, tSrQr, req, kv_head, m_tile);
        TxBarrier::wait(&ss.q_full, q_uses & 1);
        ++q_uses;
      }
      for (int32_t blk_a = pc.begin_block; blk_a < pc.end_block; blk_a += 2) {
        const int32_t blk_b = blk_a + 1;
        const bool has_b = blk_b < pc.end_block;
        const int32_t stage_a = kv_uses % T::kStages;
        const int32_t phase_a = (kv_uses / T::kStages) & 1;
        const int32_t stage_b = (kv_uses + 1) % T::kStages;
        const int32_t phase_b = ((kv_uses + 1) / T::kStages) & 1;
        kv_uses += has_b ? 2 : 1;

        if (wg == 0) {
          // S_a, softmax against the running max, O_L = O_L * scale0 + P_a V_a,L.
          Tensor tSrS = partition_fragment_C(mma_s, Shape<typename T::BlockM,
                                                          typename T::BlockN>{});
          compute_s(params, ss, pc, stage_a, phase_a, blk_a, wg, mma_s, thr_s, mma_sr, thr_sr,
                    tSrQ, tSrQr, tSrS);
          if (blk_a + 2 >= pc.end_block) Barrier::arrive(&ss.q_empty);
          Barrier::arrive(&ss.kv_empty[stage_a][T::kGroupRope]);
          Tensor S = make_tensor(tSrS.data(), detail::accumulator_rowcol(tSrS.layout()));
          float scale0[kRows];
          softmax(params, S, cS_rc, row, m_tile, blk_a, st.max, st, scale0);
          rescale(O, scale0);
          Tensor tOrP = make_tensor<Element>(partition_shape_A(
              mma_or, Shape<typename T::BlockM, typename T::BlockN>{}));
          detail::accumulator_to_operand_a(tSrS, tOrP);
          gemm_pv(mma_or, thr_or, tOrP, ss.kv[stage_a], wg, tOrO);
          // Post P_a and the new max while the tensor cores run.
          store_p(tSrS, tSsP);
          if (tid % 4 == 0) {
            CUTE_UNROLL
            for (int i = 0; i < kRows; ++i) {
              ss.max0[row[i]] = st.max[i];
              ss.scale0[row[i]] = scale0[i];
            }
          }
          arrive(NB::kWg0Ready);

          // Warpgroup 1's max over both pages.
          sync(NB::kWg1Ready);
          float scale1[kRows];
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) {
            scale1[i] = ss.scale1[row[i]];
            st.max[i] = ss.max1[row[i]];
            st.sum[i] *= scale1[i];
          }
          cute::warpgroup_wait<0>();
          warpgroup_fence_operand(tOrO);
          warpgroup_fence_operand(tOrP);
          Barrier::arrive(&ss.kv_empty[stage_a][T::kGroupLeft]);
          if (has_b) {
            rescale(O, scale1);
            TxBarrier::wait(&ss.kv_full[stage_b][T::kGroupLeft], phase_b);
            gemm_pv(mma_os, thr_os, tOrPother, ss.kv[stage_b], wg, tOrO);
            cute::warpgroup_wait<0>();
            warpgroup_fence_operand(tOrO);
            Barrier::arrive(&ss.kv_empty[stage_b][T::kGroupLeft]);
          }
        } else {
          Tensor tSrS = partition_fragment_C(mma_s, Shape<typename T::BlockM,
                                                          typename T::BlockN>{});
          if (has_b) {
            compute_s(params, ss, pc, stage_b, phase_b, blk_b, wg, mma_s, thr_s, mma_sr, thr_sr,
                      tSrQ, tSrQr, tSrS);
            if (blk_b + 2 >= pc.end_block) Barrier::arrive(&ss.q_empty);
            Barrier::arrive(&ss.kv_empty[stage_b][T::kGroupRope]);
          } else if (blk_a == pc.begin_block) {
            Barrier::arrive(&ss.q_empty);  // a one-page piece: no S here at all
          }
          // O_R = O_R * scale0 + P_a V_a,R, then S_b's softmax while it runs.
          sync(NB::kWg0Ready);
          float scale0[kRows], max0[kRows];
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) {
            scale0[i] = ss.scale0[row[i]];
            max0[i] = ss.max0[row[i]];
            st.sum[i] *= scale0[i];
            st.max[i] = max0[i];
          }
          rescale(O, scale0);
          TxBarrier::wait(&ss.kv_full[stage_a][T::kGroupRight], phase_a);
          gemm_pv(mma_os, thr_os, tOrPother, ss.kv[stage_a], wg, tOrO);
          float scale1[kRows] = {1.f, 1.f};
          if (has_b) {
            Tensor S = make_tensor(tSrS.data(), detail::accumulator_rowcol(tSrS.layout()));
            softmax(params, S, cS_rc, row, m_tile, blk_b, max0, st, scale1);
            store_p(tSrS, tSsP);
          }
          if (tid % 4 == 0) {
            CUTE_UNROLL
            for (int i = 0; i < kRows; ++i) {
              ss.max1[row[i]] = st.max[i];
              ss.scale1[row[i]] = scale1[i];
            }
          }
          arrive(NB::kWg1Ready);
          cute::warpgroup_wait<0>();
          warpgroup_fence_operand(tOrO);
          Barrier::arrive(&ss.kv_empty[stage_a][T::kGroupRight]);
          if (has_b) {
            rescale(O, scale1);
            Tensor tOrP = make_tensor<Element>(partition_shape_A(
                mma_or, Shape<typename T::BlockM, typename T::BlockN>{}));
            detail::accumulator_to_operand_a(tSrS, tOrP);
            gemm_pv(mma_or, thr_or, tOrP, ss.kv[stage_b], wg, tOrO);
            cute::warpgroup_wait<0>();
            warpgroup_fence_operand(tOrO);
            warpgroup_fence_operand(tOrP);
            Barrier::arrive(&ss.kv_empty[stage_b][T::kGroupRight]);
          }
        }
      }
      epilogue(params, ss, pc, req, kv_head, m_tile, wg, tid, has_kv, row, st, O, cO_rc);
    }
  }

  // Q's RoPE columns of this thread's A fragment, straight from global
  // memory (once per request; rows past h_q / h_kv or s_q are zeros).
  template <class CoordTensor, class RegTensor>
  CUTE_DEVICE static void load_q_rope(kernel::DecodeParamsSm90 const& params,
                                      CoordTensor const& cQr, RegTensor& tSrQr, int32_t req,
                                      int32_t kv_head, int32_t m_tile) {
    using namespace cute;
    const Element* q = static_cast<const Element*>(params.q_rope);
    CUTE_UNROLL
    for (int k = 0; k < size(tSrQr); ++k) {
      const int32_t r = m_tile * Traits::kBlockM + get<0>(cQr(k));
      const int32_t s = r >> params.heads_pad_log2;
      const int32_t h = r & ((1 << params.heads_pad_log2) - 1);
      Element v = Element(0.f);
      if (s < params.seqlen_q && h < params.heads_per_kv)
        v = q[req * params.q_rope_batch_stride + s * params.q_rope_seq_stride +
              (kv_head * params.heads_per_kv + h) * params.q_rope_head_stride + get<1>(cQr(k))];
      tSrQr(k) = v;
    }
  }

  // S = Q K^T of one page: the RoPE box first (it is refilled first), then
  // the latent boxes half by half, each as soon as it has landed.
  template <class Storage, class MmaS, class ThrS, class MmaSR, class ThrSR, class TQ,
            class TQr, class TS>
  CUTE_DEVICE static void compute_s(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                    kernel::Piece const& pc, int32_t stage, int32_t phase,
                                    int32_t blk, int wg, MmaS& mma_s, ThrS& thr_s, MmaSR& mma_sr,
                                    ThrSR& thr_sr, TQ const& tSrQ, TQr const& tSrQr, TS& tSrS) {
    using namespace cute;
    using T = Traits;
    Element* kv = ss.kv[stage];
    Tensor sK = make_tensor(make_smem_ptr(kv), typename T::SmemLayoutK{});  // (64,512)
    Tensor sKr = make_tensor(make_smem_ptr(kv + T::kLatentBoxes * T::kBlockN * T::kBoxCols),
                             typename T::SmemLayoutKRope{});                 // (64,64)
    Tensor tSrK = thr_s.make_fragment_B(thr_s.partition_B(sK));             // (MMA,1,32)
    Tensor tSrKr = thr_sr.make_fragment_B(thr_sr.partition_B(sKr));         // (MMA,1,4)

    const int32_t rows_in_page = pc.seqlen - blk * T::kBlockN;
    if (rows_in_page < T::kBlockN) {
      TxBarrier::wait(&ss.kv_full[stage][T::kGroupLeft], phase);
      TxBarrier::wait(&ss.kv_full[stage][T::kGroupRight], phase);
      zero_tail_rows(sK, rows_in_page, wg);
    }
    warpgroup_fence_operand(tSrS);
    TxBarrier::wait(&ss.kv_full[stage][T::kGroupRope], phase);
    warpgroup_arrive();
    mma_sr.accumulate_ = GMMA::ScaleOut::Zero;
    CUTE_UNROLL
    for (int k = 0; k < size<2>(tSrKr); ++k) {
      gemm(mma_sr, tSrQr(_, _, k), tSrKr(_, _, k), tSrS);
      mma_sr.accumulate_ = GMMA::ScaleOut::One;
    }
    mma_s.accumulate_ = GMMA::ScaleOut::One;
    constexpr int kHalfK = size<2>(decltype(tSrK){}) / 2;
    CUTE_UNROLL
    for (int half = 0; half < 2; ++half) {
      TxBarrier::wait(&ss.kv_full[stage][half == 0 ? T::kGroupLeft : T::kGroupRight], phase);
      warpgroup_arrive();
      CUTE_UNROLL
      for (int k = half * kHalfK; k < (half + 1) * kHalfK; ++k)
        gemm(mma_s, tSrQ(_, _, k), tSrK(_, _, k), tSrS);
    }
    warpgroup_commit_batch();
    warpgroup_wait<0>();
    warpgroup_fence_operand(tSrS);
  }

  // Online softmax of one page in the log2 domain, against `prev_max`:
  // masks keys past each row's limit, sets st.max to the new max, returns
  // the rescale 2^(prev - new) per row, turns S into P and adds its row sums.
  template <class STensor, class CoordTensor>
  CUTE_DEVICE static void softmax(kernel::DecodeParamsSm90 const& params, STensor& S,
                                  CoordTensor const& cS_rc, int32_t const* row, int32_t m_tile,
                                  int32_t blk, float const* prev_max, RowState& st,
                                  float* scale) {
    using namespace cute;
    const int32_t first_key = blk * Traits::kBlockN;
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      // Bottom-right causal: token s of s_q sees keys [0, len - s_q + s].
      int32_t key_limit = st.seqlen;
      if (params.mask == MaskMode::kCausal) {
        const int32_t s = (m_tile * Traits::kBlockM + row[i]) >> params.heads_pad_log2;
        key_limit = min(key_limit, st.seqlen - params.seqlen_q + 1 + s);
      }
      float tile_max = -INFINITY;
      CUTE_UNROLL
      for (int j = 0; j < size<1>(S); ++j) {
        if (first_key + get<1>(cS_rc(i, j)) >= key_limit) S(i, j) = -INFINITY;
        tile_max = fmaxf(tile_max, S(i, j));
      }
      const float new_max = fmaxf(prev_max[i], detail::quad_max(tile_max) * params.scale_log2);
      // A row with no key yet keeps -inf; subtract 0 instead so nothing is NaN.
      const float base = new_max == -INFINITY ? 0.f : new_max;
      scale[i] = exp2f(prev_max[i] - base);
      st.max[i] = new_max;
      float sum = 0.f;
      CUTE_UNROLL
      for (int j = 0; j < size<1>(S); ++j) {
        S(i, j) = exp2f(fmaf(S(i, j), params.scale_log2, -base));
        sum += S(i, j);
      }
      st.sum[i] = st.sum[i] * scale[i] + sum;
    }
  }

  // Most pages leave the row maxima unchanged: skip the 128 multiplies then.
  template <class OTensor>
  CUTE_DEVICE static void rescale(OTensor& O, float const* scale) {
    using namespace cute;
    if (__any_sync(0xffffffffu, scale[0] != 1.f || scale[1] != 1.f)) {
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) {
        CUTE_UNROLL
        for (int j = 0; j < size<1>(O); ++j) O(i, j) *= scale[i];
      }
    }
  }

  template <class TS, class TsP>
  CUTE_DEVICE static void store_p(TS const& tSrS, TsP& tSsP) {
    using namespace cute;
    Tensor tSrP = make_tensor_like<Element>(tSrS);
    CUTE_UNROLL
    for (int k = 0; k < size(tSrS); ++k) tSrP(k) = Element(tSrS(k));
    copy(tSrP, tSsP);
    cutlass::arch::fence_view_async_shared();  // the other warpgroup's wgmma reads it
  }

  // O_w += P V_w for this warpgroup's 256 columns of one stage; issued, not
  // waited (the caller waits before touching O or releasing the stage).
  template <class Mma, class Thr, class TP, class TO>
  CUTE_DEVICE static void gemm_pv(Mma& mma, Thr& thr, TP const& tP, Element* kv, int wg, TO& tOrO) {
    using namespace cute;
    Tensor sVt = make_tensor(make_smem_ptr(kv), typename Traits::SmemLayoutVt{});  // (512,64)
    Tensor sVw = local_tile(sVt, Shape<typename Traits::ColsPerWg, typename Traits::BlockN>{},
                            make_coord(wg, _0{}));                                 // (256,64)
    Tensor tOrV = thr.make_fragment_B(thr.partition_B(sVw));                      // (MMA,1,4)
    warpgroup_fence_operand(tOrO);
    warpgroup_arrive();
    mma.accumulate_ = GMMA::ScaleOut::One;
    CUTE_UNROLL
    for (int k = 0; k < size<2>(tP); ++k) gemm(mma, tP(_, _, k), tOrV(_, _, k), tOrO);
    warpgroup_commit_batch();
  }

  // Rows [rows_in_page, 64) of the last page hold whatever the pool holds
  // (NaN in tests): zero their latent columns, 16 bytes at a time, before a
  // GEMM reads them (their RoPE columns only meet masked scores).
  template <class SmemTensor>
  CUTE_DEVICE static void zero_tail_rows(SmemTensor& sK, int32_t rows_in_page, int wg) {
    using namespace cute;
    constexpr int kChunk = 16 / int(sizeof(Element));
    constexpr int kChunksPerRow = Traits::kHeadDimV / kChunk;
    const int32_t first = rows_in_page < 0 ? 0 : rows_in_page;
    const int32_t chunks = (Traits::kBlockN - first) * kChunksPerRow;
    for (int32_t c = threadIdx.x % Traits::kWarpgroupThreads; c < chunks;
         c += Traits::kWarpgroupThreads) {
      const int32_t r = first + c / kChunksPerRow;
      const int32_t col = (c % kChunksPerRow) * kChunk;
      *reinterpret_cast<uint4*>(&sK(r, col)) = make_uint4(0, 0, 0, 0);
    }
    cutlass::arch::fence_view_async_shared();
    sync(wg == 0 ? NB::kTailZeroed0 : NB::kTailZeroed1, Traits::kWarpgroupThreads);
  }

  template <class Storage, class OTensor, class CoordTensor>
  CUTE_DEVICE static void epilogue(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                   kernel::Piece const& pc, int32_t req, int32_t kv_head,
                                   int32_t m_tile, int wg, int tid, bool has_kv,
                                   int32_t const* row, RowState const& st, OTensor const& O,
                                   CoordTensor const& cO_rc) {
    using namespace cute;
    float total[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) total[i] = detail::quad_sum(st.sum[i]);
    if (has_kv) {
      // Both warpgroups' sums are relative to the same final max.
      if (tid % 4 == 0) {
        CUTE_UNROLL
        for (int i = 0; i < kRows; ++i) ss.row_sum[wg][row[i]] = total[i];
      }
      sync(NB::kRowSumExchange);
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) total[i] += ss.row_sum[1 - wg][row[i]];
    }
    const float nan = __int_as_float(0x7fffffff);
    const int32_t rows_per_kv = params.seqlen_q * params.heads_per_kv;
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      const int32_t r = m_tile * Traits::kBlockM + row[i];
      const int32_t seq = r >> params.heads_pad_log2;
      const int32_t head_in_group = r & ((1 << params.heads_pad_log2) - 1);
      if (seq >= params.seqlen_q || head_in_group >= params.heads_per_kv) continue;
      const bool any = has_kv && total[i] > 0.f;
      float inv = any ? 1.f / total[i] : 0.f;
      float lse2 = any ? st.max[i] + log2f(total[i]) : -INFINITY;
      if (pc.invalid) inv = lse2 = nan;
      const int32_t head = kv_head * params.heads_per_kv + head_in_group;
      const int32_t col0 = wg * Traits::kColsPerWarpgroup;
      if (!pc.split) {
        Element* out = static_cast<Element*>(params.out) + req * params.out_batch_stride +
                       seq * params.out_seq_stride + head * params.out_head_stride + col0;
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
                     seq * params.lse_seq_stride] =
              pc.invalid ? nan : (any ? lse2 * kLn2 : INFINITY);
      } else {
        const int64_t slot = int64_t(params.num_splits[req]) + pc.split_index;
        const int64_t row_index = (slot * params.num_heads_kv + kv_head) * rows_per_kv +
                                  seq * params.heads_per_kv + head_in_group;
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
