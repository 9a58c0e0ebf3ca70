// The fixed geometry of DeepSeek V2/V3 MLA decode and the limits this library
// supports. Every other file takes these numbers from here.
#pragma once

#include <cstdint>

namespace cute_mla {

struct MlaShape {
  static constexpr int kHeadDimQK = 576;   // 512 latent ("nope") + 64 rope
  static constexpr int kHeadDimV = 512;    // V = the first 512 columns of K
  static constexpr int kHeadDimRope = kHeadDimQK - kHeadDimV;
  static constexpr int kPageSize = 64;     // tokens per KV page (block)
};

struct Limits {
  // The metadata kernel keeps one int64 prefix sum per request in shared
  // memory: 16384 requests use 128 KiB of the 227 KiB an SM offers.
  static constexpr int kMaxBatch = 16384;
  // Each combine warp keeps one weight per split in shared memory.
  static constexpr int kMaxParts = 1024;
  static constexpr int kMaxHeadsQ = 128;
  static constexpr int kMaxSeqlenQ = 64;
  // TMA needs global strides that are multiples of 16 bytes.
  static constexpr int kStrideAlignBytes = 16;
};

}  // namespace cute_mla
