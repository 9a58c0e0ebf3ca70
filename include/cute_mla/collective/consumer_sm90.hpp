// The consumer warpgroups of the decode kernel.
//   * Warpgroup 0 ("scores"): per page, S = Q K^T on the tensor cores (group
//     by group as the TMA boxes land), the online softmax in the log2 domain,
//     and P and each row's rescale factor posted in shared memory. It keeps
//     the row maxima and sums and writes the LSE.
//   * Warpgroups 1 and 2 ("values"): each owns half of O (columns
//     [256h, 256h + 256)), rescales it and adds P V for every page, and
//     writes the output.
// So S of page t + 1 runs on the tensor cores while the value warpgroups
// compute P V of page t, and the softmax of a page overlaps P V too.
// The epilogue writes the final output for a request of one piece, or an fp32
// partial (normalised O, base-2 LSE) for a piece of a split request.
//
// What must stay true:
//   * rows past a sequence end of the last page are zeroed in shared memory
//     (by warpgroup 0, before its S and before it posts P) before any GEMM
//     reads them (the cache may hold NaN there);
//   * every consumer warp arrives on kv_empty of every CTA of its cluster
//     exactly once per page, after its last read of the stage has completed
//     (wgmma waited), and every thread of warpgroup 0 on q_empty once per
//     request;
//   * P, row_scale and row_sum are rewritten only after the value
//     warpgroups arrived on kProbsConsumed for the page that read them: the
//     scores warpgroup syncs on it before each page's P (but the first of a
//     request) and once at the end of every request, so per page one arrival
//     meets one sync and a barrier never holds two generations.
#pragma once

#include <cute/atom/copy_atom.hpp>
#include <cute/atom/copy_traits_sm90.hpp>
#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>

#include <cmath>

#include "cute_mla/collective/producer_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/named_barriers.hpp"
#include "cute_mla/kernel/part_pieces.hpp"
#include "cute_mla/kernel/trace.hpp"
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

// A in shared memory (or registers: RS, fenced by the caller), B in shared
// memory; zero_init replaces instead of adding.
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

// 2^x by the MUFU unit directly (ex2.approx.ftz): exp2f adds a range
// reduction (compare, two multiplies) per element on the softmax's critical
// path; results below 2^-126 flush to 0, far below a bf16 P's resolution
// next to the row maximum's 1.
CUTE_DEVICE float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

CUTE_DEVICE float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}

CUTE_DEVICE float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Rows [first, rows) of a K-major tile in shared memory set to zero, 16 bytes
// a store, by `threads` threads of which this is `tid`; fenced for the async
// proxy (the wgmmas that read the tile next). The caller's barrier follows.
template <class SmemTensor>
CUTE_DEVICE void zero_rows_from(SmemTensor& t, int32_t first, int tid, int threads) {
  using namespace cute;
  using Element = typename SmemTensor::value_type;
  constexpr int kChunk = 16 / int(sizeof(Element));
  constexpr int kRowsTotal = decltype(size<0>(t))::value;
  constexpr int kChunksPerRow = decltype(size<1>(t))::value / kChunk;
  if (first < 0) first = 0;
  const int32_t chunks = (kRowsTotal - first) * kChunksPerRow;
  for (int32_t c = tid; c < chunks; c += threads) {
    const int32_t r = first + c / kChunksPerRow;
    const int32_t col = (c % kChunksPerRow) * kChunk;
    *reinterpret_cast<uint4*>(&t(r, col)) = make_uint4(0, 0, 0, 0);
  }
  cutlass::arch::fence_view_async_shared();
}

// One page of the online softmax, in the log2 domain, on this thread's rows
// of S (rows x keys, keys from first_key): keys at or past a row's key_limit
// are masked, row_max and row_sum move on, S becomes P = 2^(S * scale_log2 -
// max), and scale is each row's rescale of what came before.
template <class STensor, class CoordTensor>
CUTE_DEVICE void online_softmax(STensor& S, CoordTensor const& cS_rc, int32_t first_key,
                                int32_t keys, int32_t const* key_limit, float scale_log2,
                                float* row_max, float* row_sum, float* scale) {
  using namespace cute;
  constexpr int kRows = decltype(size<0>(S))::value;
  // Only a page that reaches past a row's last key needs the mask.
  if (first_key + keys > min(key_limit[0], key_limit[kRows - 1])) {
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      CUTE_UNROLL
      for (int j = 0; j < size<1>(S); ++j)
        if (first_key + get<1>(cS_rc(i, j)) >= key_limit[i]) S(i, j) = -INFINITY;
    }
  }
  CUTE_UNROLL
  for (int i = 0; i < kRows; ++i) {
    // Four partial maxima and sums: a chain of 32 dependent instructions
    // was most of the softmax's ~830 cycles between S and P (trace_decode).
    constexpr int kLanes = 4;
    float part[kLanes];
    CUTE_UNROLL
    for (int l = 0; l < kLanes; ++l) part[l] = -INFINITY;
    CUTE_UNROLL
    for (int j = 0; j < size<1>(S); ++j) part[j % kLanes] = fmaxf(part[j % kLanes], S(i, j));
    const float tile_max = fmaxf(fmaxf(part[0], part[1]), fmaxf(part[2], part[3]));
    const float new_max = fmaxf(row_max[i], quad_max(tile_max) * scale_log2);
    // A row with no key yet keeps -inf; subtract 0 instead so nothing is NaN.
    const float base = new_max == -INFINITY ? 0.f : new_max;
    scale[i] = fast_exp2(row_max[i] - base);
    row_max[i] = new_max;
    CUTE_UNROLL
    for (int l = 0; l < kLanes; ++l) part[l] = 0.f;
    CUTE_UNROLL
    for (int j = 0; j < size<1>(S); ++j) {
      S(i, j) = fast_exp2(fmaf(S(i, j), scale_log2, -base));
      part[j % kLanes] += S(i, j);
    }
    row_sum[i] = row_sum[i] * scale[i] + ((part[0] + part[1]) + (part[2] + part[3]));
  }
}

}  // namespace detail

template <class Traits>
struct ConsumerSm90 {
  using Element = typename Traits::Element;
  using Barrier = cutlass::arch::ClusterBarrier;
  using TxBarrier = cutlass::arch::ClusterTransactionBarrier;
  static constexpr int kRows = 2;  // query rows per thread (r, r + 8)
  static constexpr float kLn2 = 0.69314718055994530942f;
  static constexpr int kBoxSteps = Traits::kBoxCols / 16;  // S k-steps per box

  // bar.sync / bar.arrive need each warp converged; data-dependent paths in
  // the math before them (exp2f, conversions) may leave it split, and
  // compute-sanitizer's synccheck saw exactly that without the __syncwarp.
  CUTE_DEVICE static void sync(kernel::NamedBarrier id,
                               int threads = Traits::kConsumerThreads) {
    __syncwarp();
    cutlass::arch::NamedBarrier::sync(threads, static_cast<uint32_t>(id));
  }

  CUTE_DEVICE static void arrive(kernel::NamedBarrier id) {
    __syncwarp();
    cutlass::arch::NamedBarrier::arrive(Traits::kConsumerThreads, static_cast<uint32_t>(id));
  }

  // This warp is done reading the stage: one arrival on its kv_empty in every
  // CTA of the cluster (after __syncwarp, so every lane's reads are done).
  CUTE_DEVICE static void release_stage(uint64_t* empty, int32_t cluster_tiles) {
    __syncwarp();
    const bool leader = cute::elect_one_sync();
    if (cluster_tiles == 1) {
      if (leader) Barrier::arrive(empty);
    } else {
      for (int32_t c = 0; c < cluster_tiles; ++c) Barrier::arrive(empty, uint32_t(c), leader);
    }
  }

  // The query rows of this thread's two accumulator rows (the S and the O
  // accumulators give a thread the same rows).
  struct Rows {
    int32_t row[kRows], seq[kRows], head_in_group[kRows], head[kRows];
    bool valid[kRows];
  };

  // Row r of query tile m_tile: token seq, head within the KV head's group
  // (tile rows are s * heads_pad + h: decode_params_sm90.hpp).
  struct TileRow {
    int32_t seq, head_in_group;
    bool valid;
  };

  CUTE_DEVICE static TileRow tile_row(kernel::DecodeParamsSm90 const& params, int32_t m_tile,
                                      int32_t r) {
    const int32_t t = m_tile * Traits::kBlockM + r;
    TileRow tr;
    tr.seq = t >> params.heads_pad_log2;
    tr.head_in_group = t & ((1 << params.heads_pad_log2) - 1);
    tr.valid = tr.seq < params.seqlen_q && tr.head_in_group < params.heads_per_kv;
    return tr;
  }

  template <class CoordRowCol>
  CUTE_DEVICE static Rows rows_of(kernel::DecodeParamsSm90 const& params, int32_t m_tile,
                                  int32_t kv_head, CoordRowCol const& c_rc) {
    Rows r;
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      r.row[i] = cute::get<0>(c_rc(i, 0));
      const TileRow tr = tile_row(params, m_tile, r.row[i]);
      r.seq[i] = tr.seq;
      r.head_in_group[i] = tr.head_in_group;
      r.head[i] = kv_head * params.heads_per_kv + tr.head_in_group;
      r.valid[i] = tr.valid;
    }
    return r;
  }

  CUTE_DEVICE static kernel::Piece piece(kernel::DecodeParamsSm90 const& params,
                                         SchedMeta const& sched, int32_t req) {
    return kernel::piece_of(sched, req, params.cache_seqlens[req], MlaShape::kPageSize,
                            params.max_pages_per_seq);
  }

  // Where a split piece's result goes: its partials slot (the request's first
  // slot plus its index) and, for a request of exactly two pieces, the flag
  // the two share. Read when the piece starts, not in the epilogue: after a
  // long walk the line is long gone from L1, and a dependent DRAM round trip
  // at the end of a CTA is on the critical path of small batches.
  struct Split {
    int64_t slot = 0;        // this piece's partials slot
    int64_t other_slot = 0;  // a pair: the other piece's
    uint64_t* flag = nullptr;  // non-null: a valid request of exactly two pieces
    bool merges = false;     // a pair's second piece: it merges; the first publishes
  };

  CUTE_DEVICE static Split split_of(kernel::DecodeParamsSm90 const& params,
                                    kernel::Piece const& pc, int32_t req, int32_t m_tile,
                                    int32_t kv_head) {
    Split sp;
    if (!pc.split) return sp;
    const int32_t first = params.num_splits[req];
    sp.slot = int64_t(first) + pc.split_index;
    if (params.pair_flags == nullptr || pc.invalid || pc.split_index >= 2) return sp;
    if (params.num_splits[req + 1] - first == 2) {
      sp.other_slot = int64_t(first) + (1 - pc.split_index);
      sp.flag = params.pair_flags +
                (int64_t(first) * params.num_heads_kv + kv_head) * params.pair_flag_tiles + m_tile;
      sp.merges = pc.split_index == 1;
    }
    return sp;
  }

  // A query row's index in the split partials (o_accum rows, lse_accum).
  CUTE_DEVICE static int64_t partial_index(kernel::DecodeParamsSm90 const& params, int64_t slot,
                                           int32_t kv_head, int32_t seq, int32_t head_in_group) {
    return (slot * params.num_heads_kv + kv_head) * (params.seqlen_q * params.heads_per_kv) +
           seq * params.heads_per_kv + head_in_group;
  }

  // Row i of this thread in the split partials.
  CUTE_DEVICE static int64_t partial_row(kernel::DecodeParamsSm90 const& params, int64_t slot,
                                         int32_t kv_head, Rows const& rows, int i) {
    return partial_index(params, slot, kv_head, rows.seq[i], rows.head_in_group[i]);
  }

  // Row i of this thread in the output, from column col0, and its LSE.
  CUTE_DEVICE static Element* out_row(kernel::DecodeParamsSm90 const& params, int32_t req,
                                      Rows const& rows, int i, int32_t col0) {
    return static_cast<Element*>(params.out) + req * params.out_batch_stride +
           rows.seq[i] * params.out_seq_stride + rows.head[i] * params.out_head_stride + col0;
  }

  CUTE_DEVICE static float& lse_out(kernel::DecodeParamsSm90 const& params, int32_t req,
                                    Rows const& rows, int i) {
    return params.lse[req * params.lse_batch_stride + rows.head[i] * params.lse_head_stride +
                      rows.seq[i] * params.lse_seq_stride];
  }

  // Two adjacent output elements in one 32-bit store.
  CUTE_DEVICE static void store_pair(Element* p, float a, float b) {
    union { Element e[2]; uint32_t u; } pack;
    pack.e[0] = Element(a);
    pack.e[1] = Element(b);
    *reinterpret_cast<uint32_t*>(p) = pack.u;
  }

  // Warpgroup 0: S, softmax, P; row statistics and the LSE.
  template <class Storage>
  CUTE_DEVICE static void run_scores(kernel::DecodeParamsSm90 const& params,
                                     SchedMeta const& sched, Storage& ss, int32_t m_tile,
                                     int32_t kv_head) {
    using namespace cute;
    using T = Traits;
    const int tid = threadIdx.x % T::kWarpgroupThreads;

    typename T::TiledMmaS mma_s;
    auto thr_s = mma_s.get_thread_slice(tid);
    Tensor sQ = make_tensor(make_smem_ptr(ss.q), typename T::SmemLayoutQ{});    // (64,576)
    Tensor sP = make_tensor(make_smem_ptr(ss.p), typename T::SmemLayoutP{});    // (64,64)
    Tensor tSrQ = thr_s.make_fragment_A(thr_s.partition_A(sQ));                 // (MMA,1,36)
    // P leaves the accumulator layout by stmatrix, four 16-byte rows a
    // thread: element-wise stores were 16 generic ST.E a thread, and stmatrix
    // was 1 % faster at h_q = 128 (stsm-qregs-ab_*_20261207-1301.txt).
    auto p_r2s = make_tiled_copy_C(Copy_Atom<SM90_U32x4_STSM_N, Element>{}, mma_s);
    auto thr_p_r2s = p_r2s.get_thread_slice(tid);
    Tensor tPsP = thr_p_r2s.partition_D(sP);
    Tensor cS = thr_s.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::BlockN>{}));
    Tensor cS_rc = make_tensor(cS.data(), detail::accumulator_rowcol(cS.layout()));  // (2,16)
    const Rows rows = rows_of(params, m_tile, kv_head, cS_rc);
    const bool causal = params.mask == MaskMode::kCausal;

    int32_t q_uses = 0;
    int32_t kv_uses = 0;
    for (int32_t req = sched.end_req; req >= sched.begin_req; --req) {  // last to first: part_pieces.hpp
      const kernel::Piece pc = piece(params, sched, req);
      const Split sp = split_of(params, pc, req, m_tile, kv_head);
      float row_max[kRows], row_sum[kRows];
      int32_t key_limit[kRows];
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) {
        row_max[i] = -INFINITY;
        row_sum[i] = 0.f;
        // Bottom-right causal: token s of s_q sees keys [0, len - s_q + s].
        key_limit[i] = causal ? min(pc.seqlen, pc.seqlen - params.seqlen_q + 1 + rows.seq[i])
                              : pc.seqlen;
      }
      const bool has_kv = pc.has_kv();
      // The merging piece is its part's last: the first piece has most likely
      // published long before. Looked at now, its latency hides behind the walk,
      // and its partial is brought into L2 for the merge.
      const bool published = sp.merges && tid == 0 && load_acquire(sp.flag) == params.pair_token;
      if (sp.merges && tid < 32) prefetch_partial(params, sp.other_slot, m_tile, kv_head, tid);
      if (has_kv) {
        TxBarrier::wait(&ss.q_full, q_uses & 1);
        ++q_uses;
      }
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        const int32_t stage = kv_uses % T::kStages;
        const uint32_t phase = (kv_uses / T::kStages) & 1;
        const int32_t seq = kv_uses++;
        uint64_t* full = ss.kv_full[stage];
        Tensor sK = make_tensor(make_smem_ptr(ss.kv[stage]), typename T::SmemLayoutK{});

        const int32_t rows_in_page = pc.seqlen - blk * T::kBlockN;
        if (rows_in_page < T::kBlockN) {
          CUTE_UNROLL
          for (int g = 0; g < T::kBoxGroups; ++g) TxBarrier::wait(&full[g], phase);
          zero_tail_rows(sK, rows_in_page);
        }

        Tensor tSrK = thr_s.make_fragment_B(thr_s.partition_B(sK));            // (MMA,1,36)
        Tensor tSrS = partition_fragment_C(mma_s, Shape<typename T::BlockM,
                                                        typename T::BlockN>{});  // (MMA,1,1)
        // One commit group per group of boxes, each issued as soon as it lands.
        warpgroup_fence_operand(tSrS);
        mma_s.accumulate_ = GMMA::ScaleOut::Zero;
        CUTE_UNROLL
        for (int g = 0; g < T::kBoxGroups; ++g) {
          if (g == 0 && tid == 0) kernel::trace::stamp(kernel::trace::kScoresWait, seq);
          TxBarrier::wait(&full[g], phase);
          if (g == 0 && tid == 0) kernel::trace::stamp(kernel::trace::kScoresFull, seq);
          warpgroup_arrive();
          CUTE_UNROLL
          for (int k = 0; k < T::kBoxes * kBoxSteps; ++k) {
            if (T::group_of_box(k / kBoxSteps) != g) continue;  // both loops unrolled: static
            gemm(mma_s, tSrQ(_, _, k), tSrK(_, _, k), tSrS);
            mma_s.accumulate_ = GMMA::ScaleOut::One;
          }
          warpgroup_commit_batch();
        }
        warpgroup_wait<0>();
        warpgroup_fence_operand(tSrS);
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresDone, seq);
        if (blk + 1 == pc.end_block) Barrier::arrive(&ss.q_empty);  // Q read for the last time

        Tensor S = make_tensor(tSrS.data(), detail::accumulator_rowcol(tSrS.layout()));  // (2,32)
        float scale[kRows];
        detail::online_softmax(S, cS_rc, blk * T::kBlockN, T::kBlockN, key_limit, params.scale_log2,
                               row_max, row_sum, scale);
        Tensor tSrP = make_tensor_like<Element>(tSrS);
        CUTE_UNROLL
        for (int k = 0; k < size(tSrS); ++k) tSrP(k) = Element(tSrS(k));
        // The value warpgroups must be done with the previous page's P and scale.
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresSoftmax, seq);
        if (blk != pc.begin_block) sync(kernel::NamedBarrier::kProbsConsumed);
        copy(p_r2s, thr_p_r2s.retile_S(tSrP), tPsP);
        if (tid % 4 == 0) {
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) ss.row_scale[rows.row[i]] = scale[i];
        }
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresStored, seq);
        // P.V reads P through the async proxy (unless by ldmatrix).
        if constexpr (!T::kPInRegisters) cutlass::arch::fence_view_async_shared();
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresFenced, seq);
        arrive(kernel::NamedBarrier::kProbsReady);
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresPosted, seq);
        // S has read the page. Released only now: the stage cannot be refilled
        // before P.V has read it, which starts after this, and the arrivals
        // (remote ones in a cluster) sat between S and the softmax, on the
        // path to P (trace_decode: that phase took 960 cycles with a cluster's
        // remote arrivals, 830 without).
        release_stage(&ss.kv_empty[stage], params.cluster_tiles);
        if (tid == 0) kernel::trace::stamp(kernel::trace::kScoresReleased, seq);
      }
      // The last page's P.V is done: its P, scale and the previous row sums are free.
      if (has_kv) sync(kernel::NamedBarrier::kProbsConsumed);
      if (sp.merges) {
        scores_merge_epilogue(params, ss, sp, req, kv_head, tid, has_kv, rows, row_max, row_sum,
                              published);
      } else {
        scores_epilogue(params, ss, pc, req, sp.slot, kv_head, tid, has_kv, rows, row_max, row_sum);
        if (sp.flag != nullptr) arrive_publish();
      }
    }
  }

  // Warpgroups 1 and 2: O[:, 256h : 256h + 256) += P V for every page.
  template <class Storage>
  CUTE_DEVICE static void run_values(kernel::DecodeParamsSm90 const& params,
                                     SchedMeta const& sched, Storage& ss, int32_t m_tile,
                                     int32_t kv_head) {
    using namespace cute;
    using T = Traits;
    const int half = threadIdx.x / T::kWarpgroupThreads - 1;
    const int tid = threadIdx.x % T::kWarpgroupThreads;

    typename T::TiledMmaO mma_o;
    auto thr_o = mma_o.get_thread_slice(tid);
    Tensor sP = make_tensor(make_smem_ptr(ss.p), typename T::SmemLayoutP{});    // (64,64)
    Tensor tOrP = thr_o.make_fragment_A(thr_o.partition_A(sP));  // (MMA,1,4): descriptors, or registers (RS)
    // P into registers by ldmatrix (CUTE_MLA_P_IN_REGISTERS).
    auto p_s2r = make_tiled_copy_A(Copy_Atom<SM75_U32x4_LDSM_N, Element>{}, mma_o);
    auto thr_p_s2r = p_s2r.get_thread_slice(tid);
    Tensor cO = thr_o.partition_C(
        make_identity_tensor(Shape<typename T::BlockM, typename T::ColsPerWg>{}));
    Tensor cO_rc = make_tensor(cO.data(), detail::accumulator_rowcol(cO.layout()));  // (2,64)
    const Rows rows = rows_of(params, m_tile, kv_head, cO_rc);
    // The box groups holding this half's latent boxes.
    constexpr int kHalfBoxes = T::kLatentBoxes / T::kPvWarpgroups;
    const int first_group = half * kHalfBoxes / T::kBoxesPerGroup;
    const int last_group = ((half + 1) * kHalfBoxes - 1) / T::kBoxesPerGroup;

    // CUTE_MLA_VALUES_ISSUE_LOADS: an elected lane of the first P.V warp
    // issues the loads, the first kStages pages now and then one page after
    // each page's release (the stage it frees), as the producer would. Its
    // waits cannot close a cycle: kv_empty needs only releases of a page this
    // warp has released already (and that page's loads were issued a release
    // earlier), and q_empty only the S warpgroup's last S of a request, which
    // waits for this warp's kProbsConsumed arrivals (made before each load)
    // and never for its epilogue: the one S-side wait on a P.V epilogue
    // (kPairExchange) is in a merging piece, which is its part's last, so no
    // later request's Q is loaded behind it.
    struct NoLoader {
      CUTE_DEVICE NoLoader(kernel::DecodeParamsSm90 const&, SchedMeta const&) {}
    };
    using Loader = cute::conditional_t<T::kValuesIssueLoads, typename ProducerSm90<Traits>::Cursor, NoLoader>;
    [[maybe_unused]] Loader loads(params, sched);
    const bool loader_warp = T::kValuesIssueLoads && threadIdx.x / 32 == T::kLoaderWarp;
    [[maybe_unused]] bool loader = false;
    if constexpr (T::kValuesIssueLoads) {
      if (loader_warp) loader = cute::elect_one_sync();
      if (loader)
        for (int i = 0; i < T::kStages && loads.load_next(params, sched, ss, m_tile, kv_head); ++i) {}
      __syncwarp();
    }

    int32_t kv_uses = 0;
    for (int32_t req = sched.end_req; req >= sched.begin_req; --req) {  // last to first: part_pieces.hpp
      const kernel::Piece pc = piece(params, sched, req);
      const Split sp = split_of(params, pc, req, m_tile, kv_head);
      Tensor tOrO = partition_fragment_C(mma_o, Shape<typename T::BlockM,
                                                      typename T::ColsPerWg>{});  // (MMA,1,1)
      clear(tOrO);
      Tensor O = make_tensor(tOrO.data(), detail::accumulator_rowcol(tOrO.layout()));  // (2,64)
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        const int32_t stage = kv_uses % T::kStages;
        const uint32_t phase = (kv_uses / T::kStages) & 1;
        const int32_t seq = kv_uses++;
        for (int g = first_group; g <= last_group; ++g)
          TxBarrier::wait(&ss.kv_full[stage][g], phase);
        sync(kernel::NamedBarrier::kProbsReady);
        if (half == 0 && tid == 0) kernel::trace::stamp(kernel::trace::kValuesReady, seq);
        float scale[kRows];
        CUTE_UNROLL
        for (int i = 0; i < kRows; ++i) scale[i] = ss.row_scale[rows.row[i]];
        if constexpr (T::kPInRegisters) {
          // P and the scale are in registers: the S warpgroup may post the next page's.
          copy(p_s2r, thr_p_s2r.partition_S(sP), thr_p_s2r.retile_D(tOrP));
          arrive(kernel::NamedBarrier::kProbsConsumed);
          warpgroup_fence_operand(tOrP);
        }

        // Most pages leave the row maxima unchanged: skip the 128 multiplies then.
        if (__any_sync(0xffffffffu, scale[0] != 1.f || scale[1] != 1.f)) {
          CUTE_UNROLL
          for (int i = 0; i < kRows; ++i) {
            CUTE_UNROLL
            for (int j = 0; j < size<1>(O); ++j) O(i, j) *= scale[i];
          }
        }

        Tensor sVt = make_tensor(make_smem_ptr(ss.kv[stage]), typename T::SmemLayoutVt{});
        Tensor sVh = local_tile(sVt, Shape<typename T::ColsPerWg, typename T::BlockN>{},
                                make_coord(half, _0{}));                         // (256,64)
        Tensor tOrV = thr_o.make_fragment_B(thr_o.partition_B(sVh));  // (MMA,2,4): two 128-column blocks; (MMA,1,4) at n256
        detail::gemm_ss<false>(mma_o, tOrP, tOrV, tOrO);
        if constexpr (T::kPInRegisters) warpgroup_fence_operand(tOrP);
        if (tid == 0)
          kernel::trace::stamp(half == 0 ? kernel::trace::kValuesDone : kernel::trace::kValuesDoneHi, seq);
        if constexpr (!T::kPInRegisters) arrive(kernel::NamedBarrier::kProbsConsumed);
        release_stage(&ss.kv_empty[stage], params.cluster_tiles);
        if (half == 0 && tid == 0) kernel::trace::stamp(kernel::trace::kValuesReleased, seq);
        if constexpr (T::kValuesIssueLoads) {
          if (loader) loads.load_next(params, sched, ss, m_tile, kv_head);
          __syncwarp();
        }
      }
      if (sp.merges) {
        values_merge_epilogue(params, ss, pc, sp, req, kv_head, half, rows, O, cO_rc);
      } else {
        values_epilogue(params, ss, pc, req, sp.slot, kv_head, half, rows, O, cO_rc);
        if (sp.flag != nullptr) {
          // Without a producer warpgroup the loader's warp publishes.
          if (loader_warp)
            publish_token(sp.flag, params.pair_token);
          else
            arrive_publish();
        }
      }
    }
  }

  // Rows [rows_in_page, 64) of the last page hold whatever the pool holds
  // (NaN in tests): zero them, 16 bytes at a time, before a GEMM reads them.
  template <class SmemTensor>
  CUTE_DEVICE static void zero_tail_rows(SmemTensor& sK, int32_t rows_in_page) {
    detail::zero_rows_from(sK, rows_in_page, threadIdx.x, Traits::kWarpgroupThreads);
    sync(kernel::NamedBarrier::kScoresOnly, Traits::kWarpgroupThreads);
  }

  // The row sums over the quad, posted for the value warpgroups; the LSE.
  template <class Storage>
  CUTE_DEVICE static void scores_epilogue(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                          kernel::Piece const& pc, int32_t req, int64_t slot,
                                          int32_t kv_head, int tid, bool has_kv,
                                          Rows const& rows, float const* row_max,
                                          float const* row_sum) {
    float total[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) total[i] = detail::quad_sum(row_sum[i]);
    if (has_kv) {
      if (tid % 4 == 0) {
        CUTE_UNROLL
        for (int i = 0; i < kRows; ++i) ss.row_sum[rows.row[i]] = total[i];
      }
      arrive(kernel::NamedBarrier::kRowSumExchange);
    }
    if (tid % 4 != 0) return;
    const float nan = __int_as_float(0x7fffffff);
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      if (!rows.valid[i]) continue;
      const bool any = has_kv && total[i] > 0.f;
      const float lse2 = pc.invalid ? nan : (any ? row_max[i] + log2f(total[i]) : -INFINITY);
      if (!pc.split) {
        if (params.lse != nullptr)
          lse_out(params, req, rows, i) = pc.invalid ? nan : (any ? lse2 * kLn2 : INFINITY);
      } else {
        params.lse_accum[partial_row(params, slot, kv_head, rows, i)] = lse2;
      }
    }
  }

  // O normalised by the row sums: the output, or the fp32 partial of a split.
  template <class Storage, class OTensor, class CoordTensor>
  CUTE_DEVICE static void values_epilogue(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                          kernel::Piece const& pc, int32_t req, int64_t slot,
                                          int32_t kv_head, int half, Rows const& rows,
                                          OTensor const& O, CoordTensor const& cO_rc) {
    using namespace cute;
    const bool has_kv = pc.has_kv();
    float total[kRows] = {0.f, 0.f};
    if (has_kv) {
      sync(kernel::NamedBarrier::kRowSumExchange);
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) total[i] = ss.row_sum[rows.row[i]];
    }
    const float nan = __int_as_float(0x7fffffff);
    const int32_t col0 = half * Traits::kColsPerWarpgroup;
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      if (!rows.valid[i]) continue;
      float inv = has_kv && total[i] > 0.f ? 1.f / total[i] : 0.f;
      if (pc.invalid) inv = nan;
      if (!pc.split) {
        Element* out = out_row(params, req, rows, i, col0);
        CUTE_UNROLL
        for (int j = 0; j < size<1>(O); j += 2)
          store_pair(out + get<1>(cO_rc(i, j)), O(i, j) * inv, O(i, j + 1) * inv);
      } else {
        float* partial = params.o_accum +
                         partial_row(params, slot, kv_head, rows, i) * Traits::kHeadDimV +
                         col0;
        CUTE_UNROLL
        for (int j = 0; j < size<1>(O); j += 2) {
          const int32_t col = get<1>(cO_rc(i, j));
          *reinterpret_cast<float2*>(partial + col) = make_float2(O(i, j) * inv, O(i, j + 1) * inv);
        }
      }
    }
  }

  // ---- Requests of exactly two pieces: the second piece merges both ----
  //
  // Parts walk their requests last to first (part_pieces.hpp), so a pair's
  // first piece (its request's first pages, the end of part p) is walked
  // first and its second piece (the rest, the start of part p + 1) last.
  // The first piece writes its partial as any split piece does, and the
  // producer warpgroup's publisher warp, once every consumer thread has
  // arrived after its stores, stores the launch's token into the pair's flag
  // (release). The second piece waits for the token (acquire; it is nearly
  // always there already), merges its rows in registers with the first
  // piece's partial, writes the output and the LSE, and resets the flag to 0:
  // no flag needs an initial value and none stays set after the kernel. The
  // waiter (part p + 1) only waits on a CTA launched before it, as CUTLASS's
  // stream-K fixup does, and the merge is always the same piece's: results
  // do not depend on timing. The combine kernel leaves these requests alone.
  // Only where it was measured to pay (kernel::merge_pairs_in_decode; else
  // pair_flags is null and pairs are split pieces like any other).

  CUTE_DEVICE static uint64_t load_acquire(uint64_t const* p) {
    uint64_t v;
    asm volatile("ld.acquire.gpu.global.b64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
  }

  // kPairPublish: every consumer thread and the publisher warp (the producer
  // warpgroup's, or without one the loader's, which is a consumer warp).
  static constexpr int kPublishThreads = Traits::kConsumerThreads + (Traits::kValuesIssueLoads ? 0 : 32);

  // Consumer threads of a pair's first piece, after their partial stores.
  CUTE_DEVICE static void arrive_publish() {
    __syncwarp();
    cutlass::arch::NamedBarrier::arrive(kPublishThreads,
                                        static_cast<uint32_t>(kernel::NamedBarrier::kPairPublish));
  }

  // The publisher warp: after the consumers' arrival, the token, released at GPU scope.
  CUTE_DEVICE static void publish(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                                  int32_t m_tile, int32_t kv_head) {
    if (sched.empty()) return;
    // Only the part's end request can be a pair's first piece (a first piece
    // ends its part; walk order puts it first).
    const kernel::Piece pc = piece(params, sched, sched.end_req);
    const Split sp = split_of(params, pc, sched.end_req, m_tile, kv_head);
    if (sp.flag == nullptr || sp.merges) return;
    publish_token(sp.flag, params.pair_token);
  }

  // The publishing warp: once every other thread of kPairPublish arrived.
  CUTE_DEVICE static void publish_token(uint64_t* flag, uint64_t token) {
    __syncwarp();
    cutlass::arch::NamedBarrier::sync(kPublishThreads,
                                      static_cast<uint32_t>(kernel::NamedBarrier::kPairPublish));
    if (cute::elect_one_sync()) {
      asm volatile("fence.acq_rel.gpu;\n\tst.relaxed.gpu.global.b64 [%0], %1;"
                   :: "l"(flag), "l"(token) : "memory");
    }
  }

  // One warp: a tile's rows of a partial into L2 (a row per lane and 32 rows
  // apart; the LSE beside). Harmless if the partial is not written yet: L2 is
  // where the first piece's stores land, and they replace the lines.
  CUTE_DEVICE static void prefetch_partial(kernel::DecodeParamsSm90 const& params, int64_t slot,
                                           int32_t m_tile, int32_t kv_head, int lane) {
    CUTE_UNROLL
    for (int r = lane; r < Traits::kBlockM; r += 32) {
      const TileRow tr = tile_row(params, m_tile, r);
      if (!tr.valid) continue;
      const int64_t row = partial_index(params, slot, kv_head, tr.seq, tr.head_in_group);
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;"
                   :: "l"(params.o_accum + row * Traits::kHeadDimV),
                      "r"(uint32_t(Traits::kHeadDimV * sizeof(float))) : "memory");
      asm volatile("prefetch.global.L2 [%0];" :: "l"(params.lse_accum + row) : "memory");
    }
  }

  // Thread 0 of the S warpgroup: wait for the first piece's token. A plan the
  // kernel did not make (metadata of other lengths) could leave it unset:
  // after ~2 s the rows are written as NaN instead of hanging.
  CUTE_DEVICE static bool wait_published(uint64_t const* flag, uint64_t token) {
    auto now_ns = [] {
      uint64_t t;
      asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
      return t;
    };
    const uint64_t t0 = now_ns();
    for (uint32_t sleep = 32;; sleep = min(sleep * 2, 1024u)) {
      if (load_acquire(flag) == token) return true;
      if (now_ns() - t0 > 2000000000ull) return false;
      __nanosleep(sleep);
    }
  }

  // The merge of the two pieces' rows as the combine kernel computes it:
  // lse2 = log2(2^a + 2^b), weights 2^(a - lse2) and 2^(b - lse2); a piece
  // that saw no key (-inf) weighs 0, both empty: lse2 = -inf.
  struct PairWeights {
    float lse2, first, second;
  };

  CUTE_DEVICE static PairWeights pair_weights(float first_lse2, float second_lse2) {
    const float m = fmaxf(first_lse2, second_lse2);
    if (m == -INFINITY) return {-INFINITY, 0.f, 0.f};
    const float lse2 = m + log2f(exp2f(first_lse2 - m) + exp2f(second_lse2 - m));
    return {lse2, first_lse2 == -INFINITY ? 0.f : exp2f(first_lse2 - lse2),
            second_lse2 == -INFINITY ? 0.f : exp2f(second_lse2 - lse2)};
  }

  template <class Storage>
  CUTE_DEVICE static void scores_merge_epilogue(kernel::DecodeParamsSm90 const& params,
                                                Storage& ss, Split const& sp, int32_t req,
                                                int32_t kv_head, int tid, bool has_kv,
                                                Rows const& rows, float const* row_max,
                                                float const* row_sum, bool published) {
    const bool ready = tid != 0 || published || wait_published(sp.flag, params.pair_token);
    float total[kRows], lse2[kRows];
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      total[i] = detail::quad_sum(row_sum[i]);
      lse2[i] = has_kv && total[i] > 0.f ? row_max[i] + log2f(total[i]) : -INFINITY;
    }
    // (1) The P.V warpgroups are past every read of the previous epilogue
    // (they arrive, this warpgroup waits).
    sync(kernel::NamedBarrier::kPairExchange);
    if (tid % 4 == 0) {
      CUTE_UNROLL
      for (int i = 0; i < kRows; ++i) {
        ss.row_sum[rows.row[i]] = total[i];
        ss.row_lse[rows.row[i]] = lse2[i];
      }
    }
    if (tid == 0) ss.pair_ready = ready ? 1 : 0;
    // (2) Posted: the P.V warpgroups may read (this warpgroup arrives, they
    // wait); thread 0's acquire and store are ordered before every S
    // thread's read of pair_ready by the S warpgroup's own barrier.
    arrive(kernel::NamedBarrier::kPairPosted);
    sync(kernel::NamedBarrier::kScoresOnly, Traits::kWarpgroupThreads);
    const bool ok = ss.pair_ready != 0;
    if (tid == 0 && ok) *reinterpret_cast<volatile uint64_t*>(sp.flag) = 0;
    if (tid % 4 != 0 || params.lse == nullptr) return;
    const float nan = __int_as_float(0x7fffffff);
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      if (!rows.valid[i]) continue;
      const float first = __ldcg(params.lse_accum + partial_row(params, sp.other_slot, kv_head, rows, i));
      const PairWeights w = pair_weights(first, lse2[i]);
      lse_out(params, req, rows, i) = !ok ? nan : (w.lse2 == -INFINITY ? INFINITY : w.lse2 * kLn2);
    }
  }

  template <class Storage, class OTensor, class CoordTensor>
  CUTE_DEVICE static void values_merge_epilogue(kernel::DecodeParamsSm90 const& params,
                                                Storage& ss, kernel::Piece const& pc,
                                                Split const& sp, int32_t req, int32_t kv_head,
                                                int half, Rows const& rows, OTensor const& O,
                                                CoordTensor const& cO_rc) {
    using namespace cute;
    const int32_t col0 = half * Traits::kColsPerWarpgroup;
    arrive(kernel::NamedBarrier::kPairExchange);  // (1)
    sync(kernel::NamedBarrier::kPairPosted);      // (2)
    const bool ok = ss.pair_ready != 0;
    const float nan = __int_as_float(0x7fffffff);
    CUTE_UNROLL
    for (int i = 0; i < kRows; ++i) {
      if (!rows.valid[i]) continue;
      const float total = ss.row_sum[rows.row[i]];
      const float inv = pc.has_kv() && total > 0.f ? 1.f / total : 0.f;
      const int64_t first_row = partial_row(params, sp.other_slot, kv_head, rows, i);
      const PairWeights w = pair_weights(__ldcg(params.lse_accum + first_row), ss.row_lse[rows.row[i]]);
      const float* src = params.o_accum + first_row * Traits::kHeadDimV + col0;
      Element* out = out_row(params, req, rows, i, col0);
      // Both partials as the combine would read them (O / row sum, rounded to
      // fp32), weighted in piece order; a weight of 0 never multiplies (the
      // first piece's partial of an empty row may hold anything). The loads do
      // not wait for the weights, and each batch is loaded before the previous
      // one is stored (the stores could alias the loads for the compiler).
      constexpr int kBatch = 4;  // float2 loads per batch (8: spills)
      constexpr int kBatches = decltype(size<1>(O))::value / (2 * kBatch);
      auto load = [&](float2 (&v)[kBatch], int b) {
        CUTE_UNROLL
        for (int u = 0; u < kBatch; ++u)
          v[u] = __ldcg(reinterpret_cast<const float2*>(src + get<1>(cO_rc(i, 2 * (b * kBatch + u)))));
      };
      float2 cur[kBatch], next[kBatch];
      load(cur, 0);
      CUTE_UNROLL
      for (int b = 0; b < kBatches; ++b) {
        if (b + 1 < kBatches) load(next, b + 1);
        CUTE_UNROLL
        for (int u = 0; u < kBatch; ++u) {
          const int j = 2 * (b * kBatch + u);
          float r[2];
          CUTE_UNROLL
          for (int e = 0; e < 2; ++e) {
            const float mine = __fmul_rn(O(i, j + e), inv);
            const float theirs = e == 0 ? cur[u].x : cur[u].y;
            const float x = w.first != 0.f ? __fmul_rn(w.first, theirs) : 0.f;
            const float y = w.second != 0.f ? __fmul_rn(w.second, mine) : 0.f;
            r[e] = ok ? __fadd_rn(x, y) : nan;
          }
          store_pair(out + get<1>(cO_rc(i, j)), r[0], r[1]);
        }
        CUTE_UNROLL
        for (int u = 0; u < kBatch; ++u) cur[u] = next[u];
      }
    }
  }
};

}  // namespace cute_mla::collective
