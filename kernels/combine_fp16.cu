// Prebuilt instantiation: the combine kernel writing FP16 output.
#include <cutlass/numeric_types.h>

#include "cute_mla/device/combine.hpp"

template struct cute_mla::device::Combine<cutlass::half_t>;
