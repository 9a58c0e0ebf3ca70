// Host-only translation unit of the CMake consumers, compiled by the plain
// C++ compiler (not nvcc): the host API header is usable from engines' host
// code, and so are the CUTLASS numeric types the targets put on the include
// path (CUDA 13 keeps the CCCL headers they need under include/cccl, which
// the targets must add for host compilers).
#include <cstdio>
#include <cstring>

#include <cutlass/numeric_types.h>

#include <cute_mla/api.hpp>

int host_translation_unit_check() {
  const cute_mla::BuildInfo info = cute_mla::build_info();
  const float x = static_cast<float>(cutlass::bfloat16_t(1.5f));
  if (std::strcmp(info.version, CUTE_MLA_VERSION_STRING) != 0 || x != 1.5f) {
    std::printf("host TU: FAILED (library %s, headers %s, bf16 1.5 -> %g)\n", info.version,
                CUTE_MLA_VERSION_STRING, static_cast<double>(x));
    return 1;
  }
  std::printf("host TU (plain C++ compiler): api.hpp and CUTLASS numeric types ok\n");
  return 0;
}
