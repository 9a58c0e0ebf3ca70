"""The split planner on the CPU path (same C++ functions the metadata kernel runs): its
invariants on fixed corner cases and on randomly generated batches (a small property-based
test with shrinking, seeded so failures reproduce)."""

from __future__ import annotations

import random

import pytest
import torch

import cute_mla
from planner_model import check_plan, pages, parts_used

C = pytest.importorskip("cute_mla._C", reason="the compiled module is not installed")


def plan(seqlens, num_sms=132, rows=64, heads_k=1):
    t = torch.tensor(seqlens, dtype=torch.int32)
    meta, splits = cute_mla.get_mla_metadata(t, rows, heads_k, num_sms=num_sms)
    config = C.scheduler_config(num_sms, heads_k, rows)
    return meta, splits, config


def test_outputs_are_cpu_int32_with_flashmla_shapes():
    meta, splits, config = plan([100, 5000, 0, 20000])
    assert meta.dtype == torch.int32 and splits.dtype == torch.int32
    assert meta.shape == (config["num_parts"], 8) and splits.shape == (5,)
    assert meta.device.type == "cpu"


@pytest.mark.parametrize("seqlens", [
    [0], [1], [63], [64], [65], [0, 0, 0], [1] * 7, [131072], [64 * 1000 + 1],
    [100, 5000, 0, 20000], [4096] * 128, [0, 4096] * 64, [1, 2, 3, 4, 5, 6, 7, 8] * 16,
], ids=lambda s: f"b{len(s)}-max{max(s)}")
@pytest.mark.parametrize("num_sms", [1, 2, 7, 66, 132, 264])
def test_invariants_on_corner_cases(seqlens, num_sms):
    meta, splits, config = plan(seqlens, num_sms=num_sms)
    check_plan(seqlens, meta, splits, config)


@pytest.mark.parametrize("b", [1, 2, 127, 1024, 16384])
def test_invariants_across_batch_sizes(b):
    rng = random.Random(b)
    seqlens = [rng.choice([0, 1, 63, 64, 65, rng.randint(0, 40000)]) for _ in range(b)]
    meta, splits, config = plan(seqlens)
    check_plan(seqlens, meta, splits, config)


@pytest.mark.parametrize("rows,heads_k", [(1, 1), (16, 1), (64, 1), (128, 1), (256, 1), (16, 8), (42, 3)])
def test_parts_follow_rows_and_heads(rows, heads_k):
    _, _, config = plan([1000, 2000], rows=rows, heads_k=heads_k)
    tiles = -(-rows // 64)
    assert config["num_parts"] == max(1, 132 // heads_k // tiles)


def test_uniform_batch_fills_the_parts():
    seqlens = [4096] * 128
    meta, splits, config = plan(seqlens, rows=128)
    busy = sum(1 for row in meta.tolist() if row[0] <= row[2])
    assert busy == config["num_parts"]


def test_skewed_batch_splits_only_the_long_request():
    seqlens = [100, 5000, 0, 20000]
    meta, splits, _ = plan(seqlens)
    per_request = (splits[1:] - splits[:-1]).tolist()
    assert per_request[0] == 1 and per_request[2] == 1 and per_request[3] > 1


def test_cpu_plan_rejects_negative_lengths():
    with pytest.raises(ValueError, match="cache_seqlens"):
        plan([10, -1])


# --- property-based ---------------------------------------------------------------------

def _random_case(rng: random.Random):
    kind = rng.choice(["uniform", "ragged", "skewed", "zeros", "tiny", "mixed"])
    b = rng.choice([1, 2, 3, rng.randint(1, 64), rng.randint(1, 600), rng.randint(1, 4000)])
    if kind == "uniform":
        seqlens = [rng.randint(0, 70000)] * b
    elif kind == "ragged":
        seqlens = [rng.randint(0, 70000) for _ in range(b)]
    elif kind == "skewed":
        seqlens = [rng.randint(0, 200) for _ in range(b)]
        seqlens[rng.randrange(b)] = rng.randint(50000, 300000)
    elif kind == "zeros":
        seqlens = [0] * b
    elif kind == "tiny":
        seqlens = [rng.randint(0, 130) for _ in range(b)]
    else:
        seqlens = [rng.choice([0, 1, 63, 64, 65, 4096, rng.randint(0, 20000)]) for _ in range(b)]
    num_sms = rng.choice([1, 2, 3, 16, 66, 78, 114, 132, 264, rng.randint(1, 264)])
    rows = rng.choice([1, 16, 64, 128, 256])
    return seqlens, num_sms, rows


def _fails(seqlens, num_sms, rows):
    meta, splits, config = plan(seqlens, num_sms=num_sms, rows=rows)
    try:
        check_plan(seqlens, meta, splits, config)
    except AssertionError as e:
        return str(e)
    return None


def _shrink(seqlens, num_sms, rows):
    """Make a failing case smaller while it keeps failing: drop requests, halve lengths."""
    changed = True
    while changed:
        changed = False
        for i in range(len(seqlens)):
            smaller = seqlens[:i] + seqlens[i + 1:]
            if smaller and _fails(smaller, num_sms, rows):
                seqlens, changed = smaller, True
                break
        for i, s in enumerate(seqlens):
            if s > 0 and _fails(seqlens[:i] + [s // 2] + seqlens[i + 1:], num_sms, rows):
                seqlens, changed = seqlens[:i] + [s // 2] + seqlens[i + 1:], True
    return seqlens


def test_property_random_batches():
    rng = random.Random(20261122)
    for case in range(400):
        seqlens, num_sms, rows = _random_case(rng)
        error = _fails(seqlens, num_sms, rows)
        if error:
            small = _shrink(seqlens, num_sms, rows)
            pytest.fail(f"case {case}: {error}; shrunk to seqlens={small[:50]} "
                        f"(b={len(small)}), num_sms={num_sms}, rows={rows}: {_fails(small, num_sms, rows)}")


def test_model_rejects_broken_plans():
    """The invariant checker itself can fail: corrupt a valid plan in several ways."""
    seqlens = [100, 5000, 0, 20000]
    meta, splits, config = plan(seqlens)
    check_plan(seqlens, meta, splits, config)
    busy = [p for p, row in enumerate(meta.tolist()) if row[0] <= row[2]]
    corruptions = []
    m = meta.clone(); m[busy[1], 1] += 1; corruptions.append((m, splits))          # a page skipped
    m = meta.clone(); m[busy[-1], 3] -= 1; corruptions.append((m, splits))         # last page lost
    m = meta.clone(); m[busy[2], 5] ^= 1; corruptions.append((m, splits))          # wrong flag
    m = meta.clone(); m[busy[3], 4] += 1; corruptions.append((m, splits))          # wrong split index
    s = splits.clone(); s[2:] += 1; corruptions.append((meta, s))                  # prefix off by one
    for m, s in corruptions:
        with pytest.raises(AssertionError):
            check_plan(seqlens, m, s, config)


@pytest.mark.parametrize("length", [16384, 4096, 65536])
def test_a_single_request_keeps_every_used_part_busy(length):
    """Balanced boundaries: no part of the plan's parts_used is left empty (equal parts of
    ceil(T/P) left 43 of 130 SMs idle at b=1, L=16K)."""
    meta, splits, config = plan([length], rows=16)
    used = parts_used(pages(length) + config["fixed_overhead_blocks"], config, batch=1)
    busy = [row for row in meta.tolist() if row[0] <= row[2]]
    assert len(busy) >= used - 3  # the first parts may cover only the request's overhead
    assert int(splits[-1]) == len(busy)


@pytest.mark.parametrize("b,length,rows,expected", [
    (8, 1024, 16, 72),      # T = 8 x (16 + 2) = 144: all 72 parts of 2 pages (before: half, 66)
    (16, 896, 16, 128),     # T = 256: 128 parts of 2
    (16, 1024, 16, 66),     # T = 288: 144 parts of 2 exceed the 132, so half, as before
    (4, 2048, 16, 68),      # T = 136: 68 parts of 2, 17 a request
    (1, 16384, 16, 66),     # one long request: 129 parts of 2 is over 24 a request, so half
    (8, 4096, 64, 88),      # ceil(T / 6) = 88 already exceeds half the parts: unchanged
    (8, 1024, 128, 36),     # two query tiles (66 parts): the rule is off, ceil(T / 4) = 36
])
def test_short_lines_of_few_requests_take_all_the_fill_parts(b, length, rows, expected):
    """The fill rule of 2026-12-07 (scheduler.hpp, fill_pieces_per_request): parts of 2 pages, as
    many as the line needs, where that is at most all the parts and 24 a request; otherwise at
    most half the parts, as before. The plan itself has that many parts, less at most one per
    request whose part holds only the request's fixed overhead."""
    meta, splits, config = plan([length] * b, rows=rows)
    T = b * (pages(length) + config["fixed_overhead_blocks"])
    assert parts_used(T, config, batch=b) == expected
    busy = [row for row in meta.tolist() if row[0] <= row[2]]
    assert expected - b <= len(busy) <= expected
    check_plan([length] * b, meta, splits, config)  # parts_used's quota bounds every part
