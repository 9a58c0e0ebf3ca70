"""python -m cute_mla: what this build is, and one decode step where the GPU allows it.

On an sm_90 GPU: plans a decode step on the GPU, runs it against the float32 reference and
prints its speed. Elsewhere: says why it cannot and prints a CPU-planned schedule.
"""

from __future__ import annotations

import argparse
import sys

import torch

import cute_mla
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="python -m cute_mla",
        description="Print cute-mla's build info, then run one MLA decode step on an sm_90 "
                    "GPU against the float32 reference and print its speed (elsewhere: say "
                    "why not, and show the schedule the CPU planner makes).")
    p.add_argument("--batch", type=int, default=8, help="requests (default 8)")
    p.add_argument("--seqlen", type=int, default=4096, help="mean KV length (default 4096)")
    p.add_argument("--heads", type=int, default=128, help="query heads h_q (default 128)")
    p.add_argument("--seqlen-q", type=int, default=1, help="query tokens per request (default 1)")
    p.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    return p.parse_args(argv)


def _show_schedule(meta, splits, seqlens, limit=12):
    rows = meta.tolist()
    busy = [r for r in rows if r[0] <= r[2]]
    print(f"schedule: {len(rows)} parts ({len(busy)} busy), {int(splits[-1])} pieces for "
          f"{len(seqlens)} requests")
    print("  part  begin(req,page)  end(req,page)  split  flags")
    for p, r in enumerate(rows[:limit]):
        state = "empty" if r[0] > r[2] else f"({r[0]},{r[1]})".ljust(15) + f"  ({r[2]},{r[3]})".ljust(14) + f"  {r[4]:5d}  {r[5]:5d}"
        print(f"  {p:4d}  {state}")
    if len(rows) > limit:
        print(f"  ... {len(rows) - limit} more")


def _why_no_gpu():
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    cap = torch.cuda.get_device_capability()
    if cap != (9, 0):
        return f"cuda:0 is sm_{cap[0]}{cap[1]}; the kernels are built for sm_90a (Hopper) only"
    return None


def main(argv=None) -> int:
    args = _parse(argv)
    print(f"cute-mla {cute_mla.__version__}")
    try:
        info = cute_mla.build_info()
    except ImportError as e:
        print(f"the compiled module is missing: {e}")
        return 1
    for k, v in info.items():
        print(f"  {k}: {v}")

    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    h_kv = 1
    rows = args.seqlen_q * args.heads // h_kv
    reason = _why_no_gpu()
    if reason is not None:
        print(f"\nno decode step here: {reason}.")
        inputs = make_decode_inputs(args.batch, args.seqlen_q, args.heads, h_kv, args.seqlen,
                                    varlen=True, dtype=dtype, device="cpu")
        meta, splits = cute_mla.get_mla_metadata(inputs.cache_seqlens, rows, h_kv)
        print(f"CPU-planned schedule for lengths {inputs.seqlens[:8]}"
              f"{' ...' if args.batch > 8 else ''} (planned for a "
              f"{cute_mla.interface.DEFAULT_NUM_SMS}-SM H100 unless a GPU is visible):")
        _show_schedule(meta, splits, inputs.seqlens)
        return 0

    print(f"\ndevice: {torch.cuda.get_device_name()}")
    inputs = make_decode_inputs(args.batch, args.seqlen_q, args.heads, h_kv, args.seqlen,
                                varlen=True, causal=args.seqlen_q > 1, dtype=dtype)
    meta, splits = cute_mla.get_mla_metadata(inputs.cache_seqlens, rows, h_kv)
    _show_schedule(meta, splits, inputs.seqlens, limit=6)

    def step():
        return cute_mla.flash_mla_with_kvcache(
            inputs.q, inputs.k_cache, inputs.block_table, inputs.cache_seqlens, 512, meta, splits,
            causal=inputs.causal)

    try:
        out, lse = step()
    except NotImplementedError as e:
        print(f"\nno decode step: {e}")
        return 0
    ref_out, ref_lse = cute_mla.reference.mla_decode_reference(
        inputs.q, inputs.k_cache, inputs.block_table, inputs.cache_seqlens, 512,
        inputs.softmax_scale, inputs.causal)
    check_close("out", out, ref_out.to(dtype), **OUT_TOLERANCE)
    check_close("lse", lse, ref_lse, **LSE_TOLERANCE)
    print("\nmatches the float32 reference (FlashMLA's tolerances)")

    for _ in range(3):
        step()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    n = 50
    start.record()
    for _ in range(n):
        step()
    end.record()
    torch.cuda.synchronize()
    us = start.elapsed_time(end) * 1e3 / n
    flop, nbytes = cute_mla.testing.flashmla_counts(args.batch, args.seqlen_q, args.heads, h_kv,
                                                    sum(inputs.seqlens) / args.batch)
    print(f"decode step (eager, back to back, L2 warm): {us:.1f} us, "
          f"{nbytes / us / 1e6:.0f} GB/s, {flop / us / 1e6:.1f} TFLOP/s")
    print("for measured figures with ceilings and peers: python -m bench.bench_decode --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
