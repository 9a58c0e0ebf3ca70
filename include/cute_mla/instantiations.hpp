// The instantiations prebuilt in cute_mla::kernels (one .cu each under
// kernels/). Including this header makes a translation unit link against
// them instead of compiling the kernels again; an engine that wants its own
// instantiation includes the device/ headers without this one.
#pragma once

#include <cutlass/numeric_types.h>

#include "cute_mla/device/combine.hpp"
#include "cute_mla/device/metadata.hpp"
#include "cute_mla/device/mla_decode.hpp"

namespace cute_mla::device {

extern template struct MetadataPlanner<1024>;
extern template struct Combine<cutlass::bfloat16_t>;
extern template struct Combine<cutlass::half_t>;
extern template struct MlaDecode<cutlass::bfloat16_t>;
extern template struct MlaDecode<cutlass::half_t>;

}  // namespace cute_mla::device
