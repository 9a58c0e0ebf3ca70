"""Sweep the split planner's knobs at fixed points: whole op in a CUDA graph per configuration.

    python -m bench.split_sweep --points 1:1:128:1024,8:1:128:4096 --parts 8,16,33,66 --overhead 2,5,8 --min-blocks 2,4,8

    python -m bench.split_sweep --points 1:1:128:16384 --parts 66 --overhead 2 --min-blocks 4 --min-round up,down

Each point is b:s_q:h_q:L (h_kv = 1, causal when s_q > 1, lengths drawn as --lengths says). Each
configuration (parts, fixed overhead F, minimum part size) is planned on the host by a Python copy
of the planner's closed form (include/cute_mla/scheduler.hpp), checked against the planner's
specification (tests/planner_model.py), run once against the float32 reference with FlashMLA's
tolerances (outputs poisoned), then timed: graph replay after a 256 MiB L2 flush, median of
--replays. The plan the library makes by default is timed too ("default"). This is a tool for
choosing the planner's constants; the headline figures come from bench.bench_decode.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import torch

import cute_mla
from bench import timing
from cute_mla.reference import mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs, poison_
from bench.peer_lengths import POLICIES, lengths_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from planner_model import check_plan, parts_used  # noqa: E402

PAGE = 64


def plan(seqlens, parts: int, overhead: int, min_blocks: int, fill_blocks: int = 2,
         min_round: str = "up", fill_pieces: int = 0):
    """The planner's closed form (scheduler.hpp), any constants: (meta rows, num_splits).
    ``min_round="down"`` counts the parts of min_blocks as floor(T / min_blocks), the rule before
    2026-12-07 (the library rounds up), so one build times both."""
    costs = [max(1, math.ceil(s / PAGE)) + overhead for s in seqlens]
    prefix = [0]
    for c in costs:
        prefix.append(prefix[-1] + c)
    total = prefix[-1]
    used = parts_used(total, {"num_parts": parts, "min_blocks_per_part": min_blocks,
                              "fill_blocks_per_part": fill_blocks,
                              "fill_pieces_per_request": fill_pieces}, min_round, len(seqlens))

    def part_of(key):
        return ((key + 1) * used - 1) // total

    def part_begin(p):
        return p * total // used

    def first_part(i):
        return part_of(prefix[i] + overhead)

    def splits_of(i):
        return part_of(prefix[i + 1] - 1) - first_part(i) + 1

    def find(x):
        lo, hi = 0, len(seqlens) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if prefix[mid] <= x:
                lo = mid
            else:
                hi = mid - 1
        return lo

    rows = []
    for p in range(parts):
        empty = [0, 0, -1, 0, 0, 0, 0, 0]
        if p >= used:
            rows.append(empty)
            continue
        lo, hi = part_begin(p), part_begin(p + 1)
        if lo >= hi:
            rows.append(empty)
            continue
        br = find(lo)
        bb = max(0, lo - prefix[br] - overhead)
        er = find(hi - 1)
        eb = hi - 1 - prefix[er] - overhead
        if eb < 0:
            er -= 1
            if er < 0:
                rows.append(empty)
                continue
            eb = prefix[er + 1] - prefix[er] - overhead - 1
        if er < br or (er == br and eb < bb):
            rows.append(empty)
            continue
        flags = (1 if splits_of(br) > 1 else 0) | (2 if splits_of(er) > 1 else 0)
        rows.append([br, bb, er, eb + 1, p - first_part(br), flags, 0, 0])
    splits = [0]
    for i in range(len(seqlens)):
        splits.append(splits[-1] + splits_of(i))
    return rows, splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default="1:1:128:1024,1:1:16:16384,8:1:128:4096,32:1:128:1024",
                    help="comma-separated b:s_q:h_q:L")
    ap.add_argument("--parts", default="", help="parts per KV head (default: the library's count only)")
    ap.add_argument("--overhead", default="5", help="fixed overhead F per piece, in pages")
    ap.add_argument("--min-blocks", default="4", help="minimum pages per part")
    ap.add_argument("--fill-blocks", default="2",
                    help="pages per part when min-blocks parts would leave over half idle")
    ap.add_argument("--fill-pieces", default="0",
                    help="fill parts may use all the parts if that is at most this many per request "
                         "(0: at most half the parts; the library uses 24 for one query tile)")
    ap.add_argument("--min-round", default="up",
                    help="comma-separated 'up' (the library: ceil(T / min-blocks) parts) and/or 'down' "
                         "(floor, the rule before 2026-12-07)")
    ap.add_argument("--lengths", choices=POLICIES, default="graph-ref",
                    help="how each point's lengths are drawn (bench/peer_lengths.py)")
    ap.add_argument("--replays", type=int, default=30)
    ap.add_argument("--flush-mib", type=int, default=256)
    ap.add_argument("--no-default", action="store_true",
                    help="skip the library's own plan (e.g. so that a profiler's first decode launch is "
                         "the first swept configuration)")
    a = ap.parse_args()
    flusher = timing.L2Flusher(a.flush_mib << 20)
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    lines = []
    for pt in a.points.split(","):
        b, s_q, h_q, L = (int(x) for x in pt.split(":"))
        causal = s_q > 1
        inp = make_decode_inputs(b, s_q, h_q, 1, L, varlen=True, causal=causal,
                                 seqlens=lengths_for(a.lengths, b, L, s_q))
        ref_out, ref_lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens,
                                                512, softmax_scale=inp.softmax_scale, causal=causal)
        dmeta, dsplits = cute_mla.get_mla_metadata(inp.cache_seqlens, s_q * h_q, 1)
        configs = [] if a.no_default else [("default", dmeta, dsplits)]
        for parts, F, mb, fb, fp, rnd in itertools.product(ints(a.parts), ints(a.overhead),
                                                           ints(a.min_blocks), ints(a.fill_blocks),
                                                           ints(a.fill_pieces), a.min_round.split(",")):
            rows, splits = plan(inp.seqlens, parts, F, mb, fb, rnd, fp)
            meta = torch.tensor(rows, dtype=torch.int32)
            spl = torch.tensor(splits, dtype=torch.int32)
            if rnd == "up":  # the specification's part count; "down" is checked by its outputs only
                check_plan(inp.seqlens, meta, spl, {"num_parts": parts, "fixed_overhead_blocks": F,
                                                    "min_blocks_per_part": mb,
                                                    "fill_blocks_per_part": fb,
                                                    "fill_pieces_per_request": fp})
            name = f"P={parts} F={F} min={mb}{'' if rnd == 'up' else 'v'} fill={fb}" + (f"/{fp}" if fp else "")
            configs.append((name, meta.cuda(), spl.cuda()))
        out = torch.empty(b, s_q, h_q, 512, dtype=inp.q.dtype, device="cuda")
        lse = torch.empty(b, h_q, s_q, dtype=torch.float32, device="cuda")
        for name, meta, spl in configs:
            ws = torch.empty(cute_mla.decode_workspace_size(inp.q, inp.k_cache, meta), dtype=torch.uint8,
                             device="cuda")

            def call():
                cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, 512,
                                               meta, spl, causal=causal, out=out, lse=lse, workspace=ws)

            poison_(out)
            poison_(lse)
            call()
            torch.cuda.synchronize()
            check_close("out", out, ref_out.to(out.dtype), **OUT_TOLERANCE)
            check_close("lse", lse, ref_lse, **LSE_TOLERANCE)
            t = timing.time_graph_replay(call, flusher, replays=a.replays)
            pieces = int(spl[-1])
            busy = int((meta[:, 0] <= meta[:, 2]).sum())
            line = (f"b={b:<3} s_q={s_q} h_q={h_q:<3} L={L:<5} {name:<23} parts={meta.shape[0]:<3} "
                    f"busy={busy:<3} pieces={pieces:<4} graph={t.median:8.1f} us")
            print(line, flush=True)
            lines.append(line)
    print("\n".join(["", "==== split sweep (graph replay, median) ===="] + lines))


if __name__ == "__main__":
    main()
