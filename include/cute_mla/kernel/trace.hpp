// Cycle stamps of one CTA's schedule, for bench/trace_decode.cu: each role
// records clock64() at the points where it waits or hands work on, indexed
// by the CTA's KV-tile sequence number. Compiled in only with
// CUTE_MLA_TRACE; otherwise stamp() is empty and the kernel is unchanged.
#pragma once

#include <cstdint>

#include "cute_mla/macros.hpp"

namespace cute_mla::kernel::trace {

enum Event : int {
  kProducerWait,   // the producer starts waiting for a free stage
  kProducerIssue,  // ... and issues the tile's loads
  kScoresFull,     // the S warpgroup sees the tile's first box group
  kScoresDone,     // S is complete (wgmma waited)
  kScoresSoftmax,  // the softmax is done; next it waits for the last P.V
  kScoresPosted,   // P and the row scales are posted
  kValuesReady,    // a P.V warpgroup has P
  kValuesDone,     // its P.V is complete
  kEvents
};
constexpr int kMaxTiles = 1024;

#if defined(CUTE_MLA_TRACE)
__device__ long long g_stamps[kEvents][kMaxTiles];
__device__ int g_cta[3];  // the traced CTA: blockIdx.x, .y, .z
#endif

// Call from one thread of the role.
CUTE_MLA_DEVICE void stamp(Event e, int32_t tile) {
#if defined(CUTE_MLA_TRACE)
  if (int(blockIdx.x) == g_cta[0] && int(blockIdx.y) == g_cta[1] && int(blockIdx.z) == g_cta[2] &&
      tile < kMaxTiles)
    g_stamps[e][tile] = clock64();
#else
  (void)e;
  (void)tile;
#endif
}

}  // namespace cute_mla::kernel::trace
