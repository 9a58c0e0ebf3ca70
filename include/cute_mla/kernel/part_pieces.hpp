// How a decode CTA reads its scheduler record: for each request of the part,
// which pages it processes, and where the result goes. The producer warp and
// the consumer warpgroups call the same function, so they agree on every
// tile.
//
// Every role walks a part's requests last to first (end_req down to
// begin_req; pages within a piece in order). A request cut into two pieces
// then has its first piece (the end of part p) walked first and its second
// piece (the start of part p + 1) walked last, so the second can merge the
// first's partial without waiting (ConsumerSm90's pair epilogues).
#pragma once

#include <cstdint>

#include "cute_mla/macros.hpp"
#include "cute_mla/sched_meta.hpp"

namespace cute_mla::kernel {

struct Piece {
  int32_t seqlen;       // keys of the request
  int32_t begin_block;  // first page of this piece
  int32_t end_block;    // one past its last page (== begin_block: no KV to read)
  int32_t split_index;  // slot offset among the request's pieces
  bool split;           // the request has several pieces: write fp32 partials
  bool invalid;         // length < 0 or beyond the block table: write NaN, read nothing

  CUTE_MLA_HOST_DEVICE bool has_kv() const { return begin_block < end_block; }
};

CUTE_MLA_HOST_DEVICE Piece piece_of(SchedMeta const& m, int32_t req, int32_t seqlen,
                                    int32_t page_size, int32_t max_pages_per_seq) {
  Piece p;
  p.seqlen = seqlen;
  p.invalid = seqlen < 0 || int64_t(seqlen) > int64_t(max_pages_per_seq) * page_size;
  const int32_t pages = p.invalid ? 0 : (seqlen + page_size - 1) / page_size;
  p.begin_block = req == m.begin_req ? m.begin_block : 0;
  p.end_block = req == m.end_req ? m.end_block : pages;
  if (p.end_block > pages) p.end_block = pages;
  if (p.begin_block > p.end_block) p.begin_block = p.end_block;
  p.split = (req == m.begin_req && (m.flags & SchedMeta::kFirstReqSplit)) ||
            (req == m.end_req && (m.flags & SchedMeta::kLastReqSplit));
  p.split_index = req == m.begin_req ? m.begin_split : 0;
  return p;
}

}  // namespace cute_mla::kernel
