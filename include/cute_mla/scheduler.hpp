// Split-KV planning: which (request, KV page) work each decode CTA walks.
//
// The planner lays every request on one "cost line": request i costs
// F (fixed overhead: Q load, prologue, epilogue, its share of the combine)
// plus one unit per KV page, with an empty request counted as one page
// because it still writes its zero output and +inf LSE. C is the prefix sum
// of the costs, T = C[b] the total. Request i occupies [C[i], C[i+1]): its
// overhead [C[i], C[i] + F), then page k at position key = C[i] + F + k.
//
// P_eff parts split the line at lo(p) = floor(p * T / P_eff): page (i, k)
// belongs to the part p with lo(p) <= key < lo(p + 1), i.e.
// p = floor(((key + 1) * P_eff - 1) / T). (Equal parts of ceil(T / P_eff)
// left whole SMs idle at small batch: T = 261 over 130 parts gave 87 busy
// parts of 3 pages.) Everything else follows in closed form, so the device
// computes each request and each part in its own thread, and the host path
// calls the same functions in a loop: both give the same bits.
//
// Guarantees (tested in tests/test_planner.py and tests/cpp/):
//   * every (request, page) lies in exactly one part, parts in order;
//   * a part's cost (its pages + F per piece) is at most ceil(T / P_eff) + F,
//     i.e. within one page + overhead of the balanced T / P_eff;
//   * total pieces (sum of splits) <= b + P_eff - 1 <= b + num_parts.
#pragma once

#include <cstdint>

#include "cute_mla/macros.hpp"
#include "cute_mla/mla_shape.hpp"
#include "cute_mla/sched_meta.hpp"

namespace cute_mla {

struct SchedulerConfig {
  int32_t num_parts;             // metadata rows; decode grid's part dimension
  int32_t fixed_overhead_blocks; // F: cost of one piece beyond its pages
  int32_t min_blocks_per_part;   // parts are about this size (no more than ceil(T / it))...
  int32_t page_size;             // tokens per KV page
  // ...unless that leaves over half of them idle: then parts of this many, up
  // to half of them. 0 (the default) turns that off. Last, so that aggregate
  // initialisers of the first four fields keep their meaning.
  int32_t fill_blocks_per_part = 0;
  // ...or all the parts of fill_blocks_per_part the line needs, if they are
  // at most all of them and at most this many per request. 0 (the default):
  // half the parts is the limit.
  int32_t fill_pieces_per_request = 0;
};

// Host-side defaults for a GPU with num_sms SMs. rows = s_q * h_q / h_kv, the
// query rows one KV head serves; each 64-row tile of them needs its own CTA.
inline SchedulerConfig default_scheduler_config(int num_sms, int num_heads_kv,
                                                int rows) {
  constexpr int kTileRows = 64;
  int tiles = (rows + kTileRows - 1) / kTileRows;
  if (tiles < 1) tiles = 1;
  if (num_heads_kv < 1) num_heads_kv = 1;
  int parts = num_sms / num_heads_kv / tiles;
  if (parts < 1) parts = 1;
  if (parts > Limits::kMaxParts) parts = Limits::kMaxParts;
  SchedulerConfig c;
  c.num_parts = parts;
  // Measured on the H100 (bench/split_sweep.py, whole op in a graph, 2026-12-05;
  // bench/results/split-sweep_*_20261205-*.txt; bench/notes/tuning-log.md):
  // F = 2 balanced b=128 h_q=16 L=1K best (76.3 us, F = 5: 79.2, F = 10: 84.8)
  // and tied elsewhere. A single query tile wants parts of at least 6 pages
  // (b=1 L~29K: h_q=16 28.8 us with 76 parts vs 31.9 with 114 of 4; h_q=64
  // 32.3 vs 35.1; b=8 h_q=64 L=4K 35.4 vs 36.4; b=32 h_q=64 L=1K 33.2 vs
  // 34.6; b=32 h_q=16 L=1K the one loss, 34.1 vs 33.2), two tiles (a cluster
  // per part) parts of 4 (b=16 h_q=128 L=1K 30.9 us vs 32.2 with 6; b=8 29.6
  // vs 30.5). A small batch should still reach half the parts with parts of
  // 2 (b=1 h_q=64 L=4K: 57 parts of 2 pages 20.8 us, 28 of 4: 24.4; b=1
  // h_q=128 L=1K: 14-15 of ~2 pages 21-23 us, 7 of 4: 26.7).
  // Half the parts is too few for a short line of a few requests (2026-12-07,
  // bench/results/split-sweep-fill_*_20261207-1720.txt, one tile; parts of 2
  // pages, all the line needs): b=8 h_q=16 L=1K 21.1 us against 21.7 (74 parts
  // of 2 pages against 66 of up to 3), s_q=2 24.3 against 25.4, h_q=64 26.6 against
  // 27.3, b=16 h_q=16 L=1K 26.5 against 27.1 (120 parts), b=4 L=2K 19.8
  // against 20.4 (82, 20 a request); but b=1 h_q=16 L=16K 27.7 against 27.0
  // (132 parts for one request). Hence at most 24 parts a request.
  c.fixed_overhead_blocks = 2;
  c.min_blocks_per_part = tiles == 1 ? 6 : 4;
  c.fill_blocks_per_part = 2;
  c.fill_pieces_per_request = tiles == 1 ? 24 : 0;
  c.page_size = MlaShape::kPageSize;
  return c;
}

// The totals every part and request needs: derived from T alone.
struct SplitPlan {
  int64_t total;     // T
  int64_t quota;     // ceil(T / parts_used): the longest part
  int32_t parts_used;
  int32_t overhead;  // F
};

struct SplitPlanner {
  // Pages a request of `seqlen` tokens costs. Empty (or, defensively,
  // negative) lengths cost one: the request still has outputs to write.
  CUTE_MLA_HOST_DEVICE static int64_t request_blocks(int32_t seqlen,
                                                     int32_t page_size) {
    return seqlen <= 0 ? 1 : (int64_t(seqlen) + page_size - 1) / page_size;
  }

  CUTE_MLA_HOST_DEVICE static int64_t request_cost(int32_t seqlen,
                                                   SchedulerConfig const& c) {
    return request_blocks(seqlen, c.page_size) + c.fixed_overhead_blocks;
  }

  // Parts used for a line of cost `total` over `batch` requests:
  // ceil(total / min_blocks_per_part), i.e. parts of about min_blocks_per_part
  // (a smaller piece costs more in partials and combine than it saves), except
  // that a line too short to fill half the parts so is cut into parts of at
  // most fill_blocks_per_part, up to half of them, or as many as that needs
  // where that is at most all of them and fill_pieces_per_request x batch.
  // Both round up: in a launch of one wave the longest part is
  // the critical path, so ceil(T / parts) must not exceed the size aimed at.
  // Rounding down put a third page in one of b=1 L=1K's 2-page parts (+2 us)
  // and a fifth in b=1 h_q=128 L~15K's 4-page ones (T = 235: 58 parts, quota
  // 5; now 59, quota 4), at the price of one more piece.
  CUTE_MLA_HOST_DEVICE static int64_t parts_for(int64_t total, int32_t batch,
                                                SchedulerConfig const& c) {
    const int64_t min_cost = c.min_blocks_per_part > 1 ? c.min_blocks_per_part : 1;
    int64_t parts = (total + min_cost - 1) / min_cost;
    if (c.fill_blocks_per_part > 0 && parts <= c.num_parts / 2) {
      int64_t fill = (total + c.fill_blocks_per_part - 1) / c.fill_blocks_per_part;
      // A cap below the need would only lengthen the longest part: all or half.
      const bool all = fill <= c.num_parts && fill <= int64_t(c.fill_pieces_per_request) * batch;
      if (!all && fill > c.num_parts / 2) fill = c.num_parts / 2;
      if (parts < fill) parts = fill;
    }
    if (parts > c.num_parts) parts = c.num_parts;
    return parts < 1 ? 1 : parts;
  }

  CUTE_MLA_HOST_DEVICE static SplitPlan plan(int64_t total, int32_t batch,
                                             SchedulerConfig const& c) {
    const int64_t parts = parts_for(total, batch, c);
    SplitPlan p;
    p.total = total;
    p.parts_used = int32_t(parts);
    p.quota = total > 0 ? (total + parts - 1) / parts : 1;
    p.overhead = c.fixed_overhead_blocks;
    return p;
  }

  // The part holding the page at position `key` of the cost line.
  CUTE_MLA_HOST_DEVICE static int32_t part_of(int64_t key, SplitPlan const& p) {
    return int32_t(((key + 1) * p.parts_used - 1) / p.total);
  }

  // Where part `part` starts on the cost line.
  CUTE_MLA_HOST_DEVICE static int64_t part_begin(int32_t part, SplitPlan const& p) {
    return int64_t(part) * p.total / p.parts_used;
  }

  // prefix[i] = C[i]; prefix[i + 1] - prefix[i] = cost of request i.
  CUTE_MLA_HOST_DEVICE static int32_t first_part(int64_t prefix_i,
                                                 SplitPlan const& p) {
    return part_of(prefix_i + p.overhead, p);
  }

  CUTE_MLA_HOST_DEVICE static int32_t request_splits(int64_t prefix_i,
                                                     int64_t prefix_next,
                                                     SplitPlan const& p) {
    int64_t last_key = prefix_next - 1;  // key of the request's last page
    return part_of(last_key, p) - first_part(prefix_i, p) + 1;
  }

  // Index i with prefix[i] <= x < prefix[i + 1], for 0 <= x < prefix[batch].
  CUTE_MLA_HOST_DEVICE static int32_t find_request(int64_t const* prefix,
                                                   int32_t batch, int64_t x) {
    int32_t lo = 0, hi = batch - 1;
    while (lo < hi) {
      int32_t mid = (lo + hi + 1) >> 1;
      if (prefix[mid] <= x) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  // The record of part `part`: its pages are those with a key in
  // [part_begin(part), part_begin(part + 1)).
  CUTE_MLA_HOST_DEVICE static SchedMeta make_part(int32_t part,
                                                  int64_t const* prefix,
                                                  int32_t batch,
                                                  SplitPlan const& p) {
    SchedMeta m;
    m.begin_req = 0;
    m.begin_block = 0;
    m.end_req = -1;
    m.end_block = 0;
    m.begin_split = 0;
    m.flags = 0;
    m.reserved[0] = 0;
    m.reserved[1] = 0;
    if (part >= p.parts_used) return m;
    const int64_t lo = part_begin(part, p);
    const int64_t hi = part_begin(part + 1, p);
    if (lo >= hi) return m;

    // First page with key >= lo.
    int32_t br = find_request(prefix, batch, lo);
    int64_t bblock = lo - prefix[br] - p.overhead;
    if (bblock < 0) bblock = 0;
    // Last page with key <= hi - 1; inside request er's overhead means the
    // previous request's last page.
    int32_t er = find_request(prefix, batch, hi - 1);
    int64_t eblock = hi - 1 - prefix[er] - p.overhead;
    if (eblock < 0) {
      --er;
      if (er < 0) return m;
      eblock = prefix[er + 1] - prefix[er] - p.overhead - 1;
    }
    if (er < br || (er == br && eblock < bblock)) return m;  // overhead only

    m.begin_req = br;
    m.begin_block = int32_t(bblock);
    m.end_req = er;
    m.end_block = int32_t(eblock + 1);
    m.begin_split = part - first_part(prefix[br], p);
    if (request_splits(prefix[br], prefix[br + 1], p) > 1)
      m.flags |= SchedMeta::kFirstReqSplit;
    if (request_splits(prefix[er], prefix[er + 1], p) > 1)
      m.flags |= SchedMeta::kLastReqSplit;
    return m;
  }
};

// The CPU path: the same functions, called in order. `prefix` must hold
// batch + 1 entries of scratch. Returns the number of split slots used
// (num_splits[batch]).
inline int32_t plan_on_host(int32_t const* cache_seqlens, int32_t batch,
                            SchedulerConfig const& config, int64_t* prefix,
                            SchedMeta* sched_meta, int32_t* num_splits) {
  prefix[0] = 0;
  for (int32_t i = 0; i < batch; ++i)
    prefix[i + 1] = prefix[i] + SplitPlanner::request_cost(cache_seqlens[i], config);
  SplitPlan plan = SplitPlanner::plan(prefix[batch], batch, config);
  num_splits[0] = 0;
  for (int32_t i = 0; i < batch; ++i)
    num_splits[i + 1] =
        num_splits[i] + SplitPlanner::request_splits(prefix[i], prefix[i + 1], plan);
  for (int32_t part = 0; part < config.num_parts; ++part)
    sched_meta[part] = SplitPlanner::make_part(part, prefix, batch, plan);
  return num_splits[batch];
}

}  // namespace cute_mla
