// Function qualifiers that let the same header compile with nvcc and with a
// host-only C++ compiler (the nanobind module, engines' host code).
#pragma once

#if defined(__CUDACC__) || defined(__CUDA_ARCH__)
#define CUTE_MLA_HOST_DEVICE __host__ __device__ __forceinline__
#define CUTE_MLA_DEVICE __device__ __forceinline__
#else
#define CUTE_MLA_HOST_DEVICE inline
#endif
