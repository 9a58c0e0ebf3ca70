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
    const int32_t rank = cluster_rank(params);
    walk(params, sched, ss, m_tile, kv_head, [&](int32_t kv_loads, int32_t page) {
      load_stage(params, ss, kv_head, rank, kv_loads, page);
    });
  }

  CUTE_DEVICE static int32_t cluster_rank(kernel::DecodeParamsSm90 const& params) {
    return params.cluster_tiles > 1 ? int32_t(cute::block_rank_in_cluster()) : 0;
  }

  // The kv_loads-th page load of the part: once the stage's previous page is
  // released, the page's boxes (this CTA's share, multicast in a cluster).
  template <class Storage>
  CUTE_DEVICE static void load_stage(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                     int32_t kv_head, int32_t rank, int32_t kv_loads, int32_t page) {
    const int32_t stage = kv_loads % Traits::kStages;
    const int32_t round = kv_loads / Traits::kStages;
    kernel::trace::stamp(kernel::trace::kProducerWait, kv_loads);
    if (round > 0) Barrier::wait(&ss.kv_empty[stage], (round - 1) & 1);
    kernel::trace::stamp(kernel::trace::kProducerIssue, kv_loads);
    Loads::load_page(params.tma_kv, params.tma_kv_rope, ss.kv_full[stage], ss.kv[stage],
                     kv_head, page, rank, params.cluster_tiles, params.kv_cache_hint);
  }

  // Q of a request, once the previous request's S no longer reads Q.
  template <class Storage>
  CUTE_DEVICE static void load_q_of(kernel::DecodeParamsSm90 const& params, Storage& ss,
                                    int32_t& q_loads, int32_t m_tile, int32_t kv_head, int32_t req) {
    if (q_loads > 0) Barrier::wait(&ss.q_empty, (q_loads - 1) & 1);
    Barrier::arrive_and_expect_tx(&ss.q_full, Traits::kTileBytes);
    Loads::load_q(params.tma_q, params.tma_q_rope, &ss.q_full, ss.q, params.heads_pad_log2, m_tile, kv_head, req);
    ++q_loads;
  }

  // A request's piece, with its first page id read together with the length,
  // not after it: one dependent global load less before the first page load
  // (each is a DRAM round trip at the start of a CTA). The index is the
  // planned one, clamped into the table for a plan that does not match the
  // lengths; it is used only when the piece turns out to start there.
  struct RequestStart {
    kernel::Piece pc;
    const int32_t* pages;  // the request's block table row
    int32_t planned_first, first_page;
    // The id of the piece's first page (only for a piece with pages).
    CUTE_DEVICE int32_t begin_page() const {
      return pc.begin_block == planned_first ? first_page : pages[pc.begin_block];
    }
  };
  CUTE_DEVICE static RequestStart request_start(kernel::DecodeParamsSm90 const& params,
                                                SchedMeta const& sched, int32_t req) {
    RequestStart r;
    r.pages = params.block_table + req * params.block_table_stride;
    r.planned_first = req == sched.begin_req ? sched.begin_block : 0;
    r.first_page = r.pages[min(max(r.planned_first, 0), max(params.max_pages_per_seq - 1, 0))];
    r.pc = kernel::piece_of(sched, req, params.cache_seqlens[req], MlaShape::kPageSize,
                            params.max_pages_per_seq);
    return r;
  }

  // The walk one page at a time, for a thread that issues the loads between
  // its own work (CUTE_MLA_VALUES_ISSUE_LOADS: a P.V warp, after each page's
  // P.V). load_next() loads the part's next page (and, before a request's
  // first page, its Q) and returns false once every page is loaded; the
  // loads happen in the order and with the waits of the producer's walk.
  struct Cursor {
    int32_t req;           // the request whose pages are being loaded
    int32_t blk, end_blk;  // its piece's next page to load, and the piece's end
    int32_t page;          // blk's page id
    int32_t q_loads, kv_loads;
    int32_t rank;

    CUTE_DEVICE Cursor(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched)
        : req(sched.end_req + 1), blk(0), end_blk(0), page(0), q_loads(0), kv_loads(0),
          rank(cluster_rank(params)) {}

    template <class Storage>
    CUTE_DEVICE bool load_next(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                               Storage& ss, int32_t m_tile, int32_t kv_head) {
      while (blk == end_blk) {  // the next request with pages, its Q first
        if (--req < sched.begin_req) return false;
        const RequestStart r = request_start(params, sched, req);
        if (!r.pc.has_kv()) continue;
        load_q_of(params, ss, q_loads, m_tile, kv_head, req);
        blk = r.pc.begin_block;
        end_blk = r.pc.end_block;
        page = r.begin_page();
      }
      const int32_t* pages = params.block_table + req * params.block_table_stride;
      const int32_t next_page = blk + 1 < end_blk ? pages[blk + 1] : 0;
      load_stage(params, ss, kv_head, rank, kv_loads, page);
      ++kv_loads;
      ++blk;
      page = next_page;
      return true;
    }
  };

  // The part's walk: Q once per request with KV (after the previous Q's
  // readers released it), then load_page(kv_loads, pool page) for every page
  // in order, kv_loads counting the pages loaded so far. (Cursor is this walk
  // one page at a time. run() is not built on it: that rewrites the default
  // kernel's producer code, which must first run on a GPU; once the
  // VALUES_ISSUE_LOADS experiment is decided, one of the two goes.)
  template <class Storage, class LoadPage>
  CUTE_DEVICE static void walk(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                               Storage& ss, int32_t m_tile, int32_t kv_head, LoadPage&& load_page) {
    int32_t q_loads = 0;
    int32_t kv_loads = 0;
    for (int32_t req = sched.end_req; req >= sched.begin_req; --req) {  // last to first: part_pieces.hpp
      const RequestStart r = request_start(params, sched, req);
      const kernel::Piece& pc = r.pc;
      if (!pc.has_kv()) continue;  // nothing to read
      load_q_of(params, ss, q_loads, m_tile, kv_head, req);

      int32_t page = r.begin_page();
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        // Read the next page id before waiting, so its latency hides behind the wait.
        const int32_t next_page = blk + 1 < pc.end_block ? r.pages[blk + 1] : 0;
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
