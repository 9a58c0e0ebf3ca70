// Programmatic dependent launch (PDL) from inside a kernel: the two
// griddepcontrol instructions, for every kernel of the library.
#pragma once

#include "cute_mla/macros.hpp"

namespace cute_mla::kernel {

// griddepcontrol.wait: returns once the kernel this one follows on the
// stream has finished and its writes are visible (at once when this kernel
// was launched without the PDL attribute). Every global access of a
// PDL-launched kernel that depends on earlier work comes after it.
CUTE_MLA_DEVICE void wait_for_primary() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// griddepcontrol.launch_dependents: the next PDL-launched kernel on the
// stream may be scheduled once every CTA of this one has called it or exited.
// It orders nothing: the dependent still waits for this grid to finish.
CUTE_MLA_DEVICE void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

}  // namespace cute_mla::kernel
