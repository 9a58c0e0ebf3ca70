// Named barriers of the SM90 decode kernel, numbered in one place. Id 0 is
// __syncthreads; CUTLASS's NamedBarrier adds its reserved offset itself.
#pragma once

#include <cstdint>

namespace cute_mla::kernel {

enum class NamedBarrier : uint32_t {
  kRowMaxExchange = 1,  // both consumer warpgroups posted their tile row maxima
  kProbsReady = 2,      // both halves of P are in shared memory
  kRowSumExchange = 3,  // both partial row sums are posted (epilogue)
  kTailZeroed = 4,      // rows past the sequence end of the last page are zeroed
};

}  // namespace cute_mla::kernel
