// Named barriers of the SM90 decode kernel, numbered in one place. Id 0 is
// __syncthreads; CUTLASS's NamedBarrier adds its reserved offset itself.
// The seesaw barriers count both consumer warpgroups (256): one warpgroup
// arrives, the other syncs, once per page pair, so neither can arrive twice
// before the other has passed (each arrive follows a sync on the other's
// previous signal).
#pragma once

#include <cstdint>

namespace cute_mla::kernel {

enum class NamedBarrier : uint32_t {
  kWg0Ready = 1,        // warpgroup 0 posted P_a, max0 and scale0 of page a
  kWg1Ready = 2,        // warpgroup 1 posted P_b, max1 and scale1 of page b
  kRowSumExchange = 4,  // warpgroup 1's row sums are posted (epilogue)
  kTailZeroed0 = 5,     // warpgroup w zeroed the rows past the sequence end
  kTailZeroed1 = 6,     //   of its last page (128 threads: its own S reads them)
};

}  // namespace cute_mla::kernel
