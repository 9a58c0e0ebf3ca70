// The plain C++ host API (api.hpp): run-time dtype dispatch onto the prebuilt
// instantiations.
#include <cuda_runtime_api.h>

#include <cutlass/version.h>

#include "cute_mla/api.hpp"
#include "cute_mla/instantiations.hpp"

namespace cute_mla {

BuildInfo build_info() {
  BuildInfo b;
  b.version = CUTE_MLA_VERSION_STRING;
  b.cuda_version = CUDART_VERSION;
  b.archs = "sm_90a";
  b.dtypes = "bfloat16,float16";
  b.cutlass_version = CUTE_MLA_STRINGIFY(CUTLASS_MAJOR) "." CUTE_MLA_STRINGIFY(
      CUTLASS_MINOR) "." CUTE_MLA_STRINGIFY(CUTLASS_PATCH);
  b.has_decode_kernel = true;
  return b;
}

CheckResult plan_metadata(MetadataArguments const& a, cudaStream_t stream) {
  return device::MetadataPlanner<1024>::run(a, stream);
}

CheckResult combine(CombineArguments const& a, cudaStream_t stream) {
  switch (a.element) {
    case DataType::kBFloat16: return device::Combine<cutlass::bfloat16_t>::run(a, stream);
    case DataType::kFloat16: return device::Combine<cutlass::half_t>::run(a, stream);
    default: break;
  }
  return CheckResult::error(Status::kErrorInvalidType,
                            "out: expected dtype bfloat16 or float16, got %s",
                            dtype_name(a.element));
}

int64_t decode_workspace_size(DecodeArguments const& a) {
  return device::MlaDecode<cutlass::bfloat16_t>::get_workspace_size(a);
}

CheckResult decode_can_implement(DecodeArguments const& a) {
  switch (a.element) {
    case DataType::kBFloat16: return device::MlaDecode<cutlass::bfloat16_t>::can_implement(a);
    case DataType::kFloat16: return device::MlaDecode<cutlass::half_t>::can_implement(a);
    default: break;
  }
  return check_decode_arguments(a);
}

CheckResult decode(DecodeArguments const& a, void* workspace, int64_t workspace_bytes,
                   cudaStream_t stream) {
  switch (a.element) {
    case DataType::kBFloat16:
      return device::MlaDecode<cutlass::bfloat16_t>::run(a, workspace, workspace_bytes, stream);
    case DataType::kFloat16:
      return device::MlaDecode<cutlass::half_t>::run(a, workspace, workspace_bytes, stream);
    default: break;
  }
  return check_decode_arguments(a);
}

}  // namespace cute_mla
