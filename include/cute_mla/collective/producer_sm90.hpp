// The producer warp of the decode kernel: one elected lane walks the CTA's
// scheduler part and keeps the copy engine busy: Q's latent columns once per
// request, then every page of the piece into a ring of kStages stages. A
// stage is refilled group by group (RoPE box, left V half, right V half) as
// soon as that group's readers released it, so the next page streams in
// while the current one is still in use.
#pragma once

#include <cutlass/arch/barrier.h>

#include "cute_mla/collective/paged_kv_tma_sm90.hpp"
#include "cute_mla/kernel/decode_params_sm90.hpp"
#include "cute_mla/kernel/part_pieces.hpp"
#include "cute_mla/mla_shape.hpp"

namespace cute_mla::collective {

template <class Traits>
struct ProducerSm90 {
  using Barrier = cutlass::arch::ClusterTransactionBarrier;
  using Loads = PagedKvTmaSm90<Traits>;

  template <class Storage>
  CUTE_DEVICE static void run(kernel::DecodeParamsSm90 const& params, SchedMeta const& sched,
                              Storage& ss, int32_t m_tile, int32_t kv_head) {
    int32_t q_loads = 0;
    int32_t kv_loads = 0;
    for (int32_t req = sched.begin_req; req <= sched.end_req; ++req) {
      const kernel::Piece pc =
          kernel::piece_of(sched, req, params.cache_seqlens[req], MlaShape::kPageSize,
                           params.max_pages_per_seq);
      if (pc.begin_block == pc.end_block) continue;  // nothing to read

      if (q_loads > 0) Barrier::wait(&ss.q_empty, (q_loads - 1) & 1);
      Barrier::arrive_and_expect_tx(&ss.q_full, Traits::kQBytes);
      Loads::load_q(params.tma_q, &ss.q_full, ss.q, params.heads_pad_log2, m_tile, kv_head, req);
      ++q_loads;

      const int32_t* pages = params.block_table + req * params.block_table_stride;
      int32_t page = pages[pc.begin_block];
      for (int32_t blk = pc.begin_block; blk < pc.end_block; ++blk) {
        // Read the next page id before waiting, so its latency hides behind the wait.
        const int32_t next_page = blk + 1 < pc.end_block ? pages[blk + 1] : 0;
        const int32_t stage = kv_loads % Traits::kStages;
        const int32_t round = kv_loads / Traits::kStages;
        CUTE_UNROLL
        for (int g = 0; g < Traits::kGroups; ++g) {
          if (round > 0) Barrier::wait(&ss.kv_empty[stage][g], (round - 1) & 1);
          Barrier::arrive_and_expect_tx(&ss.kv_full[stage][g], Traits::group_bytes(g));
          Loads::load_group(params.tma_kv, params.tma_kv_rope, g, &ss.kv_full[stage][g],
                            ss.kv[stage], kv_head, page);
        }
        ++kv_loads;
        page = next_page;
      }
    }
  }
};

}  // namespace cute_mla::collective
