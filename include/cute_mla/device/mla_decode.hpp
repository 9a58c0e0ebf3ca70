// Host adapter for one MLA decode step: can_implement -> get_workspace_size
// -> run (decode kernel, then the combine kernel for split requests), each
// returning a status. The stream and the workspace are arguments of run,
// never part of the kernel parameters.
#pragma once

#include <cuda_runtime_api.h>

#include <type_traits>

#include "cute_mla/arguments.hpp"
#include "cute_mla/check.hpp"
#include "cute_mla/device/device_info.hpp"
#include "cute_mla/status.hpp"

namespace cute_mla::device {

template <class Element>
struct MlaDecode {
  static CheckResult can_implement(DecodeArguments const& a);
  static int64_t get_workspace_size(DecodeArguments const& a);
  static CheckResult run(DecodeArguments const& a, void* workspace, int64_t workspace_bytes,
                         cudaStream_t stream);
};

template <class Element>
CheckResult MlaDecode<Element>::can_implement(DecodeArguments const& a) {
  CheckResult r = check_decode_arguments(a);
  if (!r.ok()) return r;
  r = current_sm90_device(nullptr);
  if (!r.ok()) return r;
  // The SM90 decode kernel (kernel/decode_kernel_sm90.hpp) is the next
  // milestone; until it lands this adapter says so instead of running a
  // slow stand-in.
  return CheckResult::error(Status::kErrorNotImplemented,
                            "decode: the SM90 decode kernel "
                            "(cute_mla::kernel::DecodeKernelSm90) is not part of this build yet");
}

template <class Element>
int64_t MlaDecode<Element>::get_workspace_size(DecodeArguments const& a) {
  return WorkspaceLayout::make(a.batch, a.num_sm_parts, a.num_heads_kv, rows_per_kv_head(a),
                               a.head_dim_v)
      .bytes;
}

template <class Element>
CheckResult MlaDecode<Element>::run(DecodeArguments const& a, void* workspace,
                                    int64_t workspace_bytes, cudaStream_t stream) {
  (void)stream;
  CheckResult r = can_implement(a);
  if (!r.ok()) return r;
  if (workspace_bytes < get_workspace_size(a) || (workspace == nullptr && workspace_bytes > 0))
    return CheckResult::error(Status::kErrorInvalidValue,
                              "workspace: %lld bytes given, %lld needed",
                              static_cast<long long>(workspace_bytes),
                              static_cast<long long>(get_workspace_size(a)));
  return r;
}

}  // namespace cute_mla::device
