// Host-only test of the validation in check.hpp: a valid set of arguments
// passes, and each single-field mutation fails with the right Status and a
// message that starts with the argument's name ("k_cache: ...").
//
// Builds with any C++17 compiler and -Iinclude; no GPU, no CUDA runtime. The
// data pointers point into host buffers that are never dereferenced.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>

#include "cute_mla/arguments.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/sched_meta.hpp"
#include "cute_mla/scheduler.hpp"

namespace {

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    ++g_checks;                                                                  \
    if (!(cond)) {                                                               \
      ++g_failures;                                                              \
      std::printf("%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);       \
    }                                                                            \
  } while (0)

using cute_mla::CheckResult;
using cute_mla::DataType;
using cute_mla::DecodeArguments;
using cute_mla::DecodeTensors;
using cute_mla::DeviceKind;
using cute_mla::MlaShape;
using cute_mla::SchedMeta;
using cute_mla::Status;
using cute_mla::TensorDesc;

constexpr int64_t kB = 2, kSq = 1, kHq = 16, kHkv = 1, kPages = 10, kMaxPages = 4,
                  kParts = 8;
constexpr int64_t kD = MlaShape::kHeadDimQK, kDv = MlaShape::kHeadDimV,
                  kPage = MlaShape::kPageSize;

// Host storage standing in for device buffers: only addresses are used.
alignas(256) unsigned char g_q[256];
alignas(256) unsigned char g_k[256];
alignas(256) unsigned char g_out[256];
alignas(256) int32_t g_block_table[kB * kMaxPages];
alignas(256) int32_t g_seqlens[kB];
alignas(256) SchedMeta g_meta[kParts];
alignas(256) int32_t g_num_splits[kB + 1];
alignas(256) float g_lse[kB * kHq * kSq];

template <class T>
const T* offset_bytes(const T* p, int bytes) {
  return reinterpret_cast<const T*>(reinterpret_cast<const unsigned char*>(p) + bytes);
}

// Reports (and counts) an outcome different from the expected one.
void expect(const char* file, int line, const char* what, CheckResult const& r, Status want,
            const char* prefix) {
  ++g_checks;
  const bool status_ok = r.status == want;
  bool msg_ok = true;
  if (want == Status::kSuccess) {
    msg_ok = r.message[0] == '\0';
  } else {
    const size_t n = std::strlen(prefix);
    msg_ok = std::strncmp(r.message, prefix, n) == 0 && r.message[n] == ':' &&
             std::strlen(r.message) > n + 2;
  }
  if (!status_ok || !msg_ok) {
    ++g_failures;
    std::printf("%s:%d: %s: expected %s with a message starting \"%s:\", got %s: \"%s\"\n",
                file, line, what, cute_mla::status_name(want), prefix,
                cute_mla::status_name(r.status), r.message);
  }
}
#define EXPECT_RESULT(what, r, want, prefix) expect(__FILE__, __LINE__, what, r, want, prefix)

// --- the flat struct ----------------------------------------------------------

DecodeArguments valid_arguments() {
  DecodeArguments a;
  a.batch = kB;
  a.seqlen_q = kSq;
  a.num_heads_q = kHq;
  a.num_heads_kv = kHkv;
  a.num_pages = kPages;
  a.max_pages_per_seq = kMaxPages;
  a.element = DataType::kBFloat16;
  a.softmax_scale = 1.0f / std::sqrt(float(kD));
  a.q = g_q;
  a.q_head_stride = kD;
  a.q_seq_stride = kD * kHq;
  a.q_batch_stride = kD * kHq * kSq;
  a.k_cache = g_k;
  a.k_head_stride = kD;
  a.k_row_stride = kD * kHkv;
  a.k_page_stride = kD * kHkv * kPage;
  a.block_table = g_block_table;
  a.block_table_stride = kMaxPages;
  a.cache_seqlens = g_seqlens;
  a.sched_meta = g_meta;
  a.num_sm_parts = kParts;
  a.num_splits = g_num_splits;
  a.out = g_out;
  a.out_head_stride = kDv;
  a.out_seq_stride = kDv * kHq;
  a.out_batch_stride = kDv * kHq * kSq;
  a.lse = g_lse;
  a.lse_batch_stride = kHq * kSq;
  a.lse_head_stride = kSq;
  a.lse_seq_stride = 1;
  return a;
}

struct ArgMutation {
  const char* what;
  std::function<void(DecodeArguments&)> mutate;
  Status want;
  const char* prefix;
};

void test_decode_arguments() {
  const DecodeArguments base = valid_arguments();
  EXPECT_RESULT("valid bf16", cute_mla::check_decode_arguments(base), Status::kSuccess, "");
  {
    DecodeArguments a = base;
    a.element = DataType::kFloat16;
    a.mask = cute_mla::MaskMode::kCausal;
    a.lse = nullptr;  // lse is optional
    EXPECT_RESULT("valid fp16, causal, no lse", cute_mla::check_decode_arguments(a),
                  Status::kSuccess, "");
  }
  {
    DecodeArguments a = base;
    a.batch = 1;
    a.block_table_stride = 0;  // a single row may have any stride
    a.num_heads_q = 128;
    a.num_heads_kv = 128;
    a.seqlen_q = 64;
    EXPECT_RESULT("valid limits", cute_mla::check_decode_arguments(a), Status::kSuccess, "");
  }

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const ArgMutation mutations[] = {
      {"float32 element", [](DecodeArguments& a) { a.element = DataType::kFloat32; },
       Status::kErrorInvalidType, "q"},
      {"int32 element", [](DecodeArguments& a) { a.element = DataType::kInt32; },
       Status::kErrorInvalidType, "q"},
      {"batch 0", [](DecodeArguments& a) { a.batch = 0; }, Status::kErrorInvalidValue, "q"},
      {"batch above the limit",
       [](DecodeArguments& a) { a.batch = cute_mla::Limits::kMaxBatch + 1; },
       Status::kErrorInvalidValue, "q"},
      {"seqlen_q 0", [](DecodeArguments& a) { a.seqlen_q = 0; }, Status::kErrorInvalidValue,
       "q"},
      {"seqlen_q above the limit",
       [](DecodeArguments& a) { a.seqlen_q = cute_mla::Limits::kMaxSeqlenQ + 1; },
       Status::kErrorInvalidValue, "q"},
      {"num_heads_q above the limit",
       [](DecodeArguments& a) {
         a.num_heads_q = cute_mla::Limits::kMaxHeadsQ + 1;
       },
       Status::kErrorInvalidValue, "q"},
      {"num_heads_kv 0", [](DecodeArguments& a) { a.num_heads_kv = 0; },
       Status::kErrorInvalidValue, "k_cache"},
      {"num_heads_kv not dividing h_q", [](DecodeArguments& a) { a.num_heads_kv = 3; },
       Status::kErrorInvalidValue, "k_cache"},
      {"head_dim_qk 512", [](DecodeArguments& a) { a.head_dim_qk = 512; },
       Status::kErrorInvalidValue, "q"},
      {"head_dim_v 576", [](DecodeArguments& a) { a.head_dim_v = 576; },
       Status::kErrorInvalidValue, "head_dim_v"},
      {"page size 32", [](DecodeArguments& a) { a.page_size = 32; },
       Status::kErrorInvalidValue, "k_cache"},
      {"no pages", [](DecodeArguments& a) { a.num_pages = 0; }, Status::kErrorInvalidValue,
       "k_cache"},
      {"no block table columns", [](DecodeArguments& a) { a.max_pages_per_seq = 0; },
       Status::kErrorInvalidValue, "block_table"},
      {"softmax_scale 0", [](DecodeArguments& a) { a.softmax_scale = 0.f; },
       Status::kErrorInvalidValue, "softmax_scale"},
      {"softmax_scale < 0", [](DecodeArguments& a) { a.softmax_scale = -0.5f; },
       Status::kErrorInvalidValue, "softmax_scale"},
      {"softmax_scale NaN", [nan](DecodeArguments& a) { a.softmax_scale = nan; },
       Status::kErrorInvalidValue, "softmax_scale"},
      {"softmax_scale inf", [inf](DecodeArguments& a) { a.softmax_scale = inf; },
       Status::kErrorInvalidValue, "softmax_scale"},
      {"no parts", [](DecodeArguments& a) { a.num_sm_parts = 0; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"too many parts",
       [](DecodeArguments& a) { a.num_sm_parts = cute_mla::Limits::kMaxParts + 1; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"q null", [](DecodeArguments& a) { a.q = nullptr; }, Status::kErrorInvalidValue, "q"},
      {"q misaligned", [](DecodeArguments& a) { a.q = offset_bytes(g_q, 8); },
       Status::kErrorInvalidValue, "q"},
      {"k_cache null", [](DecodeArguments& a) { a.k_cache = nullptr; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache misaligned", [](DecodeArguments& a) { a.k_cache = offset_bytes(g_k, 2); },
       Status::kErrorInvalidValue, "k_cache"},
      {"block_table null", [](DecodeArguments& a) { a.block_table = nullptr; },
       Status::kErrorInvalidValue, "block_table"},
      {"block_table misaligned",
       [](DecodeArguments& a) { a.block_table = offset_bytes(g_block_table, 2); },
       Status::kErrorInvalidValue, "block_table"},
      {"cache_seqlens null", [](DecodeArguments& a) { a.cache_seqlens = nullptr; },
       Status::kErrorInvalidValue, "cache_seqlens"},
      {"sched_meta null", [](DecodeArguments& a) { a.sched_meta = nullptr; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"sched_meta misaligned",
       [](DecodeArguments& a) { a.sched_meta = offset_bytes(g_meta, 16); },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"num_splits null", [](DecodeArguments& a) { a.num_splits = nullptr; },
       Status::kErrorInvalidValue, "num_splits"},
      {"out null", [](DecodeArguments& a) { a.out = nullptr; }, Status::kErrorInvalidValue,
       "out"},
      {"out misaligned",
       [](DecodeArguments& a) { a.out = const_cast<unsigned char*>(offset_bytes(g_out, 4)); },
       Status::kErrorInvalidValue, "out"},
      {"lse misaligned",
       [](DecodeArguments& a) { a.lse = const_cast<float*>(offset_bytes(g_lse, 2)); },
       Status::kErrorInvalidValue, "lse"},
      {"q batch stride not 16-byte", [](DecodeArguments& a) { a.q_batch_stride += 1; },
       Status::kErrorInvalidValue, "q"},
      {"q seq stride not 16-byte", [](DecodeArguments& a) { a.q_seq_stride = kD + 4; },
       Status::kErrorInvalidValue, "q"},
      {"q head stride negative", [](DecodeArguments& a) { a.q_head_stride = -kD; },
       Status::kErrorInvalidValue, "q"},
      {"k_cache page stride not 16-byte", [](DecodeArguments& a) { a.k_page_stride = 12; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache row stride not 16-byte", [](DecodeArguments& a) { a.k_row_stride = 4; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache head stride not 16-byte", [](DecodeArguments& a) { a.k_head_stride = 577; },
       Status::kErrorInvalidValue, "k_cache"},
      {"out batch stride not 16-byte", [](DecodeArguments& a) { a.out_batch_stride = 3; },
       Status::kErrorInvalidValue, "out"},
      {"out seq stride not 16-byte", [](DecodeArguments& a) { a.out_seq_stride = 514; },
       Status::kErrorInvalidValue, "out"},
      {"out head stride negative", [](DecodeArguments& a) { a.out_head_stride = -kDv; },
       Status::kErrorInvalidValue, "out"},
      {"block_table rows overlap", [](DecodeArguments& a) { a.block_table_stride = 3; },
       Status::kErrorInvalidValue, "block_table"},
      {"block_table beyond int32 tokens",
       [](DecodeArguments& a) { a.max_pages_per_seq = INT32_MAX / int32_t(kPage) + 1;
                                a.block_table_stride = a.max_pages_per_seq; },
       Status::kErrorInvalidValue, "block_table"},
  };
  for (ArgMutation const& m : mutations) {
    DecodeArguments a = base;
    m.mutate(a);
    EXPECT_RESULT(m.what, cute_mla::check_decode_arguments(a), m.want, m.prefix);
  }
  // The base stays valid after all that copying.
  EXPECT_RESULT("valid again", cute_mla::check_decode_arguments(base), Status::kSuccess, "");
}

// --- tensor descriptions --------------------------------------------------------

TensorDesc tensor(void* data, DataType dtype, std::initializer_list<int64_t> shape) {
  TensorDesc t;
  t.defined = true;
  t.data = data;
  t.ndim = int32_t(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  int64_t stride = 1;  // row-major contiguous
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.shape[d];
  }
  t.dtype = dtype;
  t.device = DeviceKind::kCUDA;
  t.device_id = 0;
  return t;
}

DecodeTensors valid_tensors() {
  DecodeTensors t;
  t.q = tensor(g_q, DataType::kBFloat16, {kB, kSq, kHq, kD});
  t.k_cache = tensor(g_k, DataType::kBFloat16, {kPages, kPage, kHkv, kD});
  t.block_table = tensor(g_block_table, DataType::kInt32, {kB, kMaxPages});
  t.cache_seqlens = tensor(g_seqlens, DataType::kInt32, {kB});
  t.sched_meta = tensor(g_meta, DataType::kInt32, {kParts, cute_mla::kSchedMetaInts});
  t.num_splits = tensor(g_num_splits, DataType::kInt32, {kB + 1});
  t.out = tensor(g_out, DataType::kBFloat16, {kB, kSq, kHq, kDv});
  t.lse = tensor(g_lse, DataType::kFloat32, {kB, kHq, kSq});
  t.head_dim_v = kDv;
  t.softmax_scale = 1.0 / std::sqrt(double(kD));
  t.causal = true;
  return t;
}

struct TensorMutation {
  const char* what;
  std::function<void(DecodeTensors&)> mutate;
  Status want;
  const char* prefix;
};

void test_decode_tensors() {
  const DecodeTensors base = valid_tensors();
  {
    DecodeArguments a;
    EXPECT_RESULT("valid tensors", cute_mla::check_decode_tensors(base, &a),
                  Status::kSuccess, "");
    // The flat struct is filled from the descriptions.
    CHECK(a.batch == kB && a.seqlen_q == kSq && a.num_heads_q == kHq &&
          a.num_heads_kv == kHkv);
    CHECK(a.head_dim_qk == kD && a.head_dim_v == kDv && a.page_size == kPage);
    CHECK(a.num_pages == kPages && a.max_pages_per_seq == kMaxPages);
    CHECK(a.element == DataType::kBFloat16 && a.mask == cute_mla::MaskMode::kCausal);
    CHECK(std::fabs(a.softmax_scale - 1.0f / std::sqrt(float(kD))) < 1e-7f);
    CHECK(a.q == g_q && a.k_cache == g_k && a.out == g_out && a.lse == g_lse);
    CHECK(a.block_table == g_block_table && a.cache_seqlens == g_seqlens);
    CHECK(a.sched_meta == g_meta && a.num_sm_parts == kParts && a.num_splits == g_num_splits);
    CHECK(a.q_head_stride == kD && a.q_seq_stride == kD * kHq &&
          a.q_batch_stride == kD * kHq * kSq);
    CHECK(a.k_head_stride == kD && a.k_row_stride == kD * kHkv &&
          a.k_page_stride == kD * kHkv * kPage);
    CHECK(a.block_table_stride == kMaxPages);
    CHECK(a.out_head_stride == kDv && a.out_seq_stride == kDv * kHq);
    CHECK(a.lse_batch_stride == kHq * kSq && a.lse_head_stride == kSq &&
          a.lse_seq_stride == 1);
    EXPECT_RESULT("filled arguments", cute_mla::check_decode_arguments(a), Status::kSuccess,
                  "");
  }
  {
    DecodeTensors t = base;
    t.out.defined = false;  // out and lse still to be allocated
    t.lse.defined = false;
    DecodeArguments a;
    EXPECT_RESULT("valid without out/lse", cute_mla::check_decode_tensors(t, &a),
                  Status::kSuccess, "");
    CHECK(a.out == nullptr && a.lse == nullptr);
  }
  {
    DecodeTensors t = base;
    t.q.dtype = t.k_cache.dtype = t.out.dtype = DataType::kFloat16;
    EXPECT_RESULT("valid fp16", cute_mla::check_decode_tensors(t, nullptr), Status::kSuccess,
                  "");
  }

  const TensorMutation mutations[] = {
      {"q missing", [](DecodeTensors& t) { t.q.defined = false; }, Status::kErrorInvalidValue,
       "q"},
      {"q on cpu", [](DecodeTensors& t) { t.q.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "q"},
      {"q float32", [](DecodeTensors& t) { t.q.dtype = DataType::kFloat32; },
       Status::kErrorInvalidType, "q"},
      {"q rank 3", [](DecodeTensors& t) { t.q.ndim = 3; }, Status::kErrorInvalidValue, "q"},
      {"q head dim 512", [](DecodeTensors& t) { t.q.shape[3] = 512; },
       Status::kErrorInvalidValue, "q"},
      {"q last dim strided", [](DecodeTensors& t) { t.q.strides[3] = 2; },
       Status::kErrorInvalidValue, "q"},
      {"q head stride not 16-byte", [](DecodeTensors& t) { t.q.strides[2] = kD + 4; },
       Status::kErrorInvalidValue, "q"},
      {"q batch too large",
       [](DecodeTensors& t) {
         const int64_t b = cute_mla::Limits::kMaxBatch + 1;
         t.q.shape[0] = t.block_table.shape[0] = t.cache_seqlens.shape[0] = b;
         t.num_splits.shape[0] = b + 1;
         t.out.shape[0] = t.lse.shape[0] = b;
       },
       Status::kErrorInvalidValue, "q"},
      {"k_cache missing", [](DecodeTensors& t) { t.k_cache.defined = false; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache on cpu", [](DecodeTensors& t) { t.k_cache.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "k_cache"},
      {"k_cache on another gpu", [](DecodeTensors& t) { t.k_cache.device_id = 1; },
       Status::kErrorInvalidDevice, "k_cache"},
      {"k_cache fp16 with bf16 q", [](DecodeTensors& t) { t.k_cache.dtype = DataType::kFloat16; },
       Status::kErrorInvalidType, "k_cache"},
      {"k_cache rank 3", [](DecodeTensors& t) { t.k_cache.ndim = 3; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache head dim 512", [](DecodeTensors& t) { t.k_cache.shape[3] = 512; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache page size 32", [](DecodeTensors& t) { t.k_cache.shape[1] = 32; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache 3 heads for 16", [](DecodeTensors& t) { t.k_cache.shape[2] = 3; },
       Status::kErrorInvalidValue, "k_cache"},
      {"k_cache row stride not 16-byte", [](DecodeTensors& t) { t.k_cache.strides[1] = 580; },
       Status::kErrorInvalidValue, "k_cache"},
      {"block_table int64-like", [](DecodeTensors& t) { t.block_table.dtype = DataType::kOther; },
       Status::kErrorInvalidType, "block_table"},
      {"block_table on cpu", [](DecodeTensors& t) { t.block_table.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "block_table"},
      {"block_table rows != batch", [](DecodeTensors& t) { t.block_table.shape[0] = 3; },
       Status::kErrorInvalidValue, "block_table"},
      {"block_table rank 1", [](DecodeTensors& t) { t.block_table.ndim = 1; },
       Status::kErrorInvalidValue, "block_table"},
      {"block_table column stride 2", [](DecodeTensors& t) { t.block_table.strides[1] = 2; },
       Status::kErrorInvalidValue, "block_table"},
      {"cache_seqlens float32",
       [](DecodeTensors& t) { t.cache_seqlens.dtype = DataType::kFloat32; },
       Status::kErrorInvalidType, "cache_seqlens"},
      {"cache_seqlens on cpu",
       [](DecodeTensors& t) { t.cache_seqlens.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "cache_seqlens"},
      {"cache_seqlens length != batch", [](DecodeTensors& t) { t.cache_seqlens.shape[0] = 1; },
       Status::kErrorInvalidValue, "cache_seqlens"},
      {"cache_seqlens strided", [](DecodeTensors& t) { t.cache_seqlens.strides[0] = 2; },
       Status::kErrorInvalidValue, "cache_seqlens"},
      {"sched_meta missing", [](DecodeTensors& t) { t.sched_meta.defined = false; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"sched_meta float32", [](DecodeTensors& t) { t.sched_meta.dtype = DataType::kFloat32; },
       Status::kErrorInvalidType, "tile_scheduler_metadata"},
      {"sched_meta 4 ints per record", [](DecodeTensors& t) { t.sched_meta.shape[1] = 4; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"sched_meta no parts", [](DecodeTensors& t) { t.sched_meta.shape[0] = 0; },
       Status::kErrorInvalidValue, "tile_scheduler_metadata"},
      {"sched_meta on cpu", [](DecodeTensors& t) { t.sched_meta.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "tile_scheduler_metadata"},
      {"num_splits missing", [](DecodeTensors& t) { t.num_splits.defined = false; },
       Status::kErrorInvalidValue, "num_splits"},
      {"num_splits for another batch", [](DecodeTensors& t) { t.num_splits.shape[0] = kB; },
       Status::kErrorInvalidValue, "num_splits"},
      {"num_splits float32", [](DecodeTensors& t) { t.num_splits.dtype = DataType::kFloat32; },
       Status::kErrorInvalidType, "num_splits"},
      {"head_dim_v 576", [](DecodeTensors& t) { t.head_dim_v = 576; },
       Status::kErrorInvalidValue, "head_dim_v"},
      {"out fp16 with bf16 q", [](DecodeTensors& t) { t.out.dtype = DataType::kFloat16; },
       Status::kErrorInvalidType, "out"},
      {"out on cpu", [](DecodeTensors& t) { t.out.device = DeviceKind::kCPU; },
       Status::kErrorInvalidDevice, "out"},
      {"out heads 8", [](DecodeTensors& t) { t.out.shape[2] = 8; }, Status::kErrorInvalidValue,
       "out"},
      {"out head dim 576", [](DecodeTensors& t) { t.out.shape[3] = 576; },
       Status::kErrorInvalidValue, "out"},
      {"out misaligned",
       [](DecodeTensors& t) { t.out.data = const_cast<unsigned char*>(offset_bytes(g_out, 2)); },
       Status::kErrorInvalidValue, "out"},
      {"lse bf16", [](DecodeTensors& t) { t.lse.dtype = DataType::kBFloat16; },
       Status::kErrorInvalidType, "lse"},
      {"lse (b, s_q, h_q)",
       [](DecodeTensors& t) { t.lse = tensor(g_lse, DataType::kFloat32, {kB, kSq, kHq}); },
       Status::kErrorInvalidValue, "lse"},
      {"lse on another gpu", [](DecodeTensors& t) { t.lse.device_id = 3; },
       Status::kErrorInvalidDevice, "lse"},
      {"softmax_scale 0", [](DecodeTensors& t) { t.softmax_scale = 0.0; },
       Status::kErrorInvalidValue, "softmax_scale"},
      {"softmax_scale beyond float", [](DecodeTensors& t) { t.softmax_scale = 1e300; },
       Status::kErrorInvalidValue, "softmax_scale"},
  };
  for (TensorMutation const& m : mutations) {
    DecodeTensors t = base;
    m.mutate(t);
    EXPECT_RESULT(m.what, cute_mla::check_decode_tensors(t, nullptr), m.want, m.prefix);
  }
}

// --- metadata tensors and host-readable lengths ----------------------------------

void test_metadata_and_seqlens() {
  cute_mla::MetadataTensors base;
  base.cache_seqlens = tensor(g_seqlens, DataType::kInt32, {kB});
  base.cache_seqlens.device = DeviceKind::kCPU;
  base.num_q_tokens_per_head_k = kSq * kHq / kHkv;
  base.num_heads_k = kHkv;
  EXPECT_RESULT("metadata on cpu", cute_mla::check_metadata_tensors(base), Status::kSuccess, "");
  {
    cute_mla::MetadataTensors t = base;
    t.cache_seqlens.device = DeviceKind::kCUDA;
    t.sched_meta = tensor(g_meta, DataType::kInt32, {kParts, cute_mla::kSchedMetaInts});
    t.num_splits = tensor(g_num_splits, DataType::kInt32, {kB + 1});
    EXPECT_RESULT("metadata on cuda with outputs", cute_mla::check_metadata_tensors(t),
                  Status::kSuccess, "");
    t.num_splits.device = DeviceKind::kCPU;
    EXPECT_RESULT("metadata num_splits on cpu", cute_mla::check_metadata_tensors(t),
                  Status::kErrorInvalidDevice, "num_splits");
  }
  {
    cute_mla::MetadataTensors t = base;
    t.cache_seqlens.dtype = DataType::kOther;
    EXPECT_RESULT("metadata int64 lengths", cute_mla::check_metadata_tensors(t),
                  Status::kErrorInvalidType, "cache_seqlens");
  }
  {
    cute_mla::MetadataTensors t = base;
    t.num_heads_k = 0;
    EXPECT_RESULT("metadata no kv heads", cute_mla::check_metadata_tensors(t),
                  Status::kErrorInvalidValue, "num_heads_k");
  }
  {
    cute_mla::MetadataTensors t = base;
    t.num_q_tokens_per_head_k = 0;
    EXPECT_RESULT("metadata no q rows", cute_mla::check_metadata_tensors(t),
                  Status::kErrorInvalidValue, "num_q_tokens_per_head_k");
  }

  const int32_t good[] = {0, 1, 256};
  EXPECT_RESULT("lengths ok", cute_mla::check_seqlen_values(good, 3, kMaxPages, kPage),
                Status::kSuccess, "");
  const int32_t negative[] = {0, -1};
  EXPECT_RESULT("negative length", cute_mla::check_seqlen_values(negative, 2, kMaxPages, kPage),
                Status::kErrorInvalidValue, "cache_seqlens");
  const int32_t too_long[] = {int32_t(kMaxPages * kPage) + 1};
  EXPECT_RESULT("length beyond the block table",
                cute_mla::check_seqlen_values(too_long, 1, kMaxPages, kPage),
                Status::kErrorInvalidValue, "cache_seqlens");
}

// --- a caller's decode workspace -------------------------------------------------

void test_workspace() {
  using cute_mla::check_workspace_tensor;
  alignas(256) static unsigned char buffer[1024];
  auto uint8 = [](void* p, int64_t n) {
    TensorDesc t = tensor(p, DataType::kOther, {n});
    std::snprintf(t.dtype_text, sizeof(t.dtype_text), "uint8");
    return t;
  };
  EXPECT_RESULT("workspace ok", check_workspace_tensor(uint8(buffer, 1024), 0, 1024),
                Status::kSuccess, "");
  EXPECT_RESULT("workspace missing", check_workspace_tensor(TensorDesc{}, 0, 1),
                Status::kErrorInvalidValue, "workspace");
  EXPECT_RESULT("workspace too small", check_workspace_tensor(uint8(buffer, 1023), 0, 1024),
                Status::kErrorInvalidValue, "workspace");
  EXPECT_RESULT("workspace misaligned", check_workspace_tensor(uint8(buffer + 16, 512), 0, 512),
                Status::kErrorInvalidValue, "workspace");
  EXPECT_RESULT("workspace float32",
                check_workspace_tensor(tensor(buffer, DataType::kFloat32, {256}), 0, 1024),
                Status::kErrorInvalidType, "workspace");
  TensorDesc other_gpu = uint8(buffer, 1024);
  other_gpu.device_id = 1;
  EXPECT_RESULT("workspace on another gpu", check_workspace_tensor(other_gpu, 0, 1024),
                Status::kErrorInvalidDevice, "workspace");
  TensorDesc strided = uint8(buffer, 512);
  strided.strides[0] = 2;
  EXPECT_RESULT("workspace strided", check_workspace_tensor(strided, 0, 512),
                Status::kErrorInvalidValue, "workspace");
}

}  // namespace

int main() {
  test_decode_arguments();
  test_decode_tensors();
  test_metadata_and_seqlens();
  test_workspace();
  std::printf("test_check: %d checks, %d failure(s)\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
