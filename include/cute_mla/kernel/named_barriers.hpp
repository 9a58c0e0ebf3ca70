// Named barriers of the SM90 decode kernel, numbered in one place. Id 0 is
// __syncthreads; CUTLASS's NamedBarrier adds its reserved offset itself.
#pragma once

#include <cstdint>

namespace cute_mla::kernel {

// All but kTailZeroed and kPairPublish (384 + 32, the publisher warp) join the S warpgroup (arrive or sync) and both P.V
// warpgroups: 384 threads.
enum class NamedBarrier : uint32_t {
  kProbsReady = 1,      // P and the row rescale of this page are in shared memory
  kProbsConsumed = 2,   // the P.V warpgroups finished this page's P.V (read P and rescale)
  kRowSumExchange = 3,  // the final row sums are posted (epilogue)
  kTailZeroed = 4,      // S warpgroup only: rows past the sequence end are zeroed
  kPairExchange = 5,    // a two-piece request's merging epilogue (both steps)
  kPairPublish = 6,     // consumers (arrive) and the publisher warp (sync): a first piece's partial is stored
};

}  // namespace cute_mla::kernel
