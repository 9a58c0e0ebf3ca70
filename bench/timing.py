"""Timing helpers for one op: kernel time under CUPTI, graph replay, eager call, host CPU, metadata.

Why several methods (docs/PERFORMANCE.md, "Timing"): each answers a different question, and each
peer figure was taken with one of them, so a comparison is only fair method for method.
  (a) ``profile_calls`` + ``summarize``: the torch profiler (CUPTI) records every GPU activity; we
      report the decode kernel alone (FlashMLA's headline method) and the GPU span of the whole op
      (first start to last end of its kernels; metadata and flush excluded). An L2 flush precedes
      every call, so each call reads its inputs from HBM as in a real decode step.
  (b) ``time_graph_replay``: the op captured in a CUDA graph, replayed after a flush, events around
      the replay only: what an engine running decode in graphs sees (the FA3 comparison's method).
  (c) ``time_eager``: events around the Python call, started on an idle GPU, so host time counts.
  (d) ``time_host``: host wall time per call over many back-to-back calls, no sync inside.
  (e) metadata: ``profile_calls`` on get_mla_metadata (or ``time_gpu_only`` as a fallback).
All figures are medians over many calls (``Stat`` keeps min / max so spread stays visible).

How profiled calls are told apart without trusting kernel names: before each call we launch the
flush and then a marker kernel (``torch.cuda._sleep``, a kernel no op launches). The GPU timeline
is cut at the markers; each window holds one call's activities followed by the next flush, whose
length and names ``calibrate`` measured once. A wrong cut raises ``SegmentationError``.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import time
import warnings
from typing import Callable, Iterable, Sequence

import torch

# torch.profiler warns on every session that events do not accumulate across cycles; we use
# one cycle per session, so the warning says nothing here.
warnings.filterwarnings("ignore", message=".*Profiler clears events at the end of each cycle.*")

#: Cycles of the marker kernel: long enough to be a distinct activity, short enough not to matter.
MARKER_CYCLES = 1000
#: Cycles a spin kernel keeps the stream busy so the host can enqueue events and work ahead (~50 us).
SPIN_AHEAD_CYCLES = 100_000
#: Profiler activity kinds that are real GPU work (annotations and runtime calls are not).
GPU_WORK_KINDS = ("kernel", "gpu_memcpy", "gpu_memset")


@dataclasses.dataclass
class Stat:
    """Median and spread of a series of samples in microseconds."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> "Stat":
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class L2Flusher:
    """Writes a buffer larger than L2 (50 MiB on the H100) so the next call finds a cold cache.

    A larger write also gives the GPU a little idle ("chill") time between calls, as FlashMLA's
    8 GB memset does; the size used is recorded with the results.
    """

    def __init__(self, nbytes: int):
        self.nbytes = int(nbytes)
        self.buffer = torch.empty(self.nbytes // 4, dtype=torch.int32, device="cuda")

    def __call__(self) -> None:
        self.buffer.zero_()


def marker() -> None:
    """Launch the marker kernel that separates profiled calls on the GPU timeline."""
    torch.cuda._sleep(MARKER_CYCLES)


@dataclasses.dataclass(frozen=True)
class Activity:
    """One GPU activity from the profiler: a kernel, memcpy or memset."""

    name: str
    start_ns: float
    dur_ns: float

    @property
    def end_ns(self) -> float:
        return self.start_ns + self.dur_ns


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What the marker and the flush look like on the timeline of this torch build and device."""

    marker_name: str
    flush_names: frozenset[str]
    flush_count: int  # activities one flush launches

    def to_dict(self) -> dict:
        return {"marker_name": self.marker_name, "flush_names": sorted(self.flush_names), "flush_count": self.flush_count}


class SegmentationError(RuntimeError):
    """The profiled timeline did not have the marker/flush structure the calls were issued with."""


def _cuda_profile():
    return torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA])


def device_activities(prof) -> list[Activity]:
    """GPU work activities of a finished profile, ordered by start time.

    Reads the raw kineto events (ns resolution); falls back to ``prof.events()`` (us) where the
    raw results are not exposed.
    """
    cuda = torch.autograd.DeviceType.CUDA
    acts = []
    try:
        device_events = [ev for ev in prof.profiler.kineto_results.events() if ev.device_type() == cuda]
        work = [ev for ev in device_events if ev.activity_type() in GPU_WORK_KINDS]
        if not work:  # an unexpected activity-type spelling: keep everything but annotations
            work = [ev for ev in device_events if "annotation" not in ev.activity_type().lower()]
        acts = [Activity(ev.name(), float(ev.start_ns()), float(ev.duration_ns())) for ev in work]
    except AttributeError:
        for ev in prof.events():
            if getattr(ev, "device_type", None) != cuda or "annotation" in str(getattr(ev, "activity_type", "")):
                continue
            acts.append(Activity(ev.name, ev.time_range.start * 1e3, ev.time_range.elapsed_us() * 1e3))
    acts.sort(key=lambda a: a.start_ns)
    return acts


def _marker_positions(acts: Sequence[Activity], marker_name: str) -> list[int]:
    return [i for i, a in enumerate(acts) if a.name == marker_name]


def calibrate(flusher: L2Flusher) -> Calibration:
    """Profile the marker alone, then flush+marker, to learn their names and the flush's length."""
    for _ in range(2):  # the first profiler session of a process may start CUPTI late: use the second
        with _cuda_profile() as prof:
            for _ in range(3):
                marker()
            torch.cuda.synchronize()
    acts = device_activities(prof)
    names = {a.name for a in acts}
    if len(acts) != 3 or len(names) != 1:
        raise SegmentationError(f"marker calibration: expected 3 activities of one name, got {[a.name for a in acts]}")
    marker_name = names.pop()

    with _cuda_profile() as prof:
        for _ in range(3):
            flusher()
            marker()
        torch.cuda.synchronize()
    acts = device_activities(prof)
    pos = _marker_positions(acts, marker_name)
    if len(pos) != 3:
        raise SegmentationError(f"flush calibration: expected 3 markers, found {len(pos)}")
    windows = [acts[:pos[0]], acts[pos[0] + 1:pos[1]], acts[pos[1] + 1:pos[2]]]
    counts = {len(w) for w in windows}
    if len(counts) != 1 or 0 in counts:
        raise SegmentationError(f"flush calibration: activities per flush differ or are zero: {[len(w) for w in windows]}")
    return Calibration(marker_name, frozenset(a.name for w in windows for a in w), counts.pop())


def segment_activities(acts: Sequence[Activity], calib: Calibration, n_calls: int) -> list[list[Activity]]:
    """Cut a timeline issued as (flush, marker, call) x n_calls, then (flush, marker), into calls.

    Returns each call's activities in order. Pure Python, so it is checkable without a GPU.
    """
    pos = _marker_positions(acts, calib.marker_name)
    if len(pos) != n_calls + 1:
        raise SegmentationError(f"expected {n_calls + 1} markers, found {len(pos)}")
    calls = []
    for j in range(n_calls):
        window = list(acts[pos[j] + 1:pos[j + 1]])
        body, flush = window[:len(window) - calib.flush_count], window[len(window) - calib.flush_count:]
        if len(flush) != calib.flush_count or any(a.name not in calib.flush_names for a in flush):
            raise SegmentationError(f"call {j}: the window does not end with the flush: {[a.name for a in window]}")
        calls.append(body)
    return calls


def profile_calls(
    calls: Sequence[tuple[str, Callable[[], object]]],
    flusher: L2Flusher,
    calib: Calibration,
    iters: int = 10,
    warmup: int = 3,
) -> dict[str, list[list[Activity]]]:
    """Run each labelled callable `iters` times under CUPTI, flush + marker before each call.

    Returns, per label, one list of GPU activities per call.
    """
    for _, fn in calls:
        for _ in range(warmup):
            flusher()
            fn()
    torch.cuda.synchronize()
    with _cuda_profile() as prof:
        for _ in range(iters):
            for _, fn in calls:
                flusher()
                marker()
                fn()
        flusher()
        marker()
        torch.cuda.synchronize()
    segments = segment_activities(device_activities(prof), calib, iters * len(calls))
    return {label: segments[k::len(calls)] for k, (label, _) in enumerate(calls)}


def kernel_base_name(name: str) -> str:
    """What a kernel is called, for matching: its function name plus its first template argument.

    Drops the return type, the parameter list and deeper template arguments, so that a substring
    such as "decode" does not hit a parameter type of another kernel. The first template argument
    stays because CUTLASS-style kernels are launched through a generic entry point:
    ``void cutlass::device_kernel<cute_mla::kernel::DecodeKernelSm90<...> >(Params)`` gives
    ``cutlass::device_kernel<cute_mla::kernel::DecodeKernelSm90``.
    """
    name = name.replace("(anonymous namespace)", "anonymous")
    depth, end = 0, len(name)
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            end = i
            break
    signature = name[:end].strip()
    lt = signature.find("<")
    head = signature if lt == -1 else signature[:lt]
    words = head.split()
    function = words[-1] if words else head
    if lt == -1:
        return function
    first_arg = re.match(r"\s*([^<>,]*)", signature[lt + 1:]).group(1).strip()
    return f"{function}<{first_arg}"


def _matches(name: str, substrings: Iterable[str]) -> bool:
    """Case-insensitive: "decode" matches decode_kernel_sm90 and DecodeKernelSm90 alike."""
    base = kernel_base_name(name).lower()
    return any(s and s.lower() in base for s in substrings)


@dataclasses.dataclass
class KernelSummary:
    """Per-call figures of one profiled callable (None where nothing matched)."""

    decode_us: Stat | None  # sum of the matching kernels' durations per call
    span_us: Stat | None  # first start to last end of the call's kernels (flush, metadata excluded)
    busy_us: Stat | None  # sum of the call's kernel durations (overlap counted twice)
    kernels_per_call: int
    kernel_names: list[str]

    def to_dict(self) -> dict:
        return {
            "decode_us": self.decode_us.to_dict() if self.decode_us else None,
            "span_us": self.span_us.to_dict() if self.span_us else None,
            "busy_us": self.busy_us.to_dict() if self.busy_us else None,
            "kernels_per_call": self.kernels_per_call,
            "kernel_names": self.kernel_names,
        }


def summarize(
    per_call: Sequence[Sequence[Activity]],
    decode_match: Sequence[str] = ("decode",),
    decode_exclude: Sequence[str] = ("combine",),
    exclude: Sequence[str] = ("metadata",),
) -> KernelSummary:
    """Decode-kernel time, GPU span and busy time per call, medians over the calls."""
    decode, span, busy = [], [], []
    names: list[str] = []
    n_kernels = 0
    for acts in per_call:
        acts = [a for a in acts if not _matches(a.name, exclude)]
        n_kernels = max(n_kernels, len(acts))
        for a in acts:
            if a.name not in names:
                names.append(a.name)
        if not acts:
            continue
        span.append((max(a.end_ns for a in acts) - min(a.start_ns for a in acts)) / 1e3)
        busy.append(sum(a.dur_ns for a in acts) / 1e3)
        matched = [a for a in acts if _matches(a.name, decode_match) and not _matches(a.name, decode_exclude)]
        if matched:
            decode.append(sum(a.dur_ns for a in matched) / 1e3)
    return KernelSummary(
        decode_us=Stat.of(decode) if decode else None,
        span_us=Stat.of(span) if span else None,
        busy_us=Stat.of(busy) if busy else None,
        kernels_per_call=n_kernels,
        kernel_names=names,
    )


def _event_pairs(n: int) -> list[tuple[torch.cuda.Event, torch.cuda.Event]]:
    return [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]


def capture_graph(fn: Callable[[], object], warmup: int = 3) -> "torch.cuda.CUDAGraph":
    """`fn` captured in a CUDA graph, replayed once and synchronised. Warm-up runs on a side
    stream, as torch recommends before capture. Call ``reset()`` on it when done."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    graph.replay()
    torch.cuda.synchronize()
    return graph


def time_graph_replay(fn: Callable[[], object], flusher: L2Flusher, replays: int = 30, warmup: int = 3) -> Stat:
    """Capture `fn` in a CUDA graph and time its replays, each after a flush (events around replay).

    `fn` must already have its metadata planned (outside the graph), as an engine does per step.
    """
    graph = capture_graph(fn, warmup)
    pairs = _event_pairs(replays)
    for start, end in pairs:
        flusher()
        start.record()
        graph.replay()
        end.record()
    torch.cuda.synchronize()
    graph.reset()
    return Stat.of([s.elapsed_time(e) * 1e3 for s, e in pairs])


def time_eager(fn: Callable[[], object], flusher: L2Flusher, iters: int = 30, warmup: int = 3) -> Stat:
    """Events around the Python call, the GPU idle when the call starts, so host time is included.

    (Recording right after the flush instead would let the flush hide the host's work.)
    """
    def idle_and_cold():
        flusher()
        torch.cuda.synchronize()

    return _time_with_events(fn, idle_and_cold, iters, warmup)


def time_host(fn: Callable[[], object], calls: int = 100, rounds: int = 3, warmup: int = 3) -> Stat:
    """Host wall time per call, us: `calls` back-to-back calls with no sync, the closing sync excluded.

    Median over `rounds` rounds. The GPU may lag behind; that is the point: what the host spends.
    """
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    per_call = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        per_call.append((t1 - t0) / calls * 1e6)
    return Stat.of(per_call)


def time_gpu_only(fn: Callable[[], object], iters: int = 30, warmup: int = 3) -> Stat:
    """GPU time of a short call with events, host launch cost hidden behind a spin kernel.

    The spin keeps the stream busy while the host enqueues the start event, the call and the end
    event, so the events bracket GPU work only. Used for metadata when the profiler is unavailable.
    """
    return _time_with_events(fn, lambda: torch.cuda._sleep(SPIN_AHEAD_CYCLES), iters, warmup)


def _time_with_events(fn: Callable[[], object], before: Callable[[], object], iters: int,
                      warmup: int) -> Stat:
    """Median-ready samples, us, of CUDA events around `fn`, `before` run ahead of each call."""
    for _ in range(warmup):
        fn()
    samples = []
    for start, end in _event_pairs(iters):
        before()
        start.record()
        fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3)
    return Stat.of(samples)

