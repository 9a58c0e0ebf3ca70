"""Why FP16 runs slower than BF16 at compute-bound points: the code or the data?

    python -m bench.dtype_probe --points 128:1:128:16384,128:2:128:8192 --rounds 3

The two decode kernels differ only in the HGMMA's input type (their SASS has the same instruction
counts), yet FP16 ran 3.3-3.7 % slower at b=128 h_q=128 (FlashMLA's FP16 1.3-3.2 %). Each point
(b:s_q:h_q:L, h_kv = 1, causal when s_q > 1, lengths as --lengths) is timed with three inputs,
rounds interleaved:

  bf16     the bench's inputs
  fp16     the same values in fp16 (10-bit mantissas)
  fp16-b   fp16 holding the bf16 values (7-bit mantissas, so the tensor cores see as many set
           bits as in bf16)

If fp16-b runs with bf16 and fp16 slower, the cost is in the data the tensor cores multiply
(switching power, hence the clock under the board's power limit), not in the schedule. Per input
it reports the whole op's graph replay after an L2 flush (median of --replays, after --cool-s idle
seconds: without them each input's replays started in the power state the previous input's
sustained run left, which moved them by up to 4 %), then a sustained run (graph replays back to
back for --sustain-s seconds) with the SM clock and board power that nvidia-smi sampled
meanwhile: with the board at its power limit, the clock is where a difference in switching
power shows. Outputs are checked finite; their accuracy is the test suite's job.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import torch

import cute_mla
from bench import timing
from bench.peer_lengths import POLICIES, lengths_for
from cute_mla.testing import make_decode_inputs


def _sampler():
    """nvidia-smi printing the SM clock (MHz) and board power (W) every 50 ms."""
    return subprocess.Popen(
        ["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits", "-lms", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _stop(proc) -> tuple[float, float]:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    clocks, watts = [], []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            clocks.append(float(parts[0]))
            watts.append(float(parts[1]))
        except (ValueError, IndexError):
            continue
    mean = lambda v: statistics.fmean(v) if v else float("nan")  # noqa: E731
    return mean(clocks), mean(watts)


def _sustained(call, seconds: float) -> tuple[float, float, float]:
    """µs per call over back-to-back graph replays (no flush), mean SM MHz and W meanwhile."""
    graph = timing.capture_graph(call, warmup=1)
    proc = _sampler()
    time.sleep(0.2)  # nvidia-smi's first sample
    # Ten replays, then a sync: the queue stays short and the gaps (one host round trip per ten
    # replays of ~1 ms) stay under 1 %.
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            graph.replay()
        torch.cuda.synchronize()
        n += 10
    elapsed = time.perf_counter() - t0
    mhz, watts = _stop(proc)
    graph.reset()
    return elapsed * 1e6 / n, mhz, watts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default="128:1:128:16384,128:2:128:8192", help="b:s_q:h_q:L, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the three inputs")
    ap.add_argument("--replays", type=int, default=15, help="graph replays per timing (each after a flush)")
    ap.add_argument("--sustain-s", type=float, default=1.5, help="seconds of back-to-back replays per input")
    ap.add_argument("--lengths", choices=POLICIES, default="graph-ref",
                    help="how each point's lengths are drawn (bench/peer_lengths.py)")
    ap.add_argument("--cool-s", type=float, default=3.0,
                    help="idle seconds before each graph timing, so that none starts in the power state "
                         "the previous input's sustained run left")
    ap.add_argument("--flush-mib", type=int, default=256)
    a = ap.parse_args()
    flusher = timing.L2Flusher(a.flush_mib << 20)
    print(f"device: {torch.cuda.get_device_name()}", flush=True)
    lines = []
    for pt in a.points.split(","):
        b, s_q, h_q, L = (int(x) for x in pt.split(":"))
        causal = s_q > 1
        base = make_decode_inputs(b, s_q, h_q, 1, L, varlen=True, causal=causal, dtype=torch.bfloat16,
                                  seqlens=lengths_for(a.lengths, b, L, s_q))
        full = make_decode_inputs(b, s_q, h_q, 1, L, varlen=True, causal=causal, dtype=torch.float16,
                                  seqlens=lengths_for(a.lengths, b, L, s_q))  # the same draw in fp16
        variants = {
            "bf16": (base.q, base.k_cache),
            "fp16": (full.q, full.k_cache),
            "fp16-b": (base.q.to(torch.float16), base.k_cache.to(torch.float16)),
        }
        del full
        meta, splits = cute_mla.get_mla_metadata(base.cache_seqlens, s_q * h_q, 1)
        results = {name: ([], []) for name in variants}
        for r in range(a.rounds):
            for name, (q, k) in variants.items():
                out = torch.empty(b, s_q, h_q, 512, dtype=q.dtype, device="cuda")
                lse = torch.empty(b, h_q, s_q, dtype=torch.float32, device="cuda")

                def call(q=q, k=k, out=out, lse=lse):
                    cute_mla.flash_mla_with_kvcache(q, k, base.block_table, base.cache_seqlens, 512, meta,
                                                   splits, softmax_scale=base.softmax_scale, causal=causal,
                                                   out=out, lse=lse)

                call()
                torch.cuda.synchronize()
                if not bool(torch.isfinite(out).all()):
                    raise SystemExit(f"{name} at {pt}: non-finite output")
                time.sleep(a.cool_s)
                t = timing.time_graph_replay(call, flusher, replays=a.replays)
                sus = _sustained(call, a.sustain_s)
                results[name][0].append(t.median)
                results[name][1].append(sus)
                print(f"round {r + 1} b={b} s_q={s_q} h_q={h_q} L={L} {name:<6} graph={t.median:8.1f} us  "
                      f"sustained={sus[0]:8.1f} us  sm={sus[1]:6.0f} MHz  power={sus[2]:5.0f} W", flush=True)
        ref = statistics.median(results["bf16"][0])
        for name, (graphs, sus) in results.items():
            g = statistics.median(graphs)
            lines.append(f"b={b:<3} s_q={s_q} h_q={h_q:<3} L={L:<5} {name:<6} graph={g:8.1f} us ({g / ref:5.3f}x bf16)  "
                         f"sustained={statistics.median(s[0] for s in sus):8.1f} us  "
                         f"sm={statistics.median(s[1] for s in sus):6.0f} MHz  "
                         f"power={statistics.median(s[2] for s in sus):5.0f} W")
    print("\n".join(["", "==== dtype probe (medians over rounds) ===="] + lines))


if __name__ == "__main__":
    main()
