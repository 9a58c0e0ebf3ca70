// Named barriers of the SM90 decode kernel, numbered in one place. Id 0 is
// __syncthreads; CUTLASS's NamedBarrier adds its reserved offset itself.
#pragma once

#include <cstdint>

namespace cute_mla::kernel {

enum class NamedBarrier : uint32_t {
  kProbsReady = 1,      // P and the row rescale of this page are in shared memory
  kProbsConsumed = 2,   // warpgroup 1 finished reading P and the rescale (arrive/sync)
  kRowSumExchange = 3,  // the final row sums are posted (epilogue)
  kTailZeroed = 4,      // rows past the sequence end of the last page are zeroed
};

}  // namespace cute_mla::kernel
