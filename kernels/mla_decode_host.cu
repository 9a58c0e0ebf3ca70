// Prebuilt instantiations of the decode host adapter (BF16, FP16). The decode
// kernels themselves arrive as decode_sm90_{bf16,fp16}.cu with the kernel.
#include <cutlass/numeric_types.h>

#include "cute_mla/device/mla_decode.hpp"

template struct cute_mla::device::MlaDecode<cutlass::bfloat16_t>;
template struct cute_mla::device::MlaDecode<cutlass::half_t>;
