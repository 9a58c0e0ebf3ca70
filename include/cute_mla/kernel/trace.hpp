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
  kLandedFirst,    // box group 0 has landed (an observer warp, not a consumer, waits for it)
  kLandedAll,      // ... and the last box group
  kScoresReleased, // the S warpgroup has released the previous tile's stage
  kScoresWait,     // ... and starts waiting for this tile's first box group
  kScoresStored,   // P and the row scales are stored (before the proxy fence)
  kScoresFenced,   // ... and fenced (before the arrive that posts them)
  kValuesDoneHi,   // the second P.V warpgroup's P.V is complete
  kValuesReleased, // the first P.V warpgroup has released the stage
  kEvents
};
constexpr int kMaxTiles = 1024;
// Stamps are kept in shared memory for a window of tiles and written out at
// the end: a global store per stamp made the next release-ordered operation
// (an mbarrier arrive, fence.proxy.async) wait for an L2 round trip, which
// added ~700 cycles to the phases it measured. The window must fit the
// static shared memory the decode kernel leaves of the 227 KB (a larger one
// fails the launch; the kernel checks it).
constexpr int kWindow = 14;

#if defined(CUTE_MLA_TRACE)
__device__ long long g_stamps[kEvents][kMaxTiles];
__device__ int g_cta[4];  // the traced CTA: blockIdx.x, .y, .z; then the window's first tile

struct Local {
  uint32_t stamps[kEvents][kWindow];
  int32_t first;
  bool traced;
};
CUTE_MLA_DEVICE Local& local() {
  __shared__ Local l;
  return l;
}
#endif

// Call from one thread before the CTA's first barrier.
CUTE_MLA_DEVICE void init() {
#if defined(CUTE_MLA_TRACE)
  Local& l = local();
  l.traced = int(blockIdx.x) == g_cta[0] && int(blockIdx.y) == g_cta[1] &&
             int(blockIdx.z) == g_cta[2];
  l.first = g_cta[3];
  for (int e = 0; e < kEvents; ++e)
    for (int i = 0; i < kWindow; ++i) l.stamps[e][i] = 0;
#endif
}

// Call from one thread of the role.
CUTE_MLA_DEVICE void stamp(Event e, int32_t tile) {
#if defined(CUTE_MLA_TRACE)
  // The clock first: the shared loads below can wait behind wgmma operand
  // reads for hundreds of cycles, which must not count in the stamp.
  uint32_t c;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(c)::"memory");
  Local& l = local();
  const int32_t i = tile - l.first;
  if (l.traced && i >= 0 && i < kWindow) l.stamps[e][i] = c;
#else
  (void)e;
  (void)tile;
#endif
}

// Call from one thread after a barrier of the whole CTA at its end: the
// window's stamps, unwrapped against its first, as g_stamps[e][tile] (0: none).
CUTE_MLA_DEVICE void flush() {
#if defined(CUTE_MLA_TRACE)
  Local& l = local();
  if (!l.traced) return;
  const uint32_t ref = l.stamps[kProducerWait][0];
  for (int e = 0; e < kEvents; ++e)
    for (int i = 0; i < kWindow; ++i)
      if (l.stamps[e][i] != 0 && l.first + i < kMaxTiles)
        g_stamps[e][l.first + i] = (1ll << 32) + int32_t(l.stamps[e][i] - ref);
#endif
}

}  // namespace cute_mla::kernel::trace
