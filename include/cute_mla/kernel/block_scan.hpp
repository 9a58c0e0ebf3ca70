// Block-wide exclusive prefix sum for the one-CTA metadata kernel.
#pragma once

#include <cstdint>

#include "cute_mla/macros.hpp"

namespace cute_mla::kernel::detail {

constexpr int kWarpSize = 32;

// Exclusive prefix sum of `value` over the block, in thread order; `scratch`
// holds one entry per warp. Every thread must call it (it synchronises).
template <class T>
CUTE_MLA_DEVICE T block_exclusive_scan(T value, T* scratch) {
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;
  const int num_warps = (blockDim.x + kWarpSize - 1) / kWarpSize;
  T inclusive = value;
#pragma unroll
  for (int d = 1; d < kWarpSize; d *= 2) {
    T up = __shfl_up_sync(0xffffffffu, inclusive, d);
    if (lane >= d) inclusive += up;
  }
  __syncthreads();  // scratch may still be read by a previous scan
  if (lane == kWarpSize - 1) scratch[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    T w = lane < num_warps ? scratch[lane] : T(0);
#pragma unroll
    for (int d = 1; d < kWarpSize; d *= 2) {
      T up = __shfl_up_sync(0xffffffffu, w, d);
      if (lane >= d) w += up;
    }
    if (lane < num_warps) scratch[lane] = w;  // inclusive over warps
  }
  __syncthreads();
  T warp_offset = warp > 0 ? scratch[warp - 1] : T(0);
  return warp_offset + inclusive - value;
}

}  // namespace cute_mla::kernel::detail
