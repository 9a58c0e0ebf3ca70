// How many tensor-pipe cycles the decode kernel's two GEMMs of one page-tile
// take on an SM, alone and together, by instruction shape: S = Q K^T
// (64 x 64 x 576, m64n64k16, both operands in shared memory, as the kernel)
// on one warpgroup, and O += P V (64 x 512 x 64) on two warpgroups of 256
// output columns each, as two m64n128k16 wgmmas per k-step (the kernel: its
// 512 threads cap ptxas at 128 registers, too few for one m64n256 fp32
// accumulator) or one m64n256k16, with P from shared memory (SS) or from
// registers (RS); and S alone with all of Q in registers (RS: how far the
// kernel's S is from its tensor-pipe time because it reads Q from smem). The data sit in shared memory with the kernel's layouts;
// no loads, no softmax, no barriers between the warpgroups: each active
// warpgroup repeats its GEMM (issue, commit, wait) `--iters` times, so the
// figures are the tensor pipe's and shared memory's own rates, the floor
// under the kernel's S + P.V per page-tile. Then the same GEMMs pipelined as
// the kernel hands P over (named barriers "P ready" / "P consumed", a wait
// standing in for the softmax, P.V(t) under S(t+1)): the tile's floor for the
// kernel's schedule with each P.V shape, without loads (RS keeps one P in
// registers: the kernel's ldmatrix per tile is not counted).
//
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -cudart static \
//     -Iinclude -I$CUTLASS/include --expt-relaxed-constexpr bench/wgmma_rate.cu -o wgmma_rate
//   ./wgmma_rate [--ctas 132] [--iters 2000] [--softmax 700]
// Prints, per configuration, cycles per iteration of the S warpgroup, of the
// P.V warpgroups and of the whole CTA (mean over CTAs) and the SM clock.
#include <cuda_runtime.h>

#include <cute/tensor.hpp>
#include <cutlass/arch/barrier.h>
#include <cutlass/arch/reg_reconfig.h>
#include <cutlass/numeric_types.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cute_mla/collective/consumer_sm90.hpp"
#include "cute_mla/kernel/decode_traits_sm90.hpp"

namespace {

using Element = cutlass::bfloat16_t;
using T = cute_mla::kernel::DecodeTraitsSm90<Element>;

// P.V shapes: the kernel's two m64n128 per k-step, or one m64n256; P from
// shared memory (SS) or from registers (RS).
enum PvShape : int { kPvNone = 0, kPvSs128 = 1, kPvSs256 = 2, kPvRs128 = 3, kPvRs256 = 4 };
const char* kPvName[] = {"-", "SS 2 x m64n128 (kernel)", "SS 1 x m64n256", "RS 2 x m64n128",
                         "RS 1 x m64n256"};

struct alignas(1024) Smem {
  Element q[cute::cosize_v<T::SmemLayoutQ>];
  Element kv[cute::cosize_v<T::SmemLayoutK>];
  Element p[cute::cosize_v<T::SmemLayoutP>];
};

__device__ __forceinline__ long long clk() {
  long long c;
  asm volatile("mov.u64 %0, %%clock64;" : "=l"(c)::"memory");
  return c;
}
__device__ __forceinline__ unsigned long long nanos() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)::"memory");
  return t;
}

// One GEMM: issue every k-step, commit, wait (the kernel's own helper; RS
// operands need no fence here: P's registers are written once, before the loop).
using cute_mla::collective::detail::gemm_ss;

template <int kCols>
using MmaPvSs = decltype(cute::make_tiled_mma(cute::GMMA::ss_op_selector<
    Element, Element, float, cute::Shape<cute::_64, cute::Int<kCols>, cute::_64>,
    cute::GMMA::Major::K, cute::GMMA::Major::MN>()));
template <int kCols>
using MmaPvRs = decltype(cute::make_tiled_mma(cute::GMMA::rs_op_selector<
    Element, Element, float, cute::Shape<cute::_64, cute::Int<kCols>, cute::_64>,
    cute::GMMA::Major::K, cute::GMMA::Major::MN>()));

// One P.V warpgroup's loop: O_h (64 x 256) += P (64 x 64) V_h (64 x 256).
// The pipelined mode (softmax >= 0) hands each iteration over as the kernel
// does: the S warpgroup posts "P ready" after its S (and `softmax` cycles of
// waiting, standing in for its softmax), the P.V warpgroups wait for it,
// run P.V and post "P consumed", which the S warpgroup waits for before its
// next post. No loads: the tile's floor from the two GEMMs and the hand-off.
enum PipeBarrier : int { kPReady = 1, kPConsumed = 2 };
__device__ __forceinline__ void bar_sync(int id) {
  asm volatile("bar.sync %0, 384;" :: "r"(id) : "memory");
}
__device__ __forceinline__ void bar_arrive(int id) {
  asm volatile("bar.arrive %0, 384;" :: "r"(id) : "memory");
}

template <int kShape>
__device__ void values_loop(Smem& s, int half, int iters, int softmax, float* sink,
                            long long* cycles) {
  using namespace cute;
  constexpr bool kRs = kShape == kPvRs128 || kShape == kPvRs256;
  constexpr int kCols = (kShape == kPvSs256 || kShape == kPvRs256) ? 256 : 128;
  using Mma = std::conditional_t<kRs, MmaPvRs<kCols>, MmaPvSs<kCols>>;
  const int tid = threadIdx.x % 128;
  Mma mma;
  auto thr = mma.get_thread_slice(tid);
  Tensor sP = make_tensor(make_smem_ptr(s.p), T::SmemLayoutP{});
  Tensor sVt = make_tensor(make_smem_ptr(s.kv), T::SmemLayoutVt{});
  Tensor sVh = local_tile(sVt, Shape<_256, _64>{}, make_coord(half, _0{}));
  Tensor tOrV = thr.make_fragment_B(thr.partition_B(sVh));
  Tensor tOrO = partition_fragment_C(mma, Shape<_64, _256>{});
  clear(tOrO);
  Tensor tOrP = thr.make_fragment_A(thr.partition_A(sP));  // descriptors, or registers (RS)
  if constexpr (kRs) {
    CUTE_UNROLL
    for (int i = 0; i < size(tOrP); ++i) tOrP(i) = Element(float((i * 7 + tid) % 13) / 13.f - 0.5f);
  }
  const long long t0 = clk();
  for (int it = 0; it < iters; ++it) {
    if (softmax >= 0) bar_sync(kPReady);
    gemm_ss<false>(mma, tOrP, tOrV, tOrO);
    if (softmax >= 0) bar_arrive(kPConsumed);
  }
  *cycles = clk() - t0;
  float acc = 0.f;
  CUTE_UNROLL
  for (int i = 0; i < size(tOrO); ++i) acc += tOrO(i);
  if (acc == 12345.f) *sink = acc;  // keeps the GEMMs
}

// S shapes: the kernel's (Q and K from shared memory), or all of Q in the
// warpgroup's registers (144 a thread; RS), which only S alone can afford:
// how far S is from its tensor-pipe time because it reads Q from shared memory.
enum SShape : int { kSNone = 0, kSSs = 1, kSRs = 2 };
const char* kSName[] = {"-", "SS (kernel)", "RS (Q in registers)"};

using MmaSRs = decltype(cute::make_tiled_mma(cute::GMMA::rs_op_selector<
    Element, Element, float, cute::Shape<cute::_64, cute::_64, cute::Int<T::kHeadDim>>,
    cute::GMMA::Major::K, cute::GMMA::Major::K>()));

// The S warpgroup's loop: S (64 x 64) = Q (64 x 576) K^T, as the kernel's.
template <int kShape>
__device__ void scores_loop(Smem& s, int iters, int softmax, float* sink, long long* cycles) {
  using namespace cute;
  const int tid = threadIdx.x % 128;
  using Mma = std::conditional_t<kShape == kSRs, MmaSRs, T::TiledMmaS>;
  Mma mma;
  auto thr = mma.get_thread_slice(tid);
  Tensor sQ = make_tensor(make_smem_ptr(s.q), T::SmemLayoutQ{});
  Tensor tSrQ = thr.make_fragment_A(thr.partition_A(sQ));  // descriptors, or registers (RS)
  if constexpr (kShape == kSRs) {
    auto s2r = make_tiled_copy_A(Copy_Atom<SM75_U32x4_LDSM_N, Element>{}, mma);
    auto thr_s2r = s2r.get_thread_slice(tid);
    copy(s2r, thr_s2r.partition_S(sQ), thr_s2r.retile_D(tSrQ));
    warpgroup_fence_operand(tSrQ);
  }
  Tensor tSrS = partition_fragment_C(mma, Shape<_64, _64>{});
  float acc = 0.f;
  const long long t0 = clk();
  for (int it = 0; it < iters; ++it) {
    // B alternates between the two 64 x 576 tiles, as the kernel's two
    // stages do: descriptors made per iteration, not 36 hoisted pairs.
    Tensor sB = make_tensor(make_smem_ptr((it & 1) ? s.q : s.kv), T::SmemLayoutK{});
    Tensor tSrK = thr.make_fragment_B(thr.partition_B(sB));
    gemm_ss<true>(mma, tSrQ, tSrK, tSrS);
    acc += tSrS(0) + tSrS(size(tSrS) - 1);
    if (softmax >= 0) {
      const long long done = clk();
      while (clk() - done < softmax) {}
      if (it > 0) bar_sync(kPConsumed);
      bar_arrive(kPReady);
    }
  }
  if (softmax >= 0) bar_sync(kPConsumed);  // the last iteration's
  *cycles = clk() - t0;
  if (acc == 12345.f) *sink = acc;
}

struct Result {
  long long cycles[3];   // per warpgroup: 0 = S, 1 and 2 = P.V halves
  unsigned long long ns;  // the CTA's wall time (globaltimer)
  long long sm_cycles;    // the same span in SM cycles
};

template <int kScores, int kPv>
__global__ void __launch_bounds__(384, 1) rate_kernel(const Element* fill, int iters, int softmax,
                                                      float* sink, Result* out) {
  extern __shared__ char raw[];
  Smem& s = *reinterpret_cast<Smem*>((reinterpret_cast<uintptr_t>(raw) + 1023) & ~uintptr_t(1023));
  // Random operands (the tensor cores' power, and so the clock, depends on the data).
  Element* flat = reinterpret_cast<Element*>(&s);
  constexpr int kElems = int(sizeof(Smem) / sizeof(Element));
  for (int i = threadIdx.x; i < kElems; i += blockDim.x) flat[i] = fill[(i + blockIdx.x * 977) % kElems];
  cutlass::arch::fence_view_async_shared();
  __syncthreads();
  const int wg = threadIdx.x / 128;
  long long cyc = 0;
  const long long c0 = clk();
  const unsigned long long n0 = nanos();
  // The kernel's split of the register file: 128 x (104 + 2 x 200) = 384 x 168
  // (S with Q in registers, alone: 128 x (232 + 2 x 40)).
  if constexpr (kScores == kSRs) {
    static_assert(kPv == kPvNone, "S with Q in registers runs alone");
    if (wg == 0) {
      cutlass::arch::warpgroup_reg_alloc<232>();
      scores_loop<kSRs>(s, iters, -1, sink, &cyc);
    } else {
      cutlass::arch::warpgroup_reg_dealloc<40>();
    }
  } else if (wg == 0) {
    cutlass::arch::warpgroup_reg_dealloc<104>();
    if constexpr (kScores == kSSs) scores_loop<kSSs>(s, iters, kPv != kPvNone ? softmax : -1, sink, &cyc);
  } else {
    cutlass::arch::warpgroup_reg_alloc<200>();
    if constexpr (kPv != kPvNone) values_loop<kPv>(s, wg - 1, iters, kScores == kSSs ? softmax : -1, sink, &cyc);
  }
  __syncthreads();
  if (threadIdx.x % 128 == 0) out[blockIdx.x].cycles[wg] = cyc;
  if (threadIdx.x == 0) {
    out[blockIdx.x].ns = nanos() - n0;
    out[blockIdx.x].sm_cycles = clk() - c0;
  }
}

int arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], name)) return std::atoi(argv[i + 1]);
  return fallback;
}

#define CHECK(x)                                                                    \
  do {                                                                              \
    cudaError_t e_ = (x);                                                           \
    if (e_ != cudaSuccess) {                                                        \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

template <int kScores, int kPv>
void run(int ctas, int iters, const Element* fill, float* sink, Result* d_out, int softmax = -1) {
  auto kernel = rate_kernel<kScores, kPv>;
  const int smem = int(sizeof(Smem)) + 1024;
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  kernel<<<ctas, 384, smem>>>(fill, iters / 10, softmax, sink, d_out);  // warm the clock up
  CHECK(cudaDeviceSynchronize());
  kernel<<<ctas, 384, smem>>>(fill, iters, softmax, sink, d_out);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  std::vector<Result> r(ctas);
  CHECK(cudaMemcpy(r.data(), d_out, sizeof(Result) * ctas, cudaMemcpyDeviceToHost));
  double wg[3] = {0, 0, 0}, mhz = 0;
  for (auto const& x : r) {
    for (int w = 0; w < 3; ++w) wg[w] += double(x.cycles[w]) / iters / ctas;
    mhz += double(x.sm_cycles) / double(x.ns) * 1e3 / ctas;
  }
  double span = 0;
  for (auto const& x : r) span += double(x.sm_cycles) / iters / ctas;
  const double pv = (wg[1] + wg[2]) / 2;
  char mode[32] = "";
  if (softmax >= 0) std::snprintf(mode, sizeof(mode), "  (pipelined, softmax %d)", softmax);
  std::printf("%-20s  %-24s  %9.0f  %10.0f  %10.0f  %6.0f%s\n", kSName[kScores], kPvName[kPv],
              kScores ? wg[0] : 0.0, kPv ? pv : 0.0, span, mhz, mode);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: %s [--ctas N (132)] [--iters N (2000)] [--softmax CYCLES (700)]\n"
                  "cycles per page-tile of the decode kernel's S GEMM (one warpgroup) and P.V GEMM\n"
                  "(two warpgroups), alone and running together, by wgmma shape; then pipelined as\n"
                  "the kernel hands P over (S, a wait of 0 and of --softmax cycles for the\n"
                  "softmax, post P; P.V after the post), where the S cycles are the tile's\n", argv[0]);
      return 0;
    }
  const int ctas = arg(argc, argv, "--ctas", 132);
  const int iters = arg(argc, argv, "--iters", 2000);
  const int softmax = arg(argc, argv, "--softmax", 700);  // session 18's trace: 666 a tile
  constexpr int kElems = int(sizeof(Smem) / sizeof(Element));
  std::vector<Element> host(kElems);
  uint32_t h = 12345;
  for (auto& x : host) {
    h = h * 1664525u + 1013904223u;
    x = Element(float(h >> 16) / 32768.f - 1.f);
  }
  Element* fill;
  float* sink;
  Result* out;
  CHECK(cudaMalloc(&fill, sizeof(Element) * kElems));
  CHECK(cudaMalloc(&sink, sizeof(float)));
  CHECK(cudaMalloc(&out, sizeof(Result) * ctas));
  CHECK(cudaMemcpy(fill, host.data(), sizeof(Element) * kElems, cudaMemcpyHostToDevice));
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, %d CTAs of 384 threads, %d iterations; cycles per iteration (one page-tile)\n",
              prop.name, ctas, iters);
  // span: the CTA's cycles per iteration, all its warpgroups together (the tile's cost when
  // S and P.V run at once: the sum of the two if they only take turns on the pipe).
  std::printf("%-20s  %-24s  %9s  %10s  %10s  %6s\n", "S", "P.V", "S cycles", "P.V cycles",
              "span cycles", "MHz");
  run<kSSs, kPvNone>(ctas, iters, fill, sink, out);
  run<kSRs, kPvNone>(ctas, iters, fill, sink, out);
  run<kSNone, kPvSs128>(ctas, iters, fill, sink, out);
  run<kSNone, kPvSs256>(ctas, iters, fill, sink, out);
  run<kSNone, kPvRs128>(ctas, iters, fill, sink, out);
  run<kSNone, kPvRs256>(ctas, iters, fill, sink, out);
  run<kSSs, kPvSs128>(ctas, iters, fill, sink, out);
  run<kSSs, kPvSs256>(ctas, iters, fill, sink, out);
  run<kSSs, kPvRs128>(ctas, iters, fill, sink, out);
  run<kSSs, kPvRs256>(ctas, iters, fill, sink, out);
  for (int wait : {0, softmax}) {
    run<kSSs, kPvSs128>(ctas, iters, fill, sink, out, wait);
    run<kSSs, kPvSs256>(ctas, iters, fill, sink, out, wait);
    run<kSSs, kPvRs128>(ctas, iters, fill, sink, out, wait);
    run<kSSs, kPvRs256>(ctas, iters, fill, sink, out, wait);
  }
  return 0;
}
