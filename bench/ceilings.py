"""The two ceilings every kernel figure is divided by, measured in the same process as the kernel.

Machines differ and drift (clock, power cap, temperature), so a ratio to a ceiling taken in the same
run holds where an absolute figure from another day does not (docs/PERFORMANCE.md):
  - copy ceiling: a large device-to-device ``y.copy_(x)``, bytes read + written, median after warm-up;
  - matmul ceiling: ``torch.matmul`` of 8192^3 bf16 random matrices (never zeros), median.

Run alone: ``python -m bench.ceilings [--copy-gib 4] [--matmul-n 8192]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch


@dataclasses.dataclass
class Ceilings:
    """Both ceilings with the samples they came from, so drift within a series stays visible."""

    device: str
    copy_bytes: int  # bytes moved by one copy: read + written
    copy_gbps: float  # median
    copy_samples_us: list[float]
    matmul_n: int
    matmul_tflops: float  # median
    matmul_samples_us: list[float]
    started_at: str
    finished_at: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def now_iso() -> str:
    """Local wall-clock time with its UTC offset, for records that outlive the run."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def time_with_events(fn, iters: int, warmup: int, warmup_s: float) -> list[float]:
    """Per-call GPU times in us, one pair of CUDA events around each call.

    Warm-up: at least `warmup` calls and at least `warmup_s` seconds. Suitable for long single
    kernels (ms): the host launch cost is hidden behind the previous call.
    """
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_s:
        fn()
        done += 1
        if done % 4 == 0:
            torch.cuda.synchronize()  # measure GPU time, not how fast the host enqueues
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for start, end in pairs:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) * 1e3 for start, end in pairs]


def measure_copy(gib: float = 4.0, iters: int = 15, warmup: int = 3) -> tuple[int, float, list[float]]:
    """(bytes per copy, median GB/s, samples) of ``y.copy_(x)`` over `gib` GiB of float32.

    Bytes counted are read + written (2 x size), as the peers' ceilings count them. Smaller copies
    reach less (512 MiB gave ~2550 GB/s against ~3030 at 4 GiB on the H100): keep 4 GiB for reports.
    Warm-up lasts at least 0.25 s: after a benchmark run the first ~10 copies of 4 GiB ran at
    ~2600 GB/s, then 3027 (H100, 2026-11-22; FlashMLA's notes saw the same).
    """
    numel = int(gib * 2**30) // 4
    x = torch.empty(numel, dtype=torch.float32, device="cuda").uniform_()
    y = torch.empty_like(x)
    samples = time_with_events(lambda: y.copy_(x), iters, warmup, warmup_s=0.25)
    del x, y
    torch.cuda.empty_cache()
    nbytes = 2 * numel * 4
    return nbytes, nbytes / (statistics.median(samples) * 1e-6) / 1e9, samples


def measure_matmul(n: int = 8192, iters: int = 20, warmup: int = 3, chill_s: float = 1.0) -> tuple[float, list[float]]:
    """(median TFLOP/s, samples) of a bf16 n x n x n ``torch.matmul`` on random data.

    A short burst (~35 ms) after `chill_s` of idle time: the figure is the burst rate that
    PERFORMANCE.md quotes (~790 on the H100). Longer back-to-back work hits the power cap: a
    0.25 s warm-up (~180 products) dropped the series to 607 TFLOP/s on the H100 (2026-11-22).
    """
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    c = torch.empty(n, n, dtype=torch.bfloat16, device="cuda")
    torch.cuda.synchronize()
    time.sleep(chill_s)
    samples = time_with_events(lambda: torch.matmul(a, b, out=c), iters, warmup, warmup_s=0.0)
    del a, b, c
    torch.cuda.empty_cache()
    return 2 * n**3 / (statistics.median(samples) * 1e-6) / 1e12, samples


def measure_ceilings(copy_gib: float = 4.0, matmul_n: int = 8192) -> Ceilings:
    """Both ceilings on the current CUDA device."""
    started = now_iso()
    copy_bytes, copy_gbps, copy_samples = measure_copy(copy_gib)
    matmul_tflops, matmul_samples = measure_matmul(matmul_n)
    return Ceilings(
        device=torch.cuda.get_device_name(),
        copy_bytes=copy_bytes,
        copy_gbps=copy_gbps,
        copy_samples_us=copy_samples,
        matmul_n=matmul_n,
        matmul_tflops=matmul_tflops,
        matmul_samples_us=matmul_samples,
        started_at=started,
        finished_at=now_iso(),
    )


def gpu_state() -> dict:
    """SM clock, power and temperature now, where NVML is reachable through torch (else empty).

    Compute-bound figures move ~10 % with the power cap; this lets a reader see the state.
    """
    state = {}
    for key, getter in (("sm_clock_mhz", "clock_rate"), ("power_mw", "power_draw"), ("temperature_c", "temperature")):
        try:
            state[key] = getattr(torch.cuda, getter)()
        except Exception:  # NVML missing or unsupported: the state is optional context
            pass
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copy-gib", type=float, default=4.0, help="size of the copied buffer (default 4 GiB)")
    parser.add_argument("--matmul-n", type=int, default=8192, help="matmul size n for n^3 (default 8192)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench.ceilings needs a CUDA device")
    ceilings = measure_ceilings(args.copy_gib, args.matmul_n)
    print(json.dumps({k: v for k, v in ceilings.to_dict().items() if not k.endswith("_samples_us")}, indent=2))


if __name__ == "__main__":
    main()
