"""Benchmark cute-mla's MLA decode (and the float32 reference) on the PERFORMANCE.md grid.

What is measured, per grid point and decode path (docs/PERFORMANCE.md, "Timing"):
  decode us    the decode kernel alone (names containing --decode-kernel), CUPTI via the
               torch profiler, L2 flushed before every call (--kernel-flush-gb, 8 GB as FlashMLA's
               test), median of --iters calls. Compares with FlashMLA's headline numbers.
  span us      GPU span of the whole op in the same profile: first kernel start to last kernel end
               (decode + combine; the flush and the metadata kernel excluded).
  graph us     the whole op captured in a CUDA graph (metadata planned before capture), replayed
               after a --flush-mib L2 flush, CUDA events around the replay only, median of
               --graph-replays. This is the headline "whole op" figure (the FA3 comparison's method).
  eager us     CUDA events around the Python call, started on an idle GPU (host time included).
  host us      host wall time per eager call: many back-to-back calls without sync, / count
               (out/lse allocated by the call, as FlashMLA's figure); host out us: the same with
               out=/lse= given (cute_mla only). Measured first, in a child process that never
               starts the profiler (bench/host_time.py: a CUPTI session raises every later
               launch's host cost), next to a bare torch.add_ measured the same way.
  metadata us  GPU span of get_mla_metadata (CUPTI), once per decode step in real use.
Derived: TFLOP/s and GB/s by PERFORMANCE.md's formulas with the mean of the actual lengths, ratios
to the copy and matmul ceilings measured at the start of this same run, FlashMLA's and FA3-MLA's
H100 figures where the reference tables have the point (bench/peers_h100.py), our time over the
best peer's, and PERFORMANCE.md's targets met / missed.

The grid (default, --grid): b in {1,8,32,128} x s_q in {1,2} (causal for 2) x h_q in
{8,16,32,64,128} x L in {1024,4096,8192,16384,32768}: 4*2*5*5 = 200 points per dtype; h_kv = 1,
page 64, lengths max(N(L, L/2), s_q), shuffled block table, NaN past each length. --b / --s-q /
--h-q / --seqlen replace an axis of the grid (off-grid values allowed) or, with --quick, filter the
quick points. --dtype both adds FP16 at the few points FlashMLA measured in FP16. The full grid
takes several minutes; on a lent GPU with a 10-minute limit, split it with the axis options.
--quick: b in {1,128}, s_q=1, h_q in {16,128}, L in {4096,16384}, plus b=128 s_q=2 h_q=128
L=16384 causal (9 points). --serving: the 7 points of FlashMLA's host-overhead and graph run
(docs/reference/flashmla-h100.md, run 3; b = 1, 8, 128); the summary then lists host us per call
and graph replay us next to FlashMLA's figures there.

A path that cannot run a point is recorded, never dropped: "unavailable" (e.g. the kernel raises
NotImplementedError), "skipped" (the reference's float32 gather over --ref-budget-gib), "oom",
"error". Outputs in --out: <tag>_<device>_<date>.json (build info, device, ceilings, every record
with its samples' spread and kernel names), .csv (one row per point and path), .png (roofline),
and a summary table printed last on stdout. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from bench import host_time, peer_lengths, peers_h100, report, timing
from bench.ceilings import Ceilings, gpu_state, measure_ceilings

GRID_B = (1, 8, 32, 128)
GRID_S_Q = (1, 2)
GRID_H_Q = (8, 16, 32, 64, 128)
GRID_SEQLEN = (1024, 4096, 8192, 16384, 32768)
H_KV = 1
PAGE_SIZE = 64
HEAD_DIM = 576  # 512 latent + 64 rope
HEAD_DIM_V = 512

#: (b, s_q, h_q, L) where FP16 is measured with --dtype both: the points FlashMLA measured in FP16.
FP16_POINTS = {
    (128, 1, 128, 4096), (128, 1, 128, 16384), (128, 2, 128, 8192), (128, 2, 128, 16384),
    (128, 1, 16, 16384), (128, 1, 64, 8192), (32, 2, 128, 8192),
}
#: --serving: the points of FlashMLA's host-overhead and graph run (flashmla-h100.md, run 3), b = 1, 8, 128.
SERVING_POINTS = [(k[1], k[2], k[3], k[4]) for k in peers_h100.FLASHMLA_RUN3 if k[0] == "bf16"]
#: --quick: both ends of batch and heads at two lengths, plus the compute-bound point.
QUICK_POINTS = [(b, 1, h, L) for b in (1, 128) for h in (16, 128) for L in (4096, 16384)] + [(128, 2, 128, 16384)]

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass(frozen=True)
class Point:
    """One benchmark configuration; causal exactly when s_q > 1 (PERFORMANCE.md's grid)."""

    b: int
    s_q: int
    h_q: int
    seqlen: int
    dtype: str = "bf16"
    h_kv: int = H_KV
    page_size: int = PAGE_SIZE

    @property
    def causal(self) -> bool:
        return self.s_q > 1

    def label(self) -> str:
        return f"b={self.b} s_q={self.s_q} h_q={self.h_q} L={self.seqlen}{' causal' if self.causal else ''} {self.dtype}"

    def peer_key(self) -> peers_h100.Key:
        return peers_h100.peer_key(self.dtype, self.b, self.s_q, self.h_q, self.seqlen, self.causal)


# ----------------------------------------------------------------------------------------------
# Choosing the points
# ----------------------------------------------------------------------------------------------

def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _with_dtypes(shapes: list[tuple[int, int, int, int]], dtype: str) -> list[Point]:
    """bf16 / fp16: every shape in that dtype; both: bf16 everywhere plus fp16 at FP16_POINTS, each
    right after its bf16 twin: measured minutes apart, the two differed by the GPU's drift over a
    run (the same plan 6.7 % apart at b=128 h_q=128 L=16K within one sweep, 2026-12-07), which
    target 7's 3 % cannot absorb."""
    if dtype in DTYPES:
        return [Point(*s, dtype=dtype) for s in shapes]
    return [Point(*s, dtype=d) for s in shapes for d in ("bf16", "fp16") if d == "bf16" or s in FP16_POINTS]


def select_points(args: argparse.Namespace) -> list[Point]:
    """The points of this run, in the order they are measured."""
    axes = {"b": args.b, "s_q": args.s_q, "h_q": args.h_q, "seqlen": args.seqlen}
    if args.quick or args.serving:
        preset = QUICK_POINTS if args.quick else SERVING_POINTS
        shapes = [s for s in preset
                  if all(vals is None or s[i] in vals for i, vals in enumerate(axes.values()))]
    else:
        shapes = [(b, s_q, h_q, L)
                  for b in (args.b or GRID_B)
                  for s_q in (args.s_q or GRID_S_Q)
                  for h_q in (args.h_q or GRID_H_Q)
                  for L in (args.seqlen or GRID_SEQLEN)]
    return _with_dtypes(shapes, args.dtype)


# ----------------------------------------------------------------------------------------------
# Counting (PERFORMANCE.md) and the decode paths
# ----------------------------------------------------------------------------------------------

def flashmla_counts(b: int, s_q: int, h_q: int, h_kv: int, mean_len: float) -> tuple[float, float]:
    """(FLOP, bytes) by FlashMLA's formulas; cute_mla.testing's copy where importable.

    The local formula keeps the peers' roofline points computable without the package.
    """
    try:
        from cute_mla.testing import flashmla_counts as counts

        return tuple(float(v) for v in counts(b, s_q, h_q, h_kv, mean_len))
    except ImportError:
        flop = b * h_q * s_q * (2 * HEAD_DIM * mean_len + 2 * mean_len * HEAD_DIM_V)
        nbytes = b * (s_q * h_q * HEAD_DIM * 2 + mean_len * h_kv * HEAD_DIM * 2 + s_q * h_q * HEAD_DIM_V * 2)
        return float(flop), float(nbytes)


@dataclasses.dataclass
class OpHandles:
    """What a path hands the timers for one point: callables with everything already planned."""

    op: Callable[[], object] | None  # the whole decode op (decode + combine), metadata planned
    metadata: Callable[[], object] | None  # planning alone, timed separately
    graph_note: str | None  # why the op is not captured in a graph; None = capture it
    output: tuple | None  # (out, lse) of the first call, kept for the cross-check
    iter_scale: float = 1.0  # fraction of the configured repetitions this path gets
    unavailable: str | None = None  # why op is None (e.g. NotImplementedError): metadata only
    has_decode_kernel: bool = True  # False: no kernel is expected to match --decode-kernel
    whole_op_fallback: str = "span"  # whole-op figure where there is no graph: "span" or "eager"
    op_into_buffers: Callable[[], object] | None = None  # op with out=/lse= given (host time only)


class CuteMlaPath:
    """The library under test: get_mla_metadata (on the GPU) + flash_mla_with_kvcache."""

    name = "cute_mla"

    def __init__(self):
        try:
            import cute_mla

            self.lib, self.import_error = cute_mla, None
        except ImportError as exc:
            self.lib, self.import_error = None, f"import cute_mla failed: {exc}"

    def skip_reason(self, point: Point, inp) -> str | None:
        return self.import_error

    def prepare(self, point: Point, inp) -> OpHandles:
        """Plan once and call once. A NotImplementedError from the op marks the path unavailable
        but keeps the metadata callable, so the planner is still timed."""
        lib = self.lib

        def metadata():
            return lib.get_mla_metadata(inp.cache_seqlens, point.s_q * point.h_q // point.h_kv, point.h_kv)

        sched, num_splits = metadata()

        def op():
            return lib.flash_mla_with_kvcache(
                inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, HEAD_DIM_V, sched, num_splits,
                softmax_scale=inp.softmax_scale, causal=inp.causal,
            )

        try:
            output = op()
        except NotImplementedError as exc:
            return OpHandles(op=None, metadata=metadata, graph_note=None, output=None, unavailable=_describe(exc))
        torch.cuda.synchronize()
        out, lse = torch.empty_like(output[0]), torch.empty_like(output[1])

        def op_into_buffers():
            return lib.flash_mla_with_kvcache(
                inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, HEAD_DIM_V, sched, num_splits,
                softmax_scale=inp.softmax_scale, causal=inp.causal, out=out, lse=lse,
            )

        return OpHandles(op=op, metadata=metadata, graph_note=None, output=output, op_into_buffers=op_into_buffers)


class ReferencePath:
    """The float32 per-request torch loop: a floor to beat and the cross-check of the output."""

    name = "reference"

    def __init__(self, budget_bytes: float):
        self.budget_bytes = budget_bytes
        try:
            from cute_mla.reference import mla_decode_reference

            self.fn, self.import_error = mla_decode_reference, None
        except ImportError as exc:
            self.fn, self.import_error = None, f"import cute_mla.reference failed: {exc}"

    def gather_bytes(self, point: Point, inp) -> float:
        """Size of the float32 gather the reference makes: b * max_len * h_kv * 576 * 4."""
        return point.b * max(inp.seqlens) * point.h_kv * HEAD_DIM * 4

    def skip_reason(self, point: Point, inp) -> str | None:
        if self.import_error:
            return self.import_error
        need = self.gather_bytes(point, inp)
        if need > self.budget_bytes:
            return f"reference too large ({need / 2**30:.1f} GiB float32 gather > {self.budget_bytes / 2**30:.1f} GiB)"
        return None

    def prepare(self, point: Point, inp) -> OpHandles:
        def op():
            return self.fn(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, head_dim_v=HEAD_DIM_V,
                           softmax_scale=inp.softmax_scale, causal=inp.causal)

        output = op()
        torch.cuda.synchronize()
        # A host loop: its CUPTI span stretches with the profiler's launch overhead, so its
        # whole-op figure is the eager call (host included, which is what it costs).
        return OpHandles(op=op, metadata=None, output=output, iter_scale=0.2,
                         graph_note="not captured: the reference is a host loop over requests",
                         has_decode_kernel=False, whole_op_fallback="eager")


def make_paths(names: list[str], ref_budget_gib: float) -> list:
    known = {"cute_mla": CuteMlaPath, "reference": lambda: ReferencePath(ref_budget_gib * 2**30)}
    return [known[n]() for n in names]


# ----------------------------------------------------------------------------------------------
# Measuring one point
# ----------------------------------------------------------------------------------------------

class ContextLost(RuntimeError):
    """The CUDA context is unusable (a sticky error such as an illegal address): stop measuring."""


@dataclasses.dataclass
class RunEnv:
    """State shared by every point of a run: flushers, the profiler calibration, the timers."""

    flusher: object  # graph / eager flush
    kernel_flusher: object  # CUPTI flush
    calib: object | None  # None: the profiler could not be calibrated; kernel figures are skipped
    timers: object = timing  # the timing module, or a stand-in for a dry run
    sync: Callable[[], None] = torch.cuda.synchronize
    empty_cache: Callable[[], None] = torch.cuda.empty_cache


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]


def _check_context(env: RunEnv) -> None:
    try:
        env.sync()
    except Exception as exc:
        raise ContextLost(_describe(exc)) from exc


def _guard(label: str, fn: Callable[[], object], notes: list[str], env: RunEnv):
    """Run one measurement; on failure note why and carry on unless the CUDA context is gone."""
    try:
        return fn()
    except ContextLost:
        raise
    except Exception as exc:
        notes.append(f"{label}: {'OOM' if _is_oom(exc) else _describe(exc)}")
        env.empty_cache()
        _check_context(env)
        return None


def _scaled(n: int, scale: float, floor: int) -> int:
    return max(floor, int(round(n * scale)))


def _metadata_alone(metadata: Callable[[], object], cfg: argparse.Namespace, env: RunEnv):
    """GPU span of the planner under CUPTI (events with a spin ahead if the profiler is unusable)."""
    t = env.timers
    if env.calib is None:
        return t.time_gpu_only(metadata)
    prof = t.profile_calls([("metadata", metadata)], env.kernel_flusher, env.calib, iters=cfg.iters)
    return t.summarize(prof["metadata"], decode_match=(), exclude=()).span_us


def _profile_op(handles: OpHandles, cfg: argparse.Namespace, env: RunEnv, stats: dict, notes: list[str]) -> None:
    """(a) decode kernel, GPU span and busy time, and (e) metadata, in one CUPTI session."""
    t = env.timers
    calls = [("op", handles.op)] + ([("metadata", handles.metadata)] if handles.metadata else [])
    iters = _scaled(cfg.iters, handles.iter_scale, 2)
    prof = _guard("profiler", lambda: t.profile_calls(calls, env.kernel_flusher, env.calib, iters=iters), notes, env)
    if prof is None:
        return
    op_sum = t.summarize(prof["op"], decode_match=cfg.decode_kernel, exclude=cfg.metadata_kernel)
    stats.update(decode_us=op_sum.decode_us, span_us=op_sum.span_us, busy_us=op_sum.busy_us)
    stats["kernels"] = {"per_call": op_sum.kernels_per_call, "names": op_sum.kernel_names}
    if op_sum.decode_us is None and op_sum.kernel_names and handles.has_decode_kernel:
        notes.append(f"no kernel name contains {','.join(cfg.decode_kernel)}")
    if handles.metadata is not None:
        stats["metadata_us"] = t.summarize(prof["metadata"], decode_match=(), exclude=()).span_us
        if stats["metadata_us"] is None:
            notes.append("metadata launched no GPU work")


def _time_calls(handles: OpHandles, cfg: argparse.Namespace, env: RunEnv, stats: dict, notes: list[str]) -> None:
    """(b) graph replay, (c) eager call. (Host time per call: bench/host_time.py, beforehand.)"""
    t, scale = env.timers, handles.iter_scale
    if handles.graph_note is None:
        replays = _scaled(cfg.graph_replays, scale, 3)
        stats["graph_us"] = _guard("graph", lambda: t.time_graph_replay(handles.op, env.flusher, replays=replays),
                                   notes, env)
    else:
        notes.append(handles.graph_note)
    iters = _scaled(cfg.eager_iters, scale, 3)
    stats["eager_us"] = _guard("eager", lambda: t.time_eager(handles.op, env.flusher, iters=iters), notes, env)


def measure(handles: OpHandles, cfg: argparse.Namespace, env: RunEnv) -> tuple[dict, dict, list[str]]:
    """All timings of one prepared op: (medians for the record, full stats for the JSON, notes)."""
    stats: dict = {}
    notes: list[str] = []
    if handles.op is None:  # the decode op is unavailable: time the planner alone
        if handles.metadata is not None:
            stats["metadata_us"] = _guard("metadata", lambda: _metadata_alone(handles.metadata, cfg, env), notes, env)
    else:
        if env.calib is not None:
            _profile_op(handles, cfg, env, stats, notes)
        elif handles.metadata is not None:
            stats["metadata_us"] = _guard("metadata", lambda: env.timers.time_gpu_only(handles.metadata), notes, env)
        _time_calls(handles, cfg, env, stats, notes)
    kernels = stats.pop("kernels", None)
    medians = {k: (v.median if v is not None else None) for k, v in stats.items()}
    full = {k: (v.to_dict() if v is not None else None) for k, v in stats.items()}
    if kernels is not None:
        medians.update(kernels_per_call=kernels["per_call"], kernel_names=kernels["names"])
        full["kernels"] = kernels
    return medians, full, notes


def compare_outputs(out, ref) -> dict:
    """‖out - ref‖ / ‖ref‖ and the largest absolute difference, in float32 (NaN shows as NaN)."""
    out, ref = out.float(), ref.float()
    diff = out - ref
    return {
        "rel_err_vs_reference": float(diff.norm() / ref.norm()),
        "max_abs_err_vs_reference": float(diff.abs().max()),
    }


def base_record(point: Point, path: str, lengths: list[int] | None, lengths_policy: str | None = None) -> dict:
    rec = {
        "dtype": point.dtype, "b": point.b, "s_q": point.s_q, "h_q": point.h_q, "h_kv": point.h_kv,
        "seqlen": point.seqlen, "causal": point.causal, "page_size": point.page_size, "path": path,
        "mean_len": sum(lengths) / len(lengths) if lengths else None,
        "max_len": max(lengths) if lengths else None, "lengths": lengths_policy,
    }
    return rec


def make_inputs(point: Point, seed: int, lengths: str = "graph-ref", device: str = "cuda"):
    """Inputs as PERFORMANCE.md says: varlen lengths (drawn as the ``lengths`` reference drew
    them, bench/peer_lengths.py), shuffled pages, NaN past each length."""
    from cute_mla.testing import make_decode_inputs

    return make_decode_inputs(point.b, point.s_q, point.h_q, point.h_kv, point.seqlen, varlen=True,
                              causal=point.causal, dtype=DTYPES[point.dtype], device=device,
                              page_size=point.page_size, seed=seed,
                              seqlens=peer_lengths.lengths_for(lengths, point.b, point.seqlen, point.s_q))


def run_point(point: Point, paths: list, cfg: argparse.Namespace, env: RunEnv, inputs_fn=make_inputs) -> list[dict]:
    """Every path at one point; inputs are made once and freed before returning."""
    try:
        inp = inputs_fn(point, cfg.seed, cfg.lengths)
    except Exception as exc:
        status = "oom" if _is_oom(exc) else "error"
        env.empty_cache()
        _check_context(env)
        return [dict(base_record(point, p.name, None, cfg.lengths), status=status, note=f"inputs: {_describe(exc)}") for p in paths]
    lengths = list(inp.seqlens)
    records, outputs = [], {}
    try:
        for path in paths:
            rec = base_record(point, path.name, lengths, cfg.lengths)
            records.append(rec)
            reason = path.skip_reason(point, inp)
            if reason:
                rec.update(status="skipped" if "too large" in reason else "unavailable", note=reason)
                continue
            try:
                handles = path.prepare(point, inp)
            except NotImplementedError as exc:
                rec.update(status="unavailable", note=_describe(exc))
                continue
            except Exception as exc:
                rec.update(status="oom" if _is_oom(exc) else "error", note=f"first call: {_describe(exc)}")
                env.empty_cache()
                _check_context(env)
                continue
            medians, full, notes = measure(handles, cfg, env)
            if handles.op is None:
                rec.update(status="unavailable", note="; ".join([handles.unavailable] + notes), stats=full, **medians)
                continue
            outputs[path.name] = handles.output
            out = handles.output[0] if isinstance(handles.output, (tuple, list)) else handles.output
            timed = any(medians.get(k) is not None for k in ("decode_us", "span_us", "graph_us", "eager_us"))
            rec.update(status="ok" if timed else "error", note="; ".join(notes), stats=full, **medians,
                       whole_op_fallback=handles.whole_op_fallback,
                       out_nonfinite=int((~torch.isfinite(out.float())).sum()))
            del handles
        cute, ref = outputs.get("cute_mla"), outputs.get("reference")
        if cute is not None and ref is not None:
            for rec in records:
                if rec["path"] == "cute_mla" and rec.get("status") == "ok":
                    rec.update(compare_outputs(cute[0], ref[0]))
    finally:
        del inp, outputs
        gc.collect()
        env.empty_cache()
    return records


# ----------------------------------------------------------------------------------------------
# Derived figures, peers and targets
# ----------------------------------------------------------------------------------------------

def derive(rec: dict, ceilings: Ceilings | None) -> dict:
    """Rates from PERFORMANCE.md's counts, ratios to this run's ceilings, and the peers' figures."""
    key = peers_h100.peer_key(rec["dtype"], rec["b"], rec["s_q"], rec["h_q"], rec["seqlen"], rec["causal"])
    rec.update(peers_h100.peer_figures(key, rec.get("lengths")))
    if rec.get("mean_len") is None:
        return rec
    flop, nbytes = flashmla_counts(rec["b"], rec["s_q"], rec["h_q"], rec["h_kv"], rec["mean_len"])
    rec.update(flop=flop, bytes=nbytes, intensity=flop / nbytes)
    fallback = rec.get("whole_op_fallback", "span")
    whole, source = (rec.get("graph_us"), "graph") if rec.get("graph_us") else (rec.get(f"{fallback}_us"), fallback)
    if whole:
        rec.update(whole_op_us=whole, whole_op_source=source)
        rec.update(_rates(flop, nbytes, whole, ceilings, suffix=""))
    if rec.get("decode_us"):
        rates = _rates(flop, nbytes, rec["decode_us"], ceilings, suffix="_decode")
        rec.update({k: v for k, v in rates.items() if k != "pct_matmul_decode"})
    ratio = lambda ours, peer: ours / peer if ours and peer else None
    rec["graph_vs_best_peer"] = ratio(rec.get("graph_us"), rec.get("best_peer_graph_us"))
    rec["decode_vs_flashmla"] = ratio(rec.get("decode_us"), rec.get("flashmla_decode_us"))
    rec["span_vs_flashmla"] = ratio(rec.get("span_us"), rec.get("flashmla_span_us"))
    return rec


def _rates(flop: float, nbytes: float, us: float, ceilings: Ceilings | None, suffix: str) -> dict:
    tflops, gbps = flop / us / 1e6, nbytes / us / 1e3
    out = {f"tflops{suffix}": tflops, f"gbps{suffix}": gbps}
    if ceilings is not None:
        out[f"pct_copy{suffix}"] = 100 * gbps / ceilings.copy_gbps
        out[f"pct_matmul{suffix}"] = 100 * tflops / ceilings.matmul_tflops
    return out


def _check(results: list, name: str, value, ok: Callable[[float], bool], want: str) -> None:
    if value is not None:
        results.append((name, ok(value), f"{name} ({want}): {value:.1f}"))


def evaluate_targets(rec: dict) -> dict:
    """PERFORMANCE.md's targets that apply to this record, as met / missed lists (cute_mla only)."""
    if rec.get("path") != "cute_mla" or rec.get("status") not in ("ok", "unavailable"):
        return rec  # an unavailable op may still have its planner timed (T6)
    b, s_q, h_q, L = rec["b"], rec["s_q"], rec["h_q"], rec["seqlen"]
    pct, graph, res = rec.get("pct_copy"), rec.get("graph_us"), []
    if b == 128 and h_q * s_q <= 64 and L in (4096, 16384):
        need = 95 if L == 16384 else 90
        _check(res, "T1 memory-bound % of copy", pct, lambda v: v >= need, f">= {need}")
    if b == 128 and h_q == 128 and s_q == 1 and L >= 8192:
        _check(res, "T2 knee % of copy", pct, lambda v: v >= 90, ">= 90")
    if h_q == 128 and s_q == 2:
        peers = [v for v in (rec.get("flashmla_graph_tflops"), rec.get("fa3_graph_tflops")) if v]
        if peers:
            _check(res, "T3 TFLOP/s vs best peer (graph)", rec.get("tflops"), lambda v: v >= max(peers), f">= {max(peers)}")
        if rec.get("flashmla_decode_tflops"):
            want = rec["flashmla_decode_tflops"]
            _check(res, "T3 TFLOP/s vs FlashMLA (decode kernel)", rec.get("tflops_decode"), lambda v: v >= want, f">= {want}")
    if b == 128 and L == 1024:
        _check(res, "T4 short-context % of copy", pct, lambda v: v >= 85, ">= 85")
    if b in (1, 8) and L >= 4096 and rec.get("graph_vs_best_peer") is not None:
        _check(res, "T5 graph / best peer", rec["graph_vs_best_peer"], lambda v: v <= 0.6, "<= 0.6")
    if b == 1 and L == 16384:
        _check(res, "T5 b=1 L=16K graph us", graph, lambda v: v < 15, "< 15")
    _check(res, "T6 host us per eager call", rec.get("host_us"), lambda v: v <= 20, "<= 20")
    _check(res, "T6 metadata GPU us", rec.get("metadata_us"), lambda v: v <= 10, "<= 10")
    if rec.get("graph_vs_best_peer") is not None:
        _check(res, "T8 graph / best peer", rec["graph_vs_best_peer"], lambda v: v <= 1.0, "<= 1.0")
    rec["targets_met"] = [name for name, ok, _ in res if ok]
    rec["targets_missed"] = [text for _, ok, text in res if not ok]
    return rec


def fp16_targets(records: list[dict]) -> None:
    """T7: FP16 within 3 % of BF16 (whole op), on points measured in both dtypes."""
    bf16 = {(r["path"], r["b"], r["s_q"], r["h_q"], r["seqlen"]): r for r in records if r["dtype"] == "bf16"}
    for rec in records:
        other = bf16.get((rec["path"], rec["b"], rec["s_q"], rec["h_q"], rec["seqlen"]))
        if rec["dtype"] != "fp16" or rec["path"] != "cute_mla" or other is None:
            continue
        if rec.get("whole_op_us") and other.get("whole_op_us"):
            ratio = rec["whole_op_us"] / other["whole_op_us"]
            entry = f"T7 fp16 / bf16 whole op (<= 1.03): {ratio:.3f}"
            key = "targets_met" if ratio <= 1.03 else "targets_missed"
            rec.setdefault(key, []).append("T7 fp16 / bf16" if key == "targets_met" else entry)


def peer_points(points: list[Point]) -> list[dict]:
    """Roofline markers for the peers' graph-replay figures at this run's points."""
    out = []
    for point in points:
        row = peers_h100.GRAPH_REPLAY.get(point.peer_key())
        if row is None:
            continue
        lengths = peer_lengths.graph_reference(point.b, point.seqlen, point.s_q)
        mean_len = sum(lengths) / len(lengths)
        flop, nbytes = flashmla_counts(point.b, point.s_q, point.h_q, point.h_kv, mean_len)
        for peer, field in (("FlashMLA", "flashmla_tflops"), ("FA3-MLA", "fa3_tflops")):
            out.append({"peer": peer, "intensity": flop / nbytes, "tflops": row[field], "point": point.label()})
    return out


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------

class Progress:
    """One status line on stderr (rewritten with \\r on a terminal, a line per point otherwise)."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 20):
        self.total, self.stream, self.width = total, stream, width
        self.start = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last_len = 0

    @staticmethod
    def _clock(seconds: float | None) -> str:
        if seconds is None:
            return "--:--"
        seconds = int(seconds)
        return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"

    def line(self, done: int, label: str) -> str:
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (self.total - done) if done else None
        filled = self.width * done // max(self.total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {done + 1}/{self.total} {label} | elapsed {self._clock(elapsed)} ETA {self._clock(eta)}"

    def update(self, done: int, label: str) -> None:
        text = self.line(done, label)
        if self.tty:
            self.stream.write("\r" + text.ljust(self.last_len))
            self.last_len = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        elapsed = self._clock(time.monotonic() - self.start)
        self.stream.write(("\r" if self.tty else "") + f"done: {self.total} points in {elapsed}".ljust(self.last_len) + "\n")
        self.stream.flush()


def build_info() -> dict | str:
    try:
        from cute_mla import _C

        return _C.build_info()
    except Exception as exc:  # the bench still runs (reference path, ceilings) without the module
        return f"unavailable: {_describe(exc)}"


def device_meta() -> dict:
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "device": props.name,
        "sm_count": props.multi_processor_count,
        "total_memory_gib": props.total_memory / 2**30,
        "l2_cache_mib": getattr(props, "L2_cache_size", 0) / 2**20,
        "capability": f"{props.major}.{props.minor}",
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
    }


def setup_env(cfg: argparse.Namespace, meta: dict) -> RunEnv:
    """Flush buffers and the profiler calibration; a failed calibration disables CUPTI figures only."""
    flusher = timing.L2Flusher(cfg.flush_mib * 2**20)
    try:
        kernel_flusher = timing.L2Flusher(int(cfg.kernel_flush_gb * 1e9))
    except Exception as exc:
        meta["kernel_flush_note"] = f"{_describe(exc)}; CUPTI runs use the {cfg.flush_mib} MiB flush"
        kernel_flusher = flusher
    meta["kernel_flush_bytes"] = kernel_flusher.nbytes
    meta["flush_bytes"] = flusher.nbytes
    try:
        calib = timing.calibrate(kernel_flusher)
        meta["profiler_calibration"] = calib.to_dict()
    except Exception as exc:
        calib = None
        meta["profiler_calibration"] = f"failed, kernel/span figures skipped: {_describe(exc)}"
    return RunEnv(flusher=flusher, kernel_flusher=kernel_flusher, calib=calib)


def add_host_figures(rec: dict, figures: dict) -> None:
    """The child's host times of this (point, path) into its record, where the point ran."""
    if rec.get("status") != "ok":
        return
    for key in host_time.KEYS:
        if figures.get(key) is not None:
            rec[key] = figures[key]["median"]
            rec.setdefault("stats", {})[key] = figures[key]


def run(cfg: argparse.Namespace, points: list[Point]) -> int:
    meta: dict = {"args": {k: v for k, v in vars(cfg).items()}, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    meta.update(device_meta())
    meta["build_info"] = build_info()
    meta["gpu_state_start"] = gpu_state()
    print(f"measuring ceilings on {meta['device']} ...", file=sys.stderr, flush=True)
    ceilings = measure_ceilings(cfg.copy_gib, cfg.matmul_n)
    meta["ceilings"] = ceilings.to_dict()
    # Host time first, in a process with no profiler; with it, what this host's CPU spends on the
    # cheapest CUDA op by the same method: host figures of different machines compare only
    # through it.
    print("host time per call (child process, no profiler) ...", file=sys.stderr, flush=True)
    host_figures, meta["host_add_us"], host_error = host_time.measure_in_child(cfg, points)
    meta["host_method"] = "child process that never starts the profiler (bench/host_time.py)"
    if host_error:
        meta["host_note"] = host_error
    env = setup_env(cfg, meta)
    paths = make_paths(cfg.paths, cfg.ref_budget_gib)
    records: list[dict] = []
    progress = Progress(len(points))
    for i, point in enumerate(points):
        progress.update(i, point.label())
        try:
            point_records = run_point(point, paths, cfg, env)
            for rec in point_records:
                add_host_figures(rec, host_figures.get((point.label(), rec["path"]), {}))
            records.extend(point_records)
        except ContextLost as exc:
            meta["aborted"] = f"CUDA context lost at {point.label()}: {exc}"
            for rest in points[i:]:
                records.extend(dict(base_record(rest, p.name, None, cfg.lengths), status="error", note=meta["aborted"]) for p in paths)
            break
    progress.close()
    del env
    gc.collect()
    torch.cuda.empty_cache()
    if "aborted" not in meta:
        meta["ceilings_end"] = measure_ceilings(cfg.copy_gib, cfg.matmul_n).to_dict()
    meta["gpu_state_end"] = gpu_state()
    meta["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for rec in records:
        evaluate_targets(derive(rec, ceilings))
    fp16_targets(records)
    write_outputs(cfg, meta, records, points)
    return 1 if "aborted" in meta else 0


def write_outputs(cfg: argparse.Namespace, meta: dict, records: list[dict], points: list[Point]) -> None:
    """JSON, CSV, PNG, then the summary table last on stdout (and in --summary-file)."""
    meta["peer_sources"] = ["docs/reference/flashmla-h100.md", "docs/reference/flashmla-fa3-h100.md"]
    stem = report.output_stem(Path(cfg.out), cfg.tag, meta.get("device", "unknown"))
    written = [report.write_json(stem.with_suffix(".json"), meta, records),
               report.write_csv(stem.with_suffix(".csv"), records)]
    if not cfg.no_plot:
        note = report.plot_roofline(stem.with_suffix(".png"), records, meta, peer_points(points))
        if note:
            print(note, file=sys.stderr)
        else:
            written.append(stem.with_suffix(".png"))
    table = report.summary_table(records, meta)
    if meta.get("aborted"):
        table += f"\nABORTED: {meta['aborted']}"
    table += "\nwritten: " + ", ".join(str(p) for p in written)
    if cfg.summary_file:
        Path(cfg.summary_file).write_text(table + "\n")
    print(table, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--grid", action="store_true", help="the full PERFORMANCE.md grid (default)")
    which.add_argument("--quick", action="store_true", help="9 points: a smoke run of every method")
    which.add_argument("--serving", action="store_true",
                       help="FlashMLA's run-3 points (b = 1, 8, 128): host time per call and graph replay next to its figures")
    p.add_argument("--b", type=_int_list, help="batch sizes, e.g. 1,128")
    p.add_argument("--s-q", type=_int_list, help="query tokens per request (s_q > 1 is causal)")
    p.add_argument("--h-q", type=_int_list, help="query heads")
    p.add_argument("--seqlen", type=_int_list, help="target lengths L (lengths drawn as max(N(L, L/2), s_q), see --lengths)")
    p.add_argument("--dtype", choices=("bf16", "fp16", "both"), default="bf16",
                   help="both = bf16 everywhere plus fp16 at FlashMLA's fp16 points (default bf16)")
    p.add_argument("--paths", default="cute_mla,reference",
                   help="decode paths, comma-separated from cute_mla,reference (default both)")
    p.add_argument("--out", default="bench/results", help="output directory (default bench/results)")
    p.add_argument("--tag", default="decode", help="file-name prefix (default decode)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG roofline")
    p.add_argument("--copy-gib", type=float, default=4.0, help="copy-ceiling buffer in GiB (default 4; smaller reads lower)")
    p.add_argument("--matmul-n", type=int, default=8192, help="matmul ceiling size n for n^3 (default 8192)")
    p.add_argument("--iters", type=int, default=10, help="profiled (CUPTI) calls per point (default 10)")
    p.add_argument("--graph-replays", type=int, default=30, help="graph replays per point (default 30)")
    p.add_argument("--eager-iters", type=int, default=30, help="timed eager calls per point (default 30)")
    p.add_argument("--host-calls", type=int, default=100, help="back-to-back calls per host-time round (default 100)")
    p.add_argument("--flush-mib", type=int, default=256, help="L2 flush before graph/eager calls (default 256 MiB)")
    p.add_argument("--kernel-flush-gb", type=float, default=8.0,
                   help="L2 flush before profiled calls, GB (default 8, as FlashMLA's test; adds idle time)")
    p.add_argument("--decode-kernel", default="decode",
                   help="comma-separated substrings (any case) of the decode kernel's function name or first "
                        "template argument, e.g. device_kernel<...DecodeKernelSm90 (default decode); kernels "
                        "with 'combine' in theirs are never counted as decode")
    p.add_argument("--metadata-kernel", default="metadata",
                   help="substrings (any case) of kernels excluded from the op's span (default metadata)")
    p.add_argument("--ref-budget-gib", type=float, default=2.0,
                   help="largest float32 gather the reference may make, b*max_len*h_kv*576*4 (default 2 GiB)")
    p.add_argument("--lengths", choices=peer_lengths.POLICIES,
                   help="how the KV lengths are drawn: as the peer reference to compare with drew them "
                        "(bench/peer_lengths.py). graph-ref: flashmla-fa3-h100.md's whole-op graph figures "
                        "(the default); kernel-ref: flashmla-h100.md's decode-kernel, span and run-3 figures "
                        "(the default with --serving); seeded: this project's own draw with --seed. Each "
                        "record is compared only with the peer figures measured on its lengths")
    p.add_argument("--seed", type=int, default=0,
                   help="input seed (default 0): the tensors' values, and the lengths with --lengths seeded")
    p.add_argument("--summary-file", help="also write the summary table to this file")
    p.add_argument("--list", action="store_true", help="print the points and exit (no GPU needed)")
    args = p.parse_args(argv)
    args.paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    unknown = set(args.paths) - {"cute_mla", "reference"}
    if unknown or not args.paths:
        p.error(f"--paths: unknown {sorted(unknown)}; choose from cute_mla,reference")
    if args.lengths is None:
        args.lengths = "kernel-ref" if args.serving else "graph-ref"
    args.decode_kernel = tuple(s for s in args.decode_kernel.split(",") if s)
    args.metadata_kernel = tuple(s for s in args.metadata_kernel.split(",") if s)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    points = select_points(args)
    if args.list:
        for point in points:
            print(point.label())
        print(f"{len(points)} points")
        return 0
    if not points:
        print("no points match the filters", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("bench_decode needs a CUDA device (use --list to see the points without one)", file=sys.stderr)
        return 2
    return run(args, points)


if __name__ == "__main__":
    sys.exit(main())
