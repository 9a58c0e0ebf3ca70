// The tile-scheduler metadata record: the one contract shared by the planner
// (host and device), the metadata kernel, the decode kernel, the combine
// kernel and Python, where it is a (num_sm_parts, 8) int32 tensor.
#pragma once

#include <cstdint>

#include "cute_mla/macros.hpp"

namespace cute_mla {

// One record per "part": the contiguous run of (request, KV page) work one
// decode CTA walks, in request-major order.
//
// A part covers request begin_req from page begin_block, every request after
// it in full, and request end_req up to (not including) page end_block.
// An empty part has begin_req > end_req (the planner writes 0 and -1).
//
// A request cut across several parts is "split": each piece writes an fp32
// partial O and a base-2 LSE into workspace slot num_splits[req] + split,
// where split is begin_split for the part's first request and 0 for any
// later one (a later request starts inside this part, so this is its first
// piece). The combine kernel merges the slots. A request of one piece is
// written straight to the output.
struct alignas(32) SchedMeta {
  int32_t begin_req;    // first request, inclusive
  int32_t begin_block;  // first page of begin_req
  int32_t end_req;      // last request, inclusive
  int32_t end_block;    // one past the last page of end_req
  int32_t begin_split;  // split index of the begin_req piece
  int32_t flags;        // kFirstReqSplit | kLastReqSplit
  int32_t reserved[2];  // zero

  static constexpr int32_t kFirstReqSplit = 1;  // begin_req has > 1 pieces
  static constexpr int32_t kLastReqSplit = 2;   // end_req has > 1 pieces

  CUTE_MLA_HOST_DEVICE bool empty() const { return begin_req > end_req; }
};

static_assert(sizeof(SchedMeta) == 8 * sizeof(int32_t),
              "SchedMeta must stay eight int32 (Python sees (num_sm_parts, 8))");

constexpr int kSchedMetaInts = sizeof(SchedMeta) / sizeof(int32_t);

}  // namespace cute_mla
