// Prebuilt instantiation: the combine kernel writing BF16 output.
#include <cutlass/numeric_types.h>

#include "cute_mla/device/combine.hpp"

template struct cute_mla::device::Combine<cutlass::bfloat16_t>;
