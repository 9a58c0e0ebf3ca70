"""Host CPU per eager call, measured in a process that never starts the profiler.

A torch.profiler (CUPTI) session earlier in a process raises the host cost of every later CUDA
launch in it. Measured on an H100 host (2026-12-06, b=128 h_q=128 L=1K, 200 back-to-back calls,
median of 7 rounds): a bare torch.add_ 9.4 -> 13.8 us, flash_mla_with_kvcache with out=/lse=
18.5 -> 26.0 us, allocating 25.1 -> 39.2 us, before and after one profiler session.
bench_decode profiles every point, so it takes its host figures from this module, run as a child
process before its own profiling: ``measure_in_child(cfg, points)``.

As a program (what the parent runs): ``python -m bench.host_time`` reads a JSON request on stdin
(points, paths, seed, host_calls, ref_budget_gib) and writes the figures as JSON on stdout;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time

import torch

from bench import timing

#: Host-time keys of a record: the call as FlashMLA's figure makes it (out/lse allocated), and
#: with out=/lse= given.
KEYS = ("host_us", "host_out_us")


def measure_in_child(cfg: argparse.Namespace, points: list) -> tuple[dict, float | None, str | None]:
    """Run the host timings of every (point, path) in a fresh Python process.

    Returns ``(figures, add_us, error)``: figures maps (point label, path name) to
    ``{"host_us": Stat dict, "host_out_us": Stat dict}``, add_us is the child's bare torch.add_
    (the host reference, by the same method), error says why there are no figures.
    """
    request = {
        "points": [dataclasses.asdict(p) for p in points],
        "paths": list(cfg.paths),
        "seed": cfg.seed,
        "lengths": cfg.lengths,
        "host_calls": cfg.host_calls,
        "ref_budget_gib": cfg.ref_budget_gib,
    }
    try:
        done = subprocess.run([sys.executable, "-m", "bench.host_time"], input=json.dumps(request),
                              stdout=subprocess.PIPE, stderr=None, text=True, check=False)
    except OSError as exc:
        return {}, None, f"host-time process could not start: {exc}"
    if done.returncode != 0:
        return {}, None, f"host-time process exited with {done.returncode}"
    reply = json.loads(done.stdout)
    figures = {(r["label"], r["path"]): {k: r.get(k) for k in KEYS} for r in reply["records"]}
    return figures, reply["add_us"], None


def _calls_per_round(op, host_calls: int) -> int:
    """Back-to-back calls per round: about 0.25 s of GPU work at most, so the closing sync of a
    round stays short (one timed call, synchronized, sets the scale)."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    op()
    torch.cuda.synchronize()
    one_call_us = (time.perf_counter() - t0) * 1e6
    return max(3, min(host_calls, int(0.25e6 / max(one_call_us, 1.0))))


def _measure(request: dict) -> dict:
    from bench import bench_decode as bd  # bench_decode imports this module: import late

    scratch = torch.zeros(1, device="cuda")
    add_us = timing.time_host(lambda: scratch.add_(1.0), calls=200).median
    paths = bd.make_paths(request["paths"], request["ref_budget_gib"])
    records = []
    points = [bd.Point(**p) for p in request["points"]]
    for i, point in enumerate(points):
        print(f"host time {i + 1}/{len(points)}: {point.label()}", file=sys.stderr, flush=True)
        try:
            inp = bd.make_inputs(point, request["seed"], request["lengths"])
        except Exception as exc:  # the parent records the inputs' failure itself
            print(f"  inputs: {exc}", file=sys.stderr)
            continue
        for path in paths:
            if path.skip_reason(point, inp):
                continue
            try:
                handles = path.prepare(point, inp)
            except Exception as exc:  # the parent's own first call reports it
                print(f"  {path.name}: {exc}", file=sys.stderr)
                continue
            if handles.op is None:
                continue
            calls = _calls_per_round(handles.op, bd._scaled(request["host_calls"], handles.iter_scale, 3))
            rec = {"label": point.label(), "path": path.name,
                   "host_us": timing.time_host(handles.op, calls=calls).to_dict()}
            if handles.op_into_buffers is not None:
                rec["host_out_us"] = timing.time_host(handles.op_into_buffers, calls=calls).to_dict()
            records.append(rec)
            del handles
        del inp
        torch.cuda.empty_cache()
    return {"add_us": add_us, "records": records}


def main() -> int:
    request = json.load(sys.stdin)
    json.dump(_measure(request), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
