// The producer warp of the decode kernel: one elected lane walks the CTA's
// scheduler part and keeps the copy engine busy: Q once per request, then
// every page of the piece into a ring of kStages stages. It waits on the
// consumers' "empty" barriers and signals "full" barriers by transaction
// bytes; it never touches registers of the consumers.
#pragma once

#include <cute/arch/cluster_sm90.hpp>
#include <cutlass/arch/barrier.h>

#include "cute_mla/collective/paged_kv_tma_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/part_pieces.hpp"
#include "cute_mla/kernel/trace.hpp"
#include "cute_mla/mla_shape.hpp"

namespace cute_mla::collective {

template <class Traits>
struct ProducerSm90 {
  using Barrier = cutlass::arch::ClusterTransactionBarrier;
  using Loads = PagedKvTmaSm90<Traits>;

  template <class Storage>
  CUTE_DEVICE static void run(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                              Storage& ss, int32_t m_tile, int32_t kv_head) {
    const int32_t rank = params.cluster_tiles > 1 ? int32_t(cute::block_rank_in_cluster()) : 0;
    walk(params, sched, ss, m_tile, kv_head, [&](int32_t kv_loads, int32_t page) {
      const int32_t stage = kv_loads % Traits::kStages;
      const int32_t round = kv_loads / Traits::kStages;
      kernel::trace::stamp(kernel::trace::kProducerWait, kv_loads);
      if (round > 0) Barrier::wait(&ss.kv_empty[stage], (round - 1) & 1);
      kernel::trace::stamp(kernel::trace::kProducerIssue, kv_loads);
      Loads::load_page(params.tma_kv, params.tma_kv_rope, ss.kv_full[stage], ss.kv[stage],
                       kv_head, page, rank, params.cluster_tiles, params.kv_cache_hint);
    });
  }

  // The part's walk: Q once per request with KV (after the previous Q's
  // readers released it), then load_page(kv_loads, pool page) for every page
  // in order, kv_loads counting the pages loaded so far.
  template <class Storage, class LoadPage>
  CUTE_DEVICE static void walk(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                               Storage& ss, int32_t m_tile, int32_t kv_head, LoadPage&& load_page) {
    int32_t q_loads = 0;
    int32_t kv_loads = 0;
    for (int32_t req = sched.end_req; req >= sched.begin_req; --req) {  // last to first: part_pieces.hpp
      const int32_t* pages = params.block_table + req * params.block_table_stride;
      // The piece's first page id is read together with the length, not
      // after it: one dependent global load less before the first page load
      // (each is a DRAM round trip at the start of a CTA). The index is the
      // planned one, clamped into the table for a plan that does not match
      // the lengths; it is used only when the piece turns out to start there.
      const int32_t planned_first = req == sched.begin_req ? sched.begin_block : 0;
      const int32_t first_page =
          pages[min(max(planned_first, 0), max(params.max_pages_per_seq - 1, 0))];
      const kernel::Piece pc =
          kernel::piece_of(sched, req, params.cache_seqlens[req], MlaShape::kPageSize,
                           params.max_pages_per_seq);
      if (!pc.has_kv()) continue;  // nothing to read

      if (q_loads > 0) Barrier::wait(&ss.q_empty, (q_loads - 1) & 1);
      Barrier::arrive_and_expect_tx(&ss.q_full, Traits::kTileBytes);
      Loads::load_q(params.tma_q, params.tma_q_rope, &ss.q_full, ss.q, params.heads_pad_log2, m_tile, kv_head, req);
      ++q_loads;

      int32_t page = pc.begin_block == planned_first ? first_page : pages[pc.begin_block];
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        // Read the next page id before waiting, so its latency hides behind the wait.
        const int32_t next_page = blk + 1 < pc.end_block ? pages[blk + 1] : 0;
        load_page(kv_loads, page);
        ++kv_loads;
        page = next_page;
      }
    }
  }

#if defined(CUTE_MLA_TRACE)
  // Trace builds only: an idle warp walks the same tiles and stamps when
  // each one's first and last box groups land, which the consumers' stamps
  // cannot tell (they see a tile only when they get around to it).
  template <class Storage>
  CUTE_DEVICE static void observe(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                                  Storage& ss) {
    int32_t kv_loads = 0;
    for (int32_t req = sched.end_req; req >= sched.begin_req; --req) {  // last to first: part_pieces.hpp
      const kernel::Piece pc =
          kernel::piece_of(sched, req, params.cache_seqlens[req], MlaShape::kPageSize,
                           params.max_pages_per_seq);
      if (!pc.has_kv()) continue;
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk, ++kv_loads) {
        const int32_t stage = kv_loads % Traits::kStages;
        const uint32_t parity = (kv_loads / Traits::kStages) & 1;
        Barrier::wait(&ss.kv_full[stage][0], parity);
        kernel::trace::stamp(kernel::trace::kLandedFirst, kv_loads);
        Barrier::wait(&ss.kv_full[stage][Traits::kBoxGroups - 1], parity);
        kernel::trace::stamp(kernel::trace::kLandedAll, kv_loads);
      }
    }
  }
#endif
};

}  // namespace cute_mla::collective
