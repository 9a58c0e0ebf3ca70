"""Host overhead of an eager call (issue 4, item 4; PERFORMANCE.md target 6: <= 20 us).

CPU: the shape of the call path that makes it cheap: one native call per operation, tensors
handed over as plain descriptions, never through a DLPack export (``__dlpack__`` costs several
microseconds a tensor, and the decode passes nine). GPU: the host time itself, measured the way
bench/timing.py and FlashMLA's run-3 figure do (back-to-back calls, no sync, wall time / calls).
"""

from __future__ import annotations

import time

import pytest
import torch

import cute_mla
from cute_mla import _launch
from gpu_marks import requires_sm90
from native_spy import native_spy  # noqa: F401  (fixture)

HOST_US_TARGET = 20.0


def _inputs(device="cpu", b=2, s_q=1, h_q=16, pages=4):
    q = torch.zeros(b, s_q, h_q, 576, dtype=torch.bfloat16, device=device)
    k_cache = torch.zeros(pages * b, 64, 1, 576, dtype=torch.bfloat16, device=device)
    block_table = torch.arange(pages * b, dtype=torch.int32, device=device).view(b, pages)
    seqlens = torch.full((b,), 100, dtype=torch.int32, device=device)
    return q, k_cache, block_table, seqlens


@pytest.fixture
def no_dlpack(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("a tensor was exported through DLPack on the eager path")
    monkeypatch.setattr(torch.Tensor, "__dlpack__", refuse)


def test_decode_is_one_native_call_without_dlpack(native_spy, no_dlpack):
    q, k_cache, block_table, seqlens = _inputs()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    out = torch.empty(2, 1, 16, 512, dtype=torch.bfloat16)
    lse = torch.empty(2, 16, 1)
    cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                    out=out, lse=lse)  # first call: sizes the workspace
    native_spy.calls.clear()
    for _ in range(5):
        cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                        out=out, lse=lse)
    assert dict(native_spy.calls) == {"decode_torch": 5}


def test_metadata_is_one_native_call_without_dlpack(native_spy, no_dlpack):
    seqlens = torch.tensor([100, 0, 7000], dtype=torch.int32)
    cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)  # fills the parts cache
    native_spy.calls.clear()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    assert dict(native_spy.calls) == {"plan_metadata_torch": 1}
    assert splits.tolist()[0] == 0 and meta.shape[1] == 8


@pytest.mark.parametrize("dtype, name", [(torch.int64, "int64"), (torch.float64, "float64"),
                                         (torch.uint8, "uint8"), (torch.bool, "bool"),
                                         (torch.bfloat16, "bfloat16")])
def test_tensors_are_read_without_dlpack(no_dlpack, dtype, name):
    """The native side reads torch tensors itself: dtypes named as torch names them, strided
    views read with their strides (the CPU planner runs on what it read)."""
    with pytest.raises(TypeError, match=rf"^cache_seqlens: expected dtype int32, got {name}$"):
        cute_mla.get_mla_metadata(torch.zeros(3, dtype=dtype), 16, 1, num_sms=8)
    base = torch.tensor([[100, -1], [0, -1], [7000, -1]], dtype=torch.int32)
    with pytest.raises(ValueError, match=r"^cache_seqlens: expected a contiguous tensor"):
        cute_mla.get_mla_metadata(base[:, 0], 16, 1, num_sms=8)
    want = cute_mla.get_mla_metadata(base[:, 0].contiguous(), 16, 1, num_sms=8)
    meta = torch.empty(want[0].shape[0], 16, dtype=torch.int32)[:, ::2]
    with pytest.raises(ValueError, match=r"^tile_scheduler_metadata: expected a contiguous"):
        cute_mla.get_mla_metadata(base[:, 0].contiguous(), 16, 1, out=(meta, want[1]))


def test_python_side_of_a_decode_call_is_cheap(native_spy):
    """Everything but the native call, timed on this CPU with the native call stubbed: the
    budget for the marshalling. Loose (a shared CI box), but far below the ~13 us a single
    DLPack export costs here, of which the old path made eighteen."""
    q, k_cache, block_table, seqlens = _inputs()
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1, num_sms=8)
    out = torch.empty(2, 1, 16, 512, dtype=torch.bfloat16)
    lse = torch.empty(2, 16, 1)

    def call():
        cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                        out=out, lse=lse)

    for _ in range(50):
        call()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            call()
        best = min(best, (time.perf_counter() - t0) / 200 * 1e6)
    print(f"python side of an eager decode call: {best:.1f} us")
    assert best < 40.0, f"{best:.1f} us of Python per call"


def _host_us(fn) -> float:
    """Median host wall time per call: the bench's method (bench/timing.py)."""
    from bench.timing import time_host  # pyproject.toml puts the repository root on sys.path
    return time_host(fn, calls=200, rounds=5, warmup=20).median


@requires_sm90
@pytest.mark.parametrize("preallocated", [False, True], ids=["allocating", "out_lse"])
def test_host_time_per_eager_call(preallocated):
    """b = 1, h_q = 16, L = 1024 (FlashMLA run 3: 89 us): the host time per eager call."""
    q, k_cache, block_table, seqlens = _inputs("cuda", b=1, h_q=16, pages=16)
    seqlens.fill_(1024)
    meta, splits = cute_mla.get_mla_metadata(seqlens, 16, 1)
    kw = {}
    if preallocated:
        kw = dict(out=torch.empty(1, 1, 16, 512, dtype=torch.bfloat16, device="cuda"),
                  lse=torch.empty(1, 16, 1, device="cuda"))

    def call():
        cute_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, 512, meta, splits,
                                        **kw)

    us = _host_us(call)
    print(f"host us per eager call ({'out/lse given' if preallocated else 'allocating'}): "
          f"{us:.1f}")
    assert us <= HOST_US_TARGET, f"{us:.1f} us per eager call, target {HOST_US_TARGET}"


@requires_sm90
def test_host_time_of_metadata_call():
    seqlens = torch.full((128,), 4096, dtype=torch.int32, device="cuda")
    us = _host_us(lambda: cute_mla.get_mla_metadata(seqlens, 128, 1))
    print(f"host us per get_mla_metadata call: {us:.1f}")
    assert us <= HOST_US_TARGET, f"{us:.1f} us per get_mla_metadata call"
