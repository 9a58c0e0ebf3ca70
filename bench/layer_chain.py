"""Decode steps as an engine runs them: one CUDA graph holding the metadata and, per layer, a kernel
that writes that layer's q followed by the decode (decode + combine), each layer with its own KV
cache. Reports graph replay µs per step and per layer. With --compare-pdl it runs itself in child
processes with CUTE_MLA_PDL=1 and =0 (programmatic dependent launch of the decode and combine
kernels on / off, read once per process), alternating, so the two are compared on one machine.

    python -m bench.layer_chain --compare-pdl --rounds 2
    python -m bench.layer_chain --points 1:1:128:16384 --layers 8

Each point is b:s_q:h_q:L (h_kv = 1, causal when s_q > 1, lengths drawn as --lengths says). The
step is replayed after a 256 MiB L2 flush, median of --replays; outputs are checked against the
float32 reference for the last layer once (FlashMLA's tolerances) before timing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import torch

import cute_mla
from bench import timing
from bench.peer_lengths import POLICIES, lengths_for
from cute_mla.reference import mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs, poison_

DEFAULT_POINTS = "1:1:16:4096,1:1:128:16384,8:1:128:4096,128:1:128:1024,32:2:128:4096"


def measure(point: str, layers: int, lengths: str, replays: int, flusher: timing.L2Flusher) -> float:
    b, s_q, h_q, L = (int(x) for x in point.split(":"))
    causal = s_q > 1
    seqlens = lengths_for(lengths, b, L, s_q)
    per_layer = [make_decode_inputs(b, s_q, h_q, 1, L, varlen=True, causal=causal, seqlens=seqlens,
                                    seed=layer) for layer in range(layers)]
    first = per_layer[0]
    q_src = [torch.randn_like(inp.q) / 10 for inp in per_layer]  # what each layer's producer writes
    out = torch.empty(b, s_q, h_q, 512, dtype=first.q.dtype, device="cuda")
    lse = torch.empty(b, h_q, s_q, dtype=torch.float32, device="cuda")

    def step():
        meta, splits = cute_mla.get_mla_metadata(first.cache_seqlens, s_q * h_q, 1)
        for inp, src in zip(per_layer, q_src):
            inp.q.copy_(src)  # the kernel before the decode, as a projection would be
            cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table, first.cache_seqlens,
                                           512, meta, splits, causal=causal, out=out, lse=lse)

    last = per_layer[-1]
    poison_(out)
    poison_(lse)
    step()
    ref_out, ref_lse = mla_decode_reference(q_src[-1], last.k_cache, last.block_table, first.cache_seqlens,
                                            512, softmax_scale=last.softmax_scale, causal=causal)
    check_close("out", out, ref_out.to(out.dtype), **OUT_TOLERANCE)
    check_close("lse", lse, ref_lse, **LSE_TOLERANCE)
    return timing.time_graph_replay(step, flusher, replays=replays).median


def run_points(a) -> None:
    flusher = timing.L2Flusher(256 << 20)
    pdl = os.environ.get("CUTE_MLA_PDL", "1") != "0"
    for point in a.points.split(","):
        us = measure(point, a.layers, a.lengths, a.replays, flusher)
        print(f"pdl={'on ' if pdl else 'off'} {point:<16} layers={a.layers} step={us:9.1f} us "
              f"per layer={us / a.layers:8.2f} us", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default=DEFAULT_POINTS, help="comma-separated b:s_q:h_q:L")
    ap.add_argument("--layers", type=int, default=8, help="decode layers per step (each its own cache)")
    ap.add_argument("--lengths", choices=POLICIES, default="graph-ref",
                    help="how each point's lengths are drawn (bench/peer_lengths.py)")
    ap.add_argument("--replays", type=int, default=30)
    ap.add_argument("--compare-pdl", action="store_true",
                    help="run the points in child processes with CUTE_MLA_PDL=1 and =0, alternating")
    ap.add_argument("--rounds", type=int, default=2, help="with --compare-pdl: rounds of (on, off)")
    a = ap.parse_args()
    if not a.compare_pdl:
        run_points(a)
        return
    child = [sys.executable, "-m", "bench.layer_chain", "--points", a.points, "--layers", str(a.layers),
             "--lengths", a.lengths, "--replays", str(a.replays)]
    lines = []
    total = 2 * a.rounds
    for i in range(total):
        flag = "1" if i % 2 == 0 else "0"
        print(f"[{i + 1}/{total}] CUTE_MLA_PDL={flag}", file=sys.stderr, flush=True)
        r = subprocess.run(child, env=dict(os.environ, CUTE_MLA_PDL=flag), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"child with CUTE_MLA_PDL={flag} failed:\n{r.stdout}{r.stderr}")
        lines += [f"round {i // 2 + 1} {line}" for line in r.stdout.splitlines() if line.startswith("pdl=")]
    print("\n".join(["", f"==== layer chain (graph replay, median; {a.layers} layers, lengths {a.lengths}) ===="]
                    + sorted(lines, key=lambda s: (s.split()[3], s))))


if __name__ == "__main__":
    main()
