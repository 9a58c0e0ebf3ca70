// Where one decode CTA's time goes, tile by tile: builds the decode kernel
// with CUTE_MLA_TRACE (clock stamps of the producer, the S warpgroup, a P.V
// warpgroup and an observer warp that waits for each tile's box groups to
// land; include/cute_mla/kernel/trace.hpp), runs one call on random inputs
// after an L2 flush, and prints per KV tile the stage wait, the load latency,
// S, the softmax, the wait for the previous P.V, P.V, and when the tile's
// first and last box groups landed, then the S warpgroup's loop step by step.
// Stamps cover a window of trace::kWindow tiles from --first (default 8);
// --raw 1 also prints every stamp.
//
// Build here (no GPU needed), run on the H100:
//   nvcc -std=c++17 -O3 -gencode=arch=compute_90a,code=sm_90a -cudart static \
//        -DCUTE_MLA_TRACE -Iinclude -I<cutlass>/include bench/trace_decode.cu -o trace_decode
//   ./trace_decode --b 1 --h-q 64 --seqlen 3626 --parts 1       # one CTA walking 57 pages
//   ./trace_decode --b 128 --h-q 128 --seqlen 16384              # the knee, CTA (0, 0)
// --parts 0 (default) uses the library's default plan; --parts P plans P parts
// with no minimum part size. Every request has --seqlen keys; pages are shuffled.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "cute_mla/device/mla_decode.hpp"
#include "cute_mla/scheduler.hpp"

#ifndef CUTE_MLA_TRACE
#error "build with -DCUTE_MLA_TRACE"
#endif

namespace {

#define CHECK_CUDA(x)                                                                     \
  do {                                                                                    \
    cudaError_t e_ = (x);                                                                 \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

// Values in [-1, 1) from a hash of the index: random enough for timing.
__global__ void fill_random(cutlass::bfloat16_t* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = cutlass::bfloat16_t(float(h & 0xffff) / 32768.f - 1.f);
  }
}

struct Options {
  int b = 1, h_q = 64, seqlen = 3626, parts = 0, cta_x = 0, cta_y = 0, raw = 0, first = 8;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(k, "--b")) o.b = v;
    else if (!std::strcmp(k, "--h-q")) o.h_q = v;
    else if (!std::strcmp(k, "--seqlen")) o.seqlen = v;
    else if (!std::strcmp(k, "--parts")) o.parts = v;
    else if (!std::strcmp(k, "--cta-x")) o.cta_x = v;
    else if (!std::strcmp(k, "--cta-y")) o.cta_y = v;
    else if (!std::strcmp(k, "--raw")) o.raw = v;
    else if (!std::strcmp(k, "--first")) o.first = v;
    else { std::fprintf(stderr, "unknown option %s\n", k); std::exit(2); }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cute_mla;
  using Element = cutlass::bfloat16_t;
  namespace tr = kernel::trace;
  const Options o = parse(argc, argv);
  const int pages_per_seq = (o.seqlen + 63) / 64;
  const int num_pages = o.b * pages_per_seq;
  const int64_t q_elems = int64_t(o.b) * o.h_q * 576;
  const int64_t kv_elems = int64_t(num_pages) * 64 * 576;

  Element *q, *kv, *out;
  float* lse;
  int32_t *table, *lens, *splits;
  SchedMeta* meta;
  CHECK_CUDA(cudaMalloc(&q, q_elems * 2));
  CHECK_CUDA(cudaMalloc(&kv, kv_elems * 2));
  CHECK_CUDA(cudaMalloc(&out, int64_t(o.b) * o.h_q * 512 * 2));
  CHECK_CUDA(cudaMalloc(&lse, int64_t(o.b) * o.h_q * 4));
  fill_random<<<1024, 256>>>(q, q_elems, 1u);
  fill_random<<<1024, 256>>>(kv, kv_elems, 2u);
  CHECK_CUDA(cudaGetLastError());

  std::vector<int32_t> h_table(num_pages);
  std::iota(h_table.begin(), h_table.end(), 0);
  std::shuffle(h_table.begin(), h_table.end(), std::mt19937(7));
  std::vector<int32_t> h_lens(o.b, o.seqlen);
  const int rows = o.h_q;  // s_q = 1, h_kv = 1
  SchedulerConfig c = default_scheduler_config(132, 1, rows);
  if (o.parts > 0) {
    c.num_parts = o.parts;
    c.min_blocks_per_part = 1;
    c.fill_blocks_per_part = 0;
  }
  std::vector<int64_t> prefix(o.b + 1);
  std::vector<SchedMeta> h_meta(c.num_parts);
  std::vector<int32_t> h_splits(o.b + 1);
  plan_on_host(h_lens.data(), o.b, c, prefix.data(), h_meta.data(), h_splits.data());
  CHECK_CUDA(cudaMalloc(&table, num_pages * 4));
  CHECK_CUDA(cudaMalloc(&lens, o.b * 4));
  CHECK_CUDA(cudaMalloc(&splits, (o.b + 1) * 4));
  CHECK_CUDA(cudaMalloc(&meta, c.num_parts * sizeof(SchedMeta)));
  CHECK_CUDA(cudaMemcpy(table, h_table.data(), num_pages * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(lens, h_lens.data(), o.b * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(splits, h_splits.data(), (o.b + 1) * 4, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(meta, h_meta.data(), c.num_parts * sizeof(SchedMeta),
                        cudaMemcpyHostToDevice));

  DecodeArguments a;
  a.batch = o.b;
  a.seqlen_q = 1;
  a.num_heads_q = o.h_q;
  a.num_heads_kv = 1;
  a.num_pages = num_pages;
  a.max_pages_per_seq = pages_per_seq;
  a.softmax_scale = 1.f / 24.f;
  a.q = q;
  a.q_batch_stride = int64_t(o.h_q) * 576;
  a.q_seq_stride = int64_t(o.h_q) * 576;
  a.q_head_stride = 576;
  a.k_cache = kv;
  a.k_page_stride = 64 * 576;
  a.k_row_stride = 576;
  a.k_head_stride = 576;
  a.block_table = table;
  a.block_table_stride = pages_per_seq;
  a.cache_seqlens = lens;
  a.sched_meta = meta;
  a.num_sm_parts = c.num_parts;
  a.num_splits = splits;
  a.out = out;
  a.out_batch_stride = int64_t(o.h_q) * 512;
  a.out_seq_stride = int64_t(o.h_q) * 512;
  a.out_head_stride = 512;
  a.lse = lse;
  a.lse_batch_stride = o.h_q;
  a.lse_head_stride = 1;
  a.lse_seq_stride = 1;

  using Decode = device::MlaDecode<Element>;
  const int64_t ws_bytes = Decode::get_workspace_size(a);
  void* ws;
  CHECK_CUDA(cudaMalloc(&ws, ws_bytes > 0 ? ws_bytes : 16));
  void* flush;
  const size_t flush_bytes = size_t(256) << 20;
  CHECK_CUDA(cudaMalloc(&flush, flush_bytes));
  const int cta[4] = {o.cta_x, o.cta_y, 0, o.first};
  CHECK_CUDA(cudaMemcpyToSymbol(tr::g_cta, cta, sizeof(cta)));

  cudaEvent_t e0, e1;
  CHECK_CUDA(cudaEventCreate(&e0));
  CHECK_CUDA(cudaEventCreate(&e1));
  float ms = 0.f;
  for (int rep = 0; rep < 3; ++rep) {  // the last one is reported
    static long long zeros[tr::kEvents][tr::kMaxTiles];
    CHECK_CUDA(cudaMemcpyToSymbol(tr::g_stamps, zeros, sizeof(zeros)));
    CHECK_CUDA(cudaMemset(flush, rep, flush_bytes));
    CHECK_CUDA(cudaEventRecord(e0));
    CheckResult r = Decode::run(a, ws, ws_bytes, nullptr);
    CHECK_CUDA(cudaEventRecord(e1));
    if (!r.ok()) { std::fprintf(stderr, "run: %s\n", r.message); return 1; }
    CHECK_CUDA(cudaEventSynchronize(e1));
    CHECK_CUDA(cudaEventElapsedTime(&ms, e0, e1));
  }
  static long long st[tr::kEvents][tr::kMaxTiles];
  CHECK_CUDA(cudaMemcpyFromSymbol(st, tr::g_stamps, sizeof(st)));
  int clock_khz = 0;
  CHECK_CUDA(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));

  // The stamps cover tiles [first, first + kWindow) of the traced CTA.
  const int first = o.first;
  int tiles = first;
  while (tiles < tr::kMaxTiles && tiles < first + tr::kWindow && st[tr::kValuesDone][tiles] != 0)
    ++tiles;
  const long long t0 = st[tr::kProducerWait][first];
  std::printf("b=%d h_q=%d seqlen=%d parts=%d (busy plan of CTA x=%d y=%d): tiles %d..%d, decode+combine "
              "%.1f us (events)\n", o.b, o.h_q, o.seqlen, c.num_parts, o.cta_x, o.cta_y, first, tiles - 1,
              ms * 1e3);
  std::printf("cycles; columns: issue (from the first stamp), stage wait (producer), load "
              "(issue -> S sees box group 0), S, softmax, S waits P.V(t-1) + posts, P.V lag "
              "(posted -> P.V has P), P.V, P.V done -> next S done; landed: issue -> box group 0, issue -> "
              "last box group (an observer warp's wait)\n");
  long long sum[8] = {0}, land[2] = {0};
  for (int t = first; t < tiles; ++t) {
    const long long w = st[tr::kProducerWait][t], is = st[tr::kProducerIssue][t],
                    f = st[tr::kScoresFull][t], sd = st[tr::kScoresDone][t],
                    sm = st[tr::kScoresSoftmax][t], sp = st[tr::kScoresPosted][t],
                    vr = st[tr::kValuesReady][t], vd = st[tr::kValuesDone][t];
    const long long next_sd = t + 1 < tiles ? st[tr::kScoresDone][t + 1] : vd;
    const long long col[8] = {is - t0, is - w, f - is, sd - f, sm - sd, sp - sm, vr - sp, vd - vr};
    const long long l0 = st[tr::kLandedFirst][t] - is, l1 = st[tr::kLandedAll][t] - is;
    std::printf("%4d %9lld %7lld %7lld %7lld %7lld %7lld %7lld %7lld %7lld | %7lld %7lld\n", t,
                  col[0], col[1], col[2], col[3], col[4], col[5], col[6], col[7], next_sd - vd, l0,
                  l1);
    if (t > first) {
      for (int k = 1; k < 8; ++k) sum[k] += col[k];
      land[0] += l0;
      land[1] += l1;
    }
  }
  if (o.raw) {  // every stamp of every tile, relative to the first, one line per tile
    std::printf("raw: tile then events in trace::Event order\n");
    for (int t = first; t < tiles; ++t) {
      std::printf("raw %d", t);
      for (int e = 0; e < tr::kEvents; ++e) std::printf(" %lld", st[e][t] - t0);
      std::printf("\n");
    }
  }
  const int n = tiles - first - 1;  // tiles averaged: the window less its first
  // The S warpgroup's loop, step by step (mean of the tiles that have a next
  // one): where its cycles a tile go besides S and the softmax.
  if (n > 1) {
    static const char* const kSteps[] = {
        "S (sees group 0 -> S done)", "softmax", "wait for P.V(t-1) + P stored",
        "proxy fence", "arrive (posted)", "stage release", "release -> next wait",
        "next wait -> sees group 0"};
    constexpr int kNumSteps = sizeof(kSteps) / sizeof(kSteps[0]);
    long long step[kNumSteps] = {0};
    int m = 0;
    for (int t = first + 1; t + 1 < tiles; ++t, ++m) {
      const long long at[kNumSteps + 1] = {
          st[tr::kScoresFull][t],     st[tr::kScoresDone][t],      st[tr::kScoresSoftmax][t],
          st[tr::kScoresStored][t],   st[tr::kScoresFenced][t],    st[tr::kScoresPosted][t],
          st[tr::kScoresReleased][t], st[tr::kScoresWait][t + 1], st[tr::kScoresFull][t + 1]};
      for (int k = 0; k < kNumSteps; ++k) step[k] += at[k + 1] - at[k];
    }
    long long total = 0;
    for (int k = 0; k < kNumSteps; ++k) total += step[k] / m;
    std::printf("S warpgroup loop, mean of tiles %d..%d (cycles; stamps cost part of each):\n",
                first + 1, tiles - 2);
    for (int k = 0; k < kNumSteps; ++k)
      std::printf("  %-32s %6lld\n", kSteps[k], step[k] / m);
    std::printf("  %-32s %6lld\n", "total", total);
  }
  if (n > 0) {
    const long long span = st[tr::kValuesDone][tiles - 1] - st[tr::kValuesDone][first];
    std::printf("mean of tiles %d..%d: ", first + 1, tiles - 1);
    for (int k = 1; k < 8; ++k) std::printf("%lld ", sum[k] / n);
    std::printf("| landed %lld %lld", land[0] / n, land[1] / n);
    std::printf("\nper tile (P.V done to P.V done): %lld cycles = %.2f us at the %d MHz base clock "
                "attribute (the SM may run faster: compare with cycles / (kernel us))\n",
                span / n, span / n / (clock_khz * 1e-3), clock_khz / 1000);
  }
  return 0;
}
