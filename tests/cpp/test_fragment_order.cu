// Host-only test of a register-layout fact the decode kernel relies on: a
// thread's m64n64 S accumulator fragment (TiledMmaS) and its m64k64 RS A
// operand fragment for P.V (TiledMmaORs) hold the same (row, key) at every
// register index, so P goes from the one to the other element by element
// (CUTE_MLA_SOFTMAX_IN_VALUES: the P.V warpgroups exponentiate S they read
// in the S accumulator's order and feed P to their RS wgmmas).
//
// Builds with nvcc (the CuTe MMA atoms need it) and runs without a GPU: it
// only evaluates layouts.
#include <cstdio>

#include <cute/tensor.hpp>

#include "cute_mla/kernel/decode_traits_sm90.hpp"

namespace {

template <class Element>
int check(char const* name) {
  using namespace cute;
  using T = cute_mla::kernel::DecodeTraitsSm90<Element>;
  typename T::TiledMmaS mma_s;
  typename T::TiledMmaORs mma_o;
  int failures = 0;
  for (int tid = 0; tid < T::kWarpgroupThreads; ++tid) {
    auto thr_s = mma_s.get_thread_slice(tid);
    auto thr_o = mma_o.get_thread_slice(tid);
    auto tile = make_identity_tensor(Shape<typename T::BlockM, typename T::BlockN>{});
    auto c = thr_s.partition_C(tile);  // (row, key) of each accumulator register
    auto a = thr_o.partition_A(tile);  // (row, key) of each A operand register
    // The register fragments are compact in the same index order as these.
    auto c_regs = make_fragment_like<float>(c);
    auto a_regs = thr_o.make_fragment_A(thr_o.partition_A(
        make_tensor(make_smem_ptr(static_cast<Element*>(nullptr)), typename T::SmemLayoutP{})));
    if (size(c) != size(a) || cosize(c_regs.layout()) != size(c) ||
        cosize(a_regs.layout()) != size(a)) {
      std::printf("%s: thread %d: fragment sizes differ\n", name, tid);
      return 1;
    }
    for (int k = 0; k < size(c); ++k) {
      // Register k of each fragment: the layouts' inverse maps k to a coordinate.
      const int ci = c_regs.layout()(idx2crd(k, shape(c_regs)));
      const int ai = a_regs.layout()(idx2crd(k, shape(a_regs)));
      if (ci != k || ai != k) {
        ++failures;
        continue;
      }
      if (get<0>(c(k)) != get<0>(a(k)) || get<1>(c(k)) != get<1>(a(k))) {
        if (failures++ < 5)
          std::printf("%s: thread %d register %d: S (%d, %d), A (%d, %d)\n", name, tid, k,
                      int(get<0>(c(k))), int(get<1>(c(k))), int(get<0>(a(k))), int(get<1>(a(k))));
      }
    }
  }
  std::printf("test_fragment_order %s: %d threads x %d registers, %d failure(s)\n", name,
              T::kWarpgroupThreads, int(T::kBlockM * T::kBlockN / T::kWarpgroupThreads), failures);
  return failures != 0;
}

}  // namespace

int main() {
  int rc = check<cutlass::bfloat16_t>("bf16");
  rc |= check<cutlass::half_t>("fp16");
  return rc;
}
