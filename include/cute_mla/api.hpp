// The plain C++ host API of the prebuilt library cute_mla::kernels: no
// templates, no CUTLASS, no torch; dtype dispatch at run time. Include this
// from host code compiled by any C++17 compiler and link cute_mla::kernels.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cute_mla/arguments.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/scheduler.hpp"
#include "cute_mla/status.hpp"
#include "cute_mla/version.hpp"

namespace cute_mla {

struct BuildInfo {
  const char* version;       // CUTE_MLA_VERSION_STRING
  int cuda_version;          // CUDART_VERSION the library was built with, e.g. 13000
  const char* archs;         // "sm_90a"
  const char* dtypes;        // "bfloat16,float16"
  const char* cutlass_version;  // of the CUTLASS/CuTe headers compiled in
  bool has_decode_kernel;    // the SM90 decode kernel is in this build
};

BuildInfo build_info();

// Plans split-KV work on the GPU (a.cache_seqlens etc. are device pointers).
// Graph-capturable: one launch, no sync, no allocation.
CheckResult plan_metadata(MetadataArguments const& a, cudaStream_t stream);

// Merges split partials (see CombineArguments).
CheckResult combine(CombineArguments const& a, cudaStream_t stream);

// One decode step: decode kernel, then combine. `workspace` must hold
// decode_workspace_size(a) bytes of device memory.
int64_t decode_workspace_size(DecodeArguments const& a);
CheckResult decode_can_implement(DecodeArguments const& a);
CheckResult decode(DecodeArguments const& a, void* workspace, int64_t workspace_bytes,
                   cudaStream_t stream);

}  // namespace cute_mla
