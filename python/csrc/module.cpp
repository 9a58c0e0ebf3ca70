// cute_mla._C: tensors in, the flat arguments struct and the host API of
// cute_mla::kernels underneath. No logic of its own: check.hpp validates,
// the library runs, and a failed status becomes the matching Python
// exception with check.hpp's message (which names the argument).
//
// Tensors arrive two ways: as DLPack arrays (any framework), or as torch.Tensor
// objects read attribute by attribute (torch_desc.hpp) by the *_torch entry
// points, which validate and launch in one call: the eager path of the torch
// wrapper, where a DLPack export per tensor was most of the host time.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "cute_mla/api.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/scheduler.hpp"
#include "tensor_desc.hpp"
#include "torch_desc.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace cute_mla::python {
namespace {

using Array = nb::ndarray<>;  // written
using OptArray = std::optional<nb::ndarray<>>;
// Read only: DLPack producers may flag arrays read-only (DLPack 1.x); inputs
// must not be refused for it.
using InArray = nb::ndarray<nb::ro>;
using OptInArray = std::optional<nb::ndarray<nb::ro>>;

void raise_if_failed(CheckResult const& r) {
  if (r.ok()) return;
  PyObject* type = PyExc_RuntimeError;
  switch (r.status) {
    case Status::kErrorInvalidType: type = PyExc_TypeError; break;
    case Status::kErrorInvalidValue: type = PyExc_ValueError; break;
    case Status::kErrorNotImplemented: type = PyExc_NotImplementedError; break;
    default: break;
  }
  PyErr_SetString(type, r.message);
  throw nb::python_error();
}

cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

SchedulerConfig metadata_config(int64_t rows, int64_t num_heads_k, int64_t num_parts) {
  SchedulerConfig c = default_scheduler_config(int(num_parts) * int(num_heads_k),
                                               int(num_heads_k), int(rows));
  c.num_parts = int32_t(num_parts);
  return c;
}

nb::dict build_info() {
  BuildInfo b = cute_mla::build_info();
  nb::dict d;
  d["version"] = b.version;
  d["cuda"] = std::to_string(b.cuda_version / 1000) + "." + std::to_string(b.cuda_version % 1000 / 10);
  d["archs"] = std::vector<std::string>{b.archs};
  std::vector<std::string> dtypes;
  std::string all = b.dtypes;
  for (size_t start = 0; start <= all.size();) {
    size_t comma = all.find(',', start);
    if (comma == std::string::npos) comma = all.size();
    dtypes.push_back(all.substr(start, comma - start));
    start = comma + 1;
  }
  d["dtypes"] = dtypes;
  d["cutlass"] = b.cutlass_version;
  d["decode_kernel"] = b.has_decode_kernel;
  return d;
}

nb::dict scheduler_config(int num_sms, int num_heads_k, int num_q_tokens_per_head_k) {
  SchedulerConfig c = default_scheduler_config(num_sms, num_heads_k, num_q_tokens_per_head_k);
  nb::dict d;
  d["num_parts"] = c.num_parts;
  d["fixed_overhead_blocks"] = c.fixed_overhead_blocks;
  d["min_blocks_per_part"] = c.min_blocks_per_part;
  d["fill_blocks_per_part"] = c.fill_blocks_per_part;
  d["fill_pieces_per_request"] = c.fill_pieces_per_request;
  d["page_size"] = c.page_size;
  return d;
}

int64_t workspace_bytes(int64_t batch, int64_t num_sm_parts, int64_t num_heads_kv,
                        int64_t rows) {
  return WorkspaceLayout::make(batch, num_sm_parts, num_heads_kv, rows, MlaShape::kHeadDimV)
      .bytes;
}

int num_sm_parts(int num_sms, int num_heads_k, int num_q_tokens_per_head_k) {
  return default_scheduler_config(num_sms, num_heads_k, num_q_tokens_per_head_k).num_parts;
}

void check_metadata(InArray cache_seqlens, int64_t num_q_tokens_per_head_k, int64_t num_heads_k) {
  MetadataTensors t;
  t.cache_seqlens = describe(cache_seqlens);
  t.num_q_tokens_per_head_k = num_q_tokens_per_head_k;
  t.num_heads_k = num_heads_k;
  raise_if_failed(check_metadata_tensors(t));
}

void plan_metadata_tensors(TensorDesc const& cache_seqlens, int64_t num_q_tokens_per_head_k,
                           int64_t num_heads_k, TensorDesc const& sched_meta,
                           TensorDesc const& num_splits, uintptr_t stream) {
  MetadataTensors t;
  t.cache_seqlens = cache_seqlens;
  t.sched_meta = sched_meta;
  t.num_splits = num_splits;
  t.num_q_tokens_per_head_k = num_q_tokens_per_head_k;
  t.num_heads_k = num_heads_k;
  if (!t.sched_meta.defined || !t.num_splits.defined)
    raise_if_failed(CheckResult::error(Status::kErrorInvalidValue,
                                       "tile_scheduler_metadata/num_splits: outputs required"));
  raise_if_failed(check_metadata_tensors(t));

  MetadataArguments a;
  a.batch = int32_t(t.cache_seqlens.shape[0]);
  a.cache_seqlens = static_cast<const int32_t*>(t.cache_seqlens.data);
  a.config = metadata_config(t.num_q_tokens_per_head_k, t.num_heads_k, t.sched_meta.shape[0]);
  a.sched_meta = static_cast<SchedMeta*>(t.sched_meta.data);
  a.num_splits = static_cast<int32_t*>(t.num_splits.data);

  if (t.cache_seqlens.device == DeviceKind::kCPU) {
    raise_if_failed(check_seqlen_values(a.cache_seqlens, a.batch, 0, a.config.page_size));
    std::vector<int64_t> prefix(size_t(a.batch) + 1);
    plan_on_host(a.cache_seqlens, a.batch, a.config, prefix.data(), a.sched_meta, a.num_splits);
    return;
  }
  CheckResult r;
  {
    nb::gil_scoped_release release;
    r = cute_mla::plan_metadata(a, as_stream(stream));
  }
  raise_if_failed(r);
}

void plan_metadata(InArray cache_seqlens, int64_t num_q_tokens_per_head_k, int64_t num_heads_k,
                   Array sched_meta, Array num_splits, uintptr_t stream) {
  plan_metadata_tensors(describe(cache_seqlens), num_q_tokens_per_head_k, num_heads_k,
                        describe(sched_meta), describe(num_splits), stream);
}

void check_seqlens(InArray cache_seqlens, int64_t max_pages_per_seq) {
  TensorDesc t = describe(cache_seqlens);
  raise_if_failed(detail::expect_dtype("cache_seqlens", t, DataType::kInt32));
  if (t.device != DeviceKind::kCPU || t.ndim != 1 || !detail::contiguous(t))
    raise_if_failed(CheckResult::error(Status::kErrorInvalidValue,
                                       "cache_seqlens: value check needs a contiguous 1-D "
                                       "int32 host copy"));
  raise_if_failed(check_seqlen_values(static_cast<const int32_t*>(t.data), t.shape[0],
                                      max_pages_per_seq, MlaShape::kPageSize));
}

// The decode inputs, in the order of the Python signature: q, k_cache,
// block_table, cache_seqlens, tile_scheduler_metadata, num_splits, out, lse,
// then the optional RoPE parts q_pe and kpe_cache of the second convention;
// each entry point reads them its own way (DLPack, description, torch).
using DecodeDescs = TensorDesc[10];

DecodeTensors decode_tensors(DecodeDescs const& d, int64_t head_dim_v, double softmax_scale,
                             bool causal) {
  DecodeTensors t;
  t.q = d[0];
  t.k_cache = d[1];
  t.block_table = d[2];
  t.cache_seqlens = d[3];
  t.sched_meta = d[4];
  t.num_splits = d[5];
  t.out = d[6];
  t.lse = d[7];
  t.q_rope = d[8];
  t.k_rope = d[9];
  t.head_dim_v = head_dim_v;
  t.softmax_scale = softmax_scale;
  t.causal = causal;
  return t;
}

int64_t checked_workspace_size(DecodeTensors const& t, DecodeArguments* a) {
  raise_if_failed(check_decode_tensors(t, a));
  return decode_workspace_size(*a);
}

int64_t check_decode(InArray q, InArray k_cache, InArray block_table, InArray cache_seqlens,
                     int64_t head_dim_v, OptInArray sched_meta, OptInArray num_splits,
                     double softmax_scale, bool causal, OptArray out, OptArray lse,
                     OptInArray q_pe, OptInArray kpe_cache) {
  DecodeArguments a;
  DecodeDescs d = {describe(q),          describe(k_cache),    describe(block_table),
                   describe(cache_seqlens), describe(sched_meta), describe(num_splits),
                   describe(out),        describe(lse),        describe(q_pe),
                   describe(kpe_cache)};
  return checked_workspace_size(decode_tensors(d, head_dim_v, softmax_scale, causal), &a);
}

// Validates `t` and launches into the workspace `ws`. With `may_grow`, an
// absent or too small workspace is not an error: nothing is launched and the
// bytes needed are returned, for the caller to allocate and call again.
// Returns 0 once launched.
int64_t launch_decode(DecodeTensors const& t, TensorDesc const& ws, bool may_grow,
                      uintptr_t stream) {
  DecodeArguments a;
  const int64_t need = checked_workspace_size(t, &a);
  if (!t.out.defined || !t.lse.defined)
    raise_if_failed(CheckResult::error(Status::kErrorInvalidValue,
                                       "%s: required by the launch", t.out.defined ? "lse" : "out"));
  if (may_grow) {
    int64_t bytes = ws.defined ? 1 : 0;
    for (int i = 0; i < ws.ndim; ++i) bytes *= ws.shape[i];
    if (bytes < need) return need;
  }
  raise_if_failed(check_workspace_tensor(ws, t.q.device_id, need));
  CheckResult r;
  {
    nb::gil_scoped_release release;
    r = cute_mla::decode(a, ws.data, need, as_stream(stream));
  }
  raise_if_failed(r);
  return 0;
}

void decode(InArray q, InArray k_cache, InArray block_table, InArray cache_seqlens,
            int64_t head_dim_v, OptInArray sched_meta, OptInArray num_splits,
            double softmax_scale, bool causal, Array out, Array lse, OptArray workspace,
            uintptr_t stream, OptInArray q_pe, OptInArray kpe_cache) {
  DecodeDescs d = {describe(q),          describe(k_cache),    describe(block_table),
                   describe(cache_seqlens), describe(sched_meta), describe(num_splits),
                   describe(out),        describe(lse),        describe(q_pe),
                   describe(kpe_cache)};
  launch_decode(decode_tensors(d, head_dim_v, softmax_scale, causal), describe(workspace),
                false, stream);
}

void combine(InArray o_accum, InArray lse_accum, InArray num_splits, Array out, Array lse,
             int64_t max_splits, uintptr_t stream) {
  CombineTensors t;
  t.o_accum = describe(o_accum);
  t.lse_accum = describe(lse_accum);
  t.num_splits = describe(num_splits);
  t.out = describe(out);
  t.lse = describe(lse);
  t.max_splits = max_splits;
  CombineArguments a;
  raise_if_failed(check_combine_tensors(t, &a));
  CheckResult r;
  {
    nb::gil_scoped_release release;
    r = cute_mla::combine(a, as_stream(stream));
  }
  raise_if_failed(r);
}

// Validation on described (not real) tensors, so the checks can be tested
// without a GPU: each description is (data_ptr, shape, strides, dtype,
// device, device_id) with dtype in {"bfloat16", "float16", "float32",
// "int32", other} and device in {"cuda", "cpu", other}.
using Description =
    std::tuple<uintptr_t, std::vector<int64_t>, std::vector<int64_t>, std::string, std::string, int>;

TensorDesc from_description(std::optional<Description> const& d) {
  TensorDesc t;
  if (!d) return t;
  t.defined = true;
  t.data = reinterpret_cast<void*>(std::get<0>(*d));
  auto const& shape = std::get<1>(*d);
  auto const& strides = std::get<2>(*d);
  t.ndim = int32_t(shape.size());
  for (int i = 0; i < t.ndim && i < TensorDesc::kMaxDims; ++i) {
    t.shape[i] = shape[i];
    t.strides[i] = i < int(strides.size()) ? strides[i] : 0;
  }
  std::string const& dt = std::get<3>(*d);
  t.dtype = dt == "bfloat16" ? DataType::kBFloat16
            : dt == "float16" ? DataType::kFloat16
            : dt == "float32" ? DataType::kFloat32
            : dt == "int32"   ? DataType::kInt32
                              : DataType::kOther;
  if (t.dtype == DataType::kOther)
    std::snprintf(t.dtype_text, sizeof(t.dtype_text), "%s", dt.c_str());
  std::string const& dev = std::get<4>(*d);
  t.device = dev == "cuda" ? DeviceKind::kCUDA : dev == "cpu" ? DeviceKind::kCPU : DeviceKind::kOther;
  t.device_id = std::get<5>(*d);
  return t;
}

using OptDescription = std::optional<Description>;

int64_t check_decode_described(OptDescription q, OptDescription k_cache,
                               OptDescription block_table, OptDescription cache_seqlens,
                               int64_t head_dim_v, OptDescription sched_meta,
                               OptDescription num_splits, double softmax_scale, bool causal,
                               OptDescription out, OptDescription lse, OptDescription q_pe,
                               OptDescription kpe_cache) {
  DecodeDescs d = {from_description(q),          from_description(k_cache),
                   from_description(block_table),   from_description(cache_seqlens),
                   from_description(sched_meta),    from_description(num_splits),
                   from_description(out),           from_description(lse),
                   from_description(q_pe),          from_description(kpe_cache)};
  DecodeArguments a;
  return checked_workspace_size(decode_tensors(d, head_dim_v, softmax_scale, causal), &a);
}

void check_metadata_described(OptDescription cache_seqlens, int64_t num_q_tokens_per_head_k,
                              int64_t num_heads_k) {
  MetadataTensors t;
  t.cache_seqlens = from_description(cache_seqlens);
  t.num_q_tokens_per_head_k = num_q_tokens_per_head_k;
  t.num_heads_k = num_heads_k;
  raise_if_failed(check_metadata_tensors(t));
}

int64_t decode_torch(nb::handle q, nb::handle k_cache, nb::handle block_table,
                     nb::handle cache_seqlens, int64_t head_dim_v, nb::handle sched_meta,
                     nb::handle num_splits, double softmax_scale, bool causal, nb::handle out,
                     nb::handle lse, nb::handle q_pe, nb::handle kpe_cache,
                     nb::handle workspace, bool workspace_may_grow, uintptr_t stream) {
  DecodeDescs d = {describe_torch(q),          describe_torch(k_cache),
                   describe_torch(block_table),   describe_torch(cache_seqlens),
                   describe_torch(sched_meta),    describe_torch(num_splits),
                   describe_torch(out),           describe_torch(lse),
                   describe_torch(q_pe),          describe_torch(kpe_cache)};
  return launch_decode(decode_tensors(d, head_dim_v, softmax_scale, causal),
                       describe_torch(workspace), workspace_may_grow, stream);
}

void plan_metadata_torch(nb::handle cache_seqlens, int64_t num_q_tokens_per_head_k,
                         int64_t num_heads_k, nb::handle sched_meta, nb::handle num_splits,
                         uintptr_t stream) {
  plan_metadata_tensors(describe_torch(cache_seqlens), num_q_tokens_per_head_k, num_heads_k,
                        describe_torch(sched_meta), describe_torch(num_splits), stream);
}

}  // namespace
}  // namespace cute_mla::python

NB_MODULE(_C, m) {
  namespace py = cute_mla::python;
  m.doc() = "cute-mla low-level API: DLPack arrays (torch, CuPy, JAX) and an explicit "
            "CUDA stream (an integer handle). cute_mla (the Python package) wraps it.";
  m.def("build_info", &py::build_info,
        "Version, CUDA version, target architectures, compiled dtypes and whether the "
        "decode kernel is built.");
  m.def("num_sm_parts", &py::num_sm_parts, "num_sms"_a, "num_heads_k"_a,
        "num_q_tokens_per_head_k"_a,
        "Rows of tile_scheduler_metadata for a GPU with num_sms SMs.");
  m.def("workspace_bytes", &py::workspace_bytes, "batch"_a, "num_sm_parts"_a,
        "num_heads_kv"_a, "rows"_a,
        "Decode workspace (split partials) in bytes; rows = s_q * h_q // h_kv.");
  m.def("scheduler_config", &py::scheduler_config, "num_sms"_a, "num_heads_k"_a,
        "num_q_tokens_per_head_k"_a,
        "The planner's configuration (parts, fixed overhead, minimum part size, page size).");
  m.def("check_metadata", &py::check_metadata, "cache_seqlens"_a,
        "num_q_tokens_per_head_k"_a, "num_heads_k"_a);
  m.def("plan_metadata", &py::plan_metadata, "cache_seqlens"_a, "num_q_tokens_per_head_k"_a,
        "num_heads_k"_a, "tile_scheduler_metadata"_a, "num_splits"_a, "stream"_a = 0,
        "Plan split-KV work into the two output arrays: on the GPU (one kernel on `stream`, "
        "no sync) for CUDA arrays, on the host for CPU arrays (same planner, same bits).");
  m.def("check_seqlens", &py::check_seqlens, "cache_seqlens"_a, "max_pages_per_seq"_a,
        "Check length values of a host int32 array: >= 0 and within the block table.");
  m.def("check_decode", &py::check_decode, "q"_a, "k_cache"_a, "block_table"_a,
        "cache_seqlens"_a, "head_dim_v"_a, "tile_scheduler_metadata"_a.none(),
        "num_splits"_a.none(), "softmax_scale"_a, "causal"_a, "out"_a.none() = nb::none(),
        "lse"_a.none() = nb::none(), "q_pe"_a.none() = nb::none(),
        "kpe_cache"_a.none() = nb::none(),
        "Validate decode inputs; returns the workspace size in bytes. With q_pe and kpe_cache "
        "(the RoPE parts as their own tensors), q and k_cache are the 512-wide latent parts.");
  m.def("decode", &py::decode, "q"_a, "k_cache"_a, "block_table"_a, "cache_seqlens"_a,
        "head_dim_v"_a, "tile_scheduler_metadata"_a.none(), "num_splits"_a.none(),
        "softmax_scale"_a, "causal"_a, "out"_a, "lse"_a, "workspace"_a.none(), "stream"_a = 0,
        "q_pe"_a.none() = nb::none(), "kpe_cache"_a.none() = nb::none(),
        "One MLA decode step into out and lse (q_pe/kpe_cache: as in check_decode).");
  m.def("combine", &py::combine, "o_accum"_a, "lse_accum"_a, "num_splits"_a, "out"_a, "lse"_a,
        "max_splits"_a, "stream"_a = 0, "Merge fp32 split partials (base-2 LSE) into out/lse.");
  m.def("check_decode_described", &py::check_decode_described, "q"_a.none(),
        "k_cache"_a.none(), "block_table"_a.none(), "cache_seqlens"_a.none(), "head_dim_v"_a,
        "tile_scheduler_metadata"_a.none(), "num_splits"_a.none(), "softmax_scale"_a,
        "causal"_a, "out"_a.none() = nb::none(), "lse"_a.none() = nb::none(),
        "q_pe"_a.none() = nb::none(), "kpe_cache"_a.none() = nb::none(),
        "check_decode on tensor descriptions (tests without a GPU).");
  m.def("decode_torch", &py::decode_torch, "q"_a.none(), "k_cache"_a.none(),
        "block_table"_a.none(), "cache_seqlens"_a.none(), "head_dim_v"_a,
        "tile_scheduler_metadata"_a.none(), "num_splits"_a.none(), "softmax_scale"_a,
        "causal"_a, "out"_a.none(), "lse"_a.none(), "q_pe"_a.none(), "kpe_cache"_a.none(),
        "workspace"_a.none(), "workspace_may_grow"_a, "stream"_a,
        "Validate and launch one decode step on torch tensors (the eager fast path). Returns "
        "0 once launched; with workspace_may_grow and a workspace absent or smaller than "
        "needed, launches nothing and returns the bytes needed.");
  m.def("plan_metadata_torch", &py::plan_metadata_torch, "cache_seqlens"_a.none(),
        "num_q_tokens_per_head_k"_a, "num_heads_k"_a, "tile_scheduler_metadata"_a.none(),
        "num_splits"_a.none(), "stream"_a, "plan_metadata on torch tensors (the eager fast path).");
  m.def("check_metadata_described", &py::check_metadata_described, "cache_seqlens"_a.none(),
        "num_q_tokens_per_head_k"_a, "num_heads_k"_a);
}
