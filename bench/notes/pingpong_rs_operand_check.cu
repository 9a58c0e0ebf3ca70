// Built and run on the host (no GPU): nvcc -std=c++17 -isystem <cutlass include> --expt-relaxed-constexpr
//   -o /tmp/check_a bench/notes/pingpong_rs_operand_check.cu && /tmp/check_a
// accumulator_as_a_operand is a copy of the one in bench/notes/attempt-pingpong-kernel.diff.
// Host check: the S accumulator (m64n64, fp32) of thread t, converted by
// accumulator_as_a_operand, holds at each position the (row, key) that the RS
// P.V wgmma's A fragment (m64 x k64, K-major) of thread t expects there.
#include <cstdio>
#include <cute/tensor.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
using namespace cute;
template <class Layout>
auto accumulator_as_a_operand(Layout acc) {
  auto groups = logical_divide(get<0, 2>(acc), Tile<_2>{});
  return make_layout(make_layout(get<0, 0>(acc), get<0, 1>(acc), get<0, 0>(groups)),
                     get<1>(acc), coalesce(make_layout(get<0, 1>(groups), get<2>(acc))));
}
int main() {
  using E = cutlass::bfloat16_t;
  auto mma_s = make_tiled_mma(GMMA::ss_op_selector<E, E, float, Shape<_64, _64, Int<576>>, GMMA::Major::K, GMMA::Major::K>());
  auto mma_rs = make_tiled_mma(GMMA::rs_op_selector<E, E, float, Shape<_64, _256, _64>, GMMA::Major::K, GMMA::Major::MN>());
  int bad = 0;
  for (int t = 0; t < 128; ++t) {
    auto cS = mma_s.get_thread_slice(t).partition_C(make_identity_tensor(Shape<_64, _64>{}));  // (row,key)
    auto cA = mma_rs.get_thread_slice(t).partition_A(make_identity_tensor(Shape<_64, _64>{}));  // (row,k)
    auto conv = make_tensor(cS.data(), accumulator_as_a_operand(cS.layout()));
    if (t == 0) { print(cS.layout()); printf("\n"); print(cA.layout()); printf("\n"); print(conv.layout()); printf("\n"); }
    if (size(conv) != size(cA)) { printf("size mismatch %d %d\n", int(size(conv)), int(size(cA))); return 1; }
    for (int k = 0; k < size<2>(cA); ++k)
      for (int i = 0; i < size<0>(cA); ++i) {
        auto a = cA(i, 0, k);
        auto c = conv(i, 0, k);
        if (get<0>(a) != get<0>(c) || get<1>(a) != get<1>(c)) {
          if (bad++ < 5) printf("t %d k %d i %d: A wants (%d,%d), C holds (%d,%d)\n", t, k, i,
                                int(get<0>(a)), int(get<1>(a)), int(get<0>(c)), int(get<1>(c)));
        }
      }
  }
  printf("%s (%d mismatches)\n", bad ? "MISMATCH" : "all 128 threads agree", bad);
  return bad != 0;
}
