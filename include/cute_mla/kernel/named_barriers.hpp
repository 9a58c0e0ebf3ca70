// Named barriers of the SM90 decode kernel, numbered in one place. Id 0 is
// __syncthreads; CUTLASS's NamedBarrier adds its reserved offset itself.
#pragma once

#include <cstdint>

namespace cute_mla::kernel {

// All but kScoresOnly and kPairPublish (384 + 32, the publisher warp) join the S warpgroup (arrive or sync) and both P.V
// warpgroups: 384 threads. Each one is arrived at by one side and waited at by the other: where
// both sides waited at a barrier from different instructions (the pair exchange, until
// 2026-12-07), compute-sanitizer's synccheck reported "Divergent thread(s) in block".
enum class NamedBarrier : uint32_t {
  kProbsReady = 1,      // P and the row rescale of this page are in shared memory
  kProbsConsumed = 2,   // the P.V warpgroups finished this page's P.V (read P and rescale)
  kRowSumExchange = 3,  // the final row sums are posted (epilogue)
  kScoresOnly = 4,      // S warpgroup only (128): rows past the sequence end are zeroed; a pair's post
  kPairExchange = 5,    // merging epilogue: the P.V warpgroups are past the previous epilogue's reads
  kPairPosted = 7,      // merging epilogue: the S warpgroup posted row sums, LSEs and pair_ready
  kPairPublish = 6,     // consumers (arrive) and the publisher warp (sync): a first piece's partial is stored
};

}  // namespace cute_mla::kernel
