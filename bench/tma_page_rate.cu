// How fast one SM receives a 72 KB KV page (64 tokens x 576 bf16) through
// TMA, by the shape of the copies: the decode kernel's nine 64 x 64 boxes of
// a 4-D map, the same bytes as three 3-D boxes (64 columns x 64 rows x 3
// column chunks: one copy per box group), one 3-D box of all nine chunks,
// and a plain 1-D bulk copy of the contiguous page (no swizzle: a bound, not
// a layout wgmma can read). Each CTA walks random pages of a paged cache
// with `--inflight` pages outstanding; reported per CTA: cycles from issuing
// a page to its last byte, and cycles per page in steady state; with
// `--ctas 132` every SM loads at once (DRAM-bound aggregate).
//
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -cudart static \
//     -Iinclude -I$CUTLASS/include --expt-relaxed-constexpr bench/tma_page_rate.cu -o tma_page_rate
//   ./tma_page_rate [--ctas N] [--pages P] [--inflight K]
#include <cuda_runtime.h>

#include <cute/arch/copy_sm90_tma.hpp>
#include <cutlass/arch/barrier.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cute_mla/collective/paged_kv_tma_sm90.hpp"

namespace {

constexpr int kRows = 64, kCols = 576, kChunk = 64, kChunks = kCols / kChunk;
constexpr int kPageBytes = kRows * kCols * 2;  // 73728
constexpr int kMaxInflight = 3;                // 3 x 72 KB of shared memory

enum Shape : int { kNineBoxes = 0, kThreeBoxes3d = 1, kOneBox3d = 2, kBulk1d = 3 };
const char* kShapeName[] = {"9 boxes 64x64 (4-D map, as the kernel)",
                            "3 boxes 64x64x3 (3-D map, one per box group)",
                            "1 box 64x64x9 (3-D map)", "1-D bulk copy (no swizzle)"};

struct Params {
  CUtensorMap map4d;   // (576 cols, 64 rows, pages): box 64 x 64
  CUtensorMap map3d3;  // (64 elems, 64 rows, 9 chunks, pages): box 64 x 64 x 3
  CUtensorMap map3d9;  // the same, box 64 x 64 x 9
  const char* cache;
  const int32_t* pages;  // per CTA: `num_pages` page ids
  int32_t num_pages;
  int32_t inflight;
  int shape;
  long long* out;  // per CTA: total cycles, sum of issue -> landed cycles
};

struct alignas(1024) Smem {
  char stage[kMaxInflight][kPageBytes];
  uint64_t full[kMaxInflight];
};

__device__ __forceinline__ long long clk() {
  long long c;
  asm volatile("mov.u64 %0, %%clock64;" : "=l"(c)::"memory");
  return c;
}

__device__ void issue(Params const& p, Smem& s, int slot, int page) {
  using Barrier = cutlass::arch::ClusterTransactionBarrier;
  uint64_t* bar = &s.full[slot];
  Barrier::arrive_and_expect_tx(bar, kPageBytes);
  char* dst = s.stage[slot];
  constexpr uint64_t kHint = uint64_t(cute::TMA::CacheHintSm90::EVICT_FIRST);
  switch (p.shape) {
    case kNineBoxes:
      for (int c = 0; c < kChunks; ++c)
        cute::SM90_TMA_LOAD_3D::copy(&p.map4d, bar, kHint, dst + c * kRows * kChunk * 2,
                                     c * kChunk, 0, page);
      break;
    case kThreeBoxes3d:
      for (int g = 0; g < 3; ++g)
        cute::SM90_TMA_LOAD_4D::copy(&p.map3d3, bar, kHint, dst + g * 3 * kRows * kChunk * 2, 0,
                                     0, 3 * g, page);
      break;
    case kOneBox3d:
      cute::SM90_TMA_LOAD_4D::copy(&p.map3d9, bar, kHint, dst, 0, 0, 0, page);
      break;
    default: {
      const char* src = p.cache + size_t(page) * kPageBytes;
      asm volatile(
          "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, "
          "[%3];" ::"r"(cute::cast_smem_ptr_to_uint(dst)),
          "l"(src), "r"(kPageBytes), "r"(cute::cast_smem_ptr_to_uint(bar))
          : "memory");
    }
  }
}

__global__ void __launch_bounds__(32, 1) page_rate_kernel(const __grid_constant__ Params p) {
  extern __shared__ char raw[];
  Smem& s = *reinterpret_cast<Smem*>(raw + ((1024 - (cute::cast_smem_ptr_to_uint(raw) & 1023)) & 1023));
  if (threadIdx.x != 0) return;
  for (int i = 0; i < kMaxInflight; ++i) cutlass::arch::ClusterTransactionBarrier::init(&s.full[i], 1);
  cutlass::arch::fence_barrier_init();
  const int32_t* pages = p.pages + size_t(blockIdx.x) * p.num_pages;
  long long issued[kMaxInflight];
  long long latency = 0;
  const long long t0 = clk();
  int next = 0;
  for (; next < p.inflight && next < p.num_pages; ++next) {
    issued[next] = clk();
    issue(p, s, next, pages[next]);
  }
  for (int i = 0; i < p.num_pages; ++i) {
    const int slot = i % p.inflight;
    cutlass::arch::ClusterTransactionBarrier::wait(&s.full[slot], (i / p.inflight) & 1);
    latency += clk() - issued[slot];
    if (next < p.num_pages) {
      issued[slot] = clk();
      issue(p, s, slot, pages[next]);
      ++next;
    }
  }
  p.out[2 * blockIdx.x] = clk() - t0;
  p.out[2 * blockIdx.x + 1] = latency;
}

int arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], name)) return std::atoi(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int ctas = arg(argc, argv, "--ctas", 1);
  const int per_cta = arg(argc, argv, "--pages", 256);
  const int pool = 40000;  // 2.9 GB of pages, far beyond L2
  char* cache = nullptr;
  if (cudaMalloc(&cache, size_t(pool) * kPageBytes) != cudaSuccess) return 1;
  cudaMemset(cache, 1, size_t(pool) * kPageBytes);
  std::vector<int32_t> ids(size_t(ctas) * per_cta);
  std::mt19937 rng(1);
  for (auto& x : ids) x = int32_t(rng() % pool);
  int32_t* d_ids = nullptr;
  long long* d_out = nullptr;
  cudaMalloc(&d_ids, ids.size() * 4);
  cudaMalloc(&d_out, size_t(ctas) * 16);
  cudaMemcpy(d_ids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice);

  // The decode kernel's own encoder (128-byte swizzle, 256-byte L2 promotion).
  auto encode = [&](CUtensorMap* map, int rank, const uint64_t* d, const uint64_t* st,
                    const uint32_t* b) {
    cute_mla::CheckResult r = cute_mla::collective::detail::encode_16bit(
        "cache", map, rank, cache, d, st, b, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16);
    if (!r.ok()) std::printf("%s\n", r.message);
    return r.ok();
  };
  Params p{};
  {
    uint64_t d[3] = {kCols, kRows, uint64_t(pool)};
    uint64_t st[2] = {kCols * 2, uint64_t(kPageBytes)};
    uint32_t b[3] = {kChunk, kRows, 1};
    if (!encode(&p.map4d, 3, d, st, b)) return 1;
  }
  {
    // (64 elements, 64 rows at 1152 B, 9 column chunks at 128 B, pages): the
    // chunk dimension after the rows, so a box lands chunk after chunk, each
    // 64 rows x 128 B, as the kernel's boxes do.
    uint64_t d[4] = {kChunk, kRows, kChunks, uint64_t(pool)};
    uint64_t st[3] = {kCols * 2, kChunk * 2, uint64_t(kPageBytes)};
    uint32_t b3[4] = {kChunk, kRows, 3, 1};
    uint32_t b9[4] = {kChunk, kRows, kChunks, 1};
    if (!encode(&p.map3d3, 4, d, st, b3) || !encode(&p.map3d9, 4, d, st, b9))
      return 1;
  }
  p.cache = cache;
  p.pages = d_ids;
  p.num_pages = per_cta;
  p.out = d_out;
  const int smem = int(sizeof(Smem)) + 1024;
  cudaFuncSetAttribute(page_rate_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  int clock_khz = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("%s: %d CTA(s) x %d random pages of 72 KB from a %.1f GB cache\n", prop.name, ctas,
              per_cta, double(pool) * kPageBytes / 1e9);
  std::vector<long long> out(size_t(ctas) * 2);
  for (int shape = 0; shape < 4; ++shape) {
    for (int inflight = 1; inflight <= kMaxInflight; ++inflight) {
      p.shape = shape;
      p.inflight = inflight;
      cudaEvent_t a, b;
      cudaEventCreate(&a);
      cudaEventCreate(&b);
      page_rate_kernel<<<ctas, 32, smem>>>(p);  // warm-up (also the TLB)
      cudaEventRecord(a);
      page_rate_kernel<<<ctas, 32, smem>>>(p);
      cudaEventRecord(b);
      if (cudaEventSynchronize(b) != cudaSuccess) {
        std::printf("kernel failed: %s\n", cudaGetErrorString(cudaGetLastError()));
        return 1;
      }
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      cudaMemcpy(out.data(), d_out, out.size() * 8, cudaMemcpyDeviceToHost);
      double cyc = 0, lat = 0;
      for (int c = 0; c < ctas; ++c) {
        cyc += double(out[2 * c]) / per_cta;
        lat += double(out[2 * c + 1]) / per_cta;
      }
      cyc /= ctas;
      lat /= ctas;
      const double gbs = double(ctas) * per_cta * kPageBytes / (ms * 1e-3) / 1e9;
      std::printf("%-46s inflight %d: %6.0f cycles/page (%5.1f B/clk/SM), issue->landed %6.0f "
                  "cycles; all CTAs %7.1f GB/s\n",
                  kShapeName[shape], inflight, cyc, kPageBytes / cyc, lat, gbs);
    }
  }
  return 0;
}
