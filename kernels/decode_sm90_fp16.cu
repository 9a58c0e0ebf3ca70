// Prebuilt instantiation: the SM90 decode kernel and its host adapter, FP16.
#include <cutlass/numeric_types.h>

#include "cute_mla/device/mla_decode.hpp"

template struct cute_mla::device::MlaDecode<cutlass::half_t>;
