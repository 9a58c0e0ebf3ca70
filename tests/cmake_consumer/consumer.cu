// The program both CMake consumer projects build (subdirectory/ and
// find_package/): what an engine does with cute-mla through CMake. It
// includes the umbrella header, calls the prebuilt library's host API,
// validates a filled arguments struct and plans a decode step on the host.
// The device path (the metadata kernel, checked bit for bit against the host
// plan) runs only where a CUDA device is present, but it is always linked, so
// a missing symbol of cute_mla::kernels fails the build.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <cute_mla/cute_mla.hpp>

#ifndef CUTE_MLA_CONSUMER
#define CUTE_MLA_CONSUMER "consumer"
#endif

int host_translation_unit_check();  // consumer_host.cpp

namespace {

int fail(const char* what, cute_mla::CheckResult const& r) {
  std::printf("[%s] FAILED: %s: %s (%s)\n", CUTE_MLA_CONSUMER, what,
              cute_mla::status_name(r.status), r.message);
  return 1;
}

bool same_records(cute_mla::SchedMeta const& x, cute_mla::SchedMeta const& y) {
  return std::memcmp(&x, &y, sizeof(x)) == 0;
}

// Plans on the GPU with the prebuilt metadata kernel and compares with the
// host plan. Returns 0 when equal or when the GPU cannot run it (not sm_90).
int plan_on_device(std::vector<int32_t> const& lens, cute_mla::SchedulerConfig const& config,
                   std::vector<cute_mla::SchedMeta> const& host_meta,
                   std::vector<int32_t> const& host_splits) {
  const int32_t b = int32_t(lens.size());
  int32_t* d_lens = nullptr;
  int32_t* d_splits = nullptr;
  cute_mla::SchedMeta* d_meta = nullptr;
  if (cudaMalloc(&d_lens, sizeof(int32_t) * b) != cudaSuccess ||
      cudaMalloc(&d_splits, sizeof(int32_t) * (b + 1)) != cudaSuccess ||
      cudaMalloc(&d_meta, sizeof(cute_mla::SchedMeta) * config.num_parts) != cudaSuccess) {
    std::printf("[%s] FAILED: cudaMalloc\n", CUTE_MLA_CONSUMER);
    return 1;
  }
  cudaMemcpy(d_lens, lens.data(), sizeof(int32_t) * b, cudaMemcpyHostToDevice);

  cute_mla::MetadataArguments m;
  m.batch = b;
  m.cache_seqlens = d_lens;
  m.config = config;
  m.sched_meta = d_meta;
  m.num_splits = d_splits;
  cute_mla::CheckResult r = cute_mla::plan_metadata(m, /*stream=*/nullptr);
  int rc = 0;
  if (r.status == cute_mla::Status::kErrorArchMismatch) {
    std::printf("[%s] GPU present but not sm_90: %s; device plan skipped\n", CUTE_MLA_CONSUMER,
                r.message);
  } else if (!r.ok()) {
    rc = fail("plan_metadata", r);
  } else {
    std::vector<cute_mla::SchedMeta> meta(size_t(config.num_parts));
    std::vector<int32_t> splits(size_t(b) + 1);
    cudaMemcpy(meta.data(), d_meta, sizeof(cute_mla::SchedMeta) * meta.size(),
               cudaMemcpyDeviceToHost);
    cudaMemcpy(splits.data(), d_splits, sizeof(int32_t) * splits.size(),
               cudaMemcpyDeviceToHost);
    bool same = splits == host_splits;
    for (size_t p = 0; p < meta.size(); ++p) same = same && same_records(meta[p], host_meta[p]);
    std::printf("[%s] device plan %s the host plan\n", CUTE_MLA_CONSUMER,
                same ? "matches" : "DIFFERS FROM");
    rc = same ? 0 : 1;
  }
  cudaFree(d_lens);
  cudaFree(d_splits);
  cudaFree(d_meta);
  return rc;
}

}  // namespace

int main() {
  // 1. The prebuilt library and the headers this program compiled against agree.
  const cute_mla::BuildInfo info = cute_mla::build_info();
  std::printf("[%s] cute_mla %s: CUDA %d, %s, dtypes %s, CUTLASS %s, decode kernel %s\n",
              CUTE_MLA_CONSUMER, info.version, info.cuda_version, info.archs, info.dtypes,
              info.cutlass_version, info.has_decode_kernel ? "yes" : "not yet");
  if (std::strcmp(info.version, CUTE_MLA_VERSION_STRING) != 0) {
    std::printf("[%s] FAILED: library %s, headers %s\n", CUTE_MLA_CONSUMER, info.version,
                CUTE_MLA_VERSION_STRING);
    return 1;
  }

  if (host_translation_unit_check() != 0) return 1;

  // 2. A decode step of six requests planned on the host for an H100
  //    (132 SMs, one KV head, 16 query heads, s_q = 1).
  const std::vector<int32_t> lens = {1, 64, 65, 4096, 0, 100000};
  const int32_t b = int32_t(lens.size());
  const cute_mla::SchedulerConfig config = cute_mla::default_scheduler_config(132, 1, 16);
  std::vector<int64_t> prefix(size_t(b) + 1);
  std::vector<cute_mla::SchedMeta> meta(size_t(config.num_parts));
  std::vector<int32_t> num_splits(size_t(b) + 1);
  const int32_t slots = cute_mla::plan_on_host(lens.data(), b, config, prefix.data(),
                                               meta.data(), num_splits.data());
  int used = 0;
  for (cute_mla::SchedMeta const& m : meta) used += m.empty() ? 0 : 1;
  std::printf("[%s] host plan: %d requests, %d of %d parts busy, %d split slots; num_splits =",
              CUTE_MLA_CONSUMER, b, used, config.num_parts, slots);
  for (int32_t s : num_splits) std::printf(" %d", s);
  std::printf("\n");
  if (num_splits[0] != 0 || slots != num_splits[size_t(b)] || slots < b) {
    std::printf("[%s] FAILED: inconsistent host plan\n", CUTE_MLA_CONSUMER);
    return 1;
  }

  // 3. Validation of the flat struct an engine fills in. Host addresses stand
  //    in for device buffers: nothing is dereferenced.
  alignas(256) static unsigned char q[256], k_cache[256], out[256];
  alignas(256) static int32_t block_table[6 * 1600];
  const int32_t h_q = 16;
  cute_mla::DecodeArguments a;
  a.batch = b;
  a.seqlen_q = 1;
  a.num_heads_q = h_q;
  a.num_heads_kv = 1;
  a.num_pages = 4096;
  a.max_pages_per_seq = 1600;
  a.softmax_scale = 0.0416667f;
  a.q = q;
  a.q_head_stride = cute_mla::MlaShape::kHeadDimQK;
  a.q_seq_stride = a.q_head_stride * h_q;
  a.q_batch_stride = a.q_seq_stride;
  a.k_cache = k_cache;
  a.k_head_stride = cute_mla::MlaShape::kHeadDimQK;
  a.k_row_stride = a.k_head_stride;
  a.k_page_stride = a.k_row_stride * cute_mla::MlaShape::kPageSize;
  a.block_table = block_table;
  a.block_table_stride = a.max_pages_per_seq;
  a.cache_seqlens = lens.data();
  a.sched_meta = meta.data();
  a.num_sm_parts = config.num_parts;
  a.num_splits = num_splits.data();
  a.out = out;
  a.out_head_stride = cute_mla::MlaShape::kHeadDimV;
  a.out_seq_stride = a.out_head_stride * h_q;
  a.out_batch_stride = a.out_seq_stride;
  cute_mla::CheckResult r = cute_mla::check_decode_arguments(a);
  if (!r.ok()) return fail("check_decode_arguments", r);
  cute_mla::DecodeArguments bad = a;
  bad.k_row_stride = 577;
  r = cute_mla::check_decode_arguments(bad);
  if (r.ok() || std::strncmp(r.message, "k_cache:", 8) != 0)
    return fail("check_decode_arguments accepted a misaligned k_cache stride", r);
  std::printf("[%s] check_decode_arguments: valid struct ok; bad stride -> %s\n",
              CUTE_MLA_CONSUMER, r.message);

  // 4. Host-only calls into the library: sizes, and a status for an invalid
  //    dtype before anything touches the GPU.
  std::printf("[%s] decode workspace: %lld bytes\n", CUTE_MLA_CONSUMER,
              static_cast<long long>(cute_mla::decode_workspace_size(a)));
  cute_mla::CombineArguments c;
  c.element = cute_mla::DataType::kFloat32;
  r = cute_mla::combine(c, nullptr);
  if (r.status != cute_mla::Status::kErrorInvalidType)
    return fail("combine accepted a float32 output", r);

  // 5. The GPU path.
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("[%s] no CUDA device (%s): device plan skipped\n", CUTE_MLA_CONSUMER,
                e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
  } else if (plan_on_device(lens, config, meta, num_splits) != 0) {
    return 1;
  }
  std::printf("[%s] OK\n", CUTE_MLA_CONSUMER);
  return 0;
}
