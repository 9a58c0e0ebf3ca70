"""bench/split_sweep.py plans with a Python copy of the planner's closed form, so that one build
can time any constants. With the library's constants and rounding it must give the library's
plan bit for bit (a copy that drifts from scheduler.hpp would time plans the library never
makes); with ``min_round="down"`` it must give the rule before 2026-12-07 (floor(T / min)
parts)."""

from __future__ import annotations

import random

import pytest
import torch

import cute_mla

C = pytest.importorskip("cute_mla._C", reason="the compiled module is not installed")
split_sweep = pytest.importorskip("bench.split_sweep", reason="bench needs torch only; import failed")


def _batches():
    rng = random.Random(11)
    yield [14877]  # b=1 L=16K, kernel-ref lengths: 58 parts rounding down, 59 up
    yield [5450]
    yield [0]
    for b in (1, 2, 4, 8, 33, 128):
        for _ in range(6):
            yield [rng.choice([0, 1, 64, 65, rng.randint(0, 40000)]) for _ in range(b)]


@pytest.mark.parametrize("rows", [16, 128])
def test_the_copy_plans_as_the_library(rows):
    for seqlens in _batches():
        meta, splits = cute_mla.get_mla_metadata(torch.tensor(seqlens, dtype=torch.int32), rows, 1,
                                                 num_sms=132)
        cfg = C.scheduler_config(132, 1, rows)
        rows_, splits_ = split_sweep.plan(seqlens, cfg["num_parts"], cfg["fixed_overhead_blocks"],
                                          cfg["min_blocks_per_part"], cfg["fill_blocks_per_part"],
                                          fill_pieces=cfg["fill_pieces_per_request"])
        assert rows_ == meta.tolist(), seqlens
        assert splits_ == splits.tolist(), seqlens


def test_rounding_down_counts_floor_parts():
    # b=1, 14877 tokens: 233 pages + F = 2 -> T = 235; min 4: floor 58 parts, ceil 59.
    for rnd, parts in (("down", 58), ("up", 59)):
        rows, splits = split_sweep.plan([14877], 66, 2, 4, 2, rnd)
        busy = [r for r in rows if r[0] <= r[2]]
        assert len(busy) == parts and splits[-1] == parts
        longest = max(r[3] - r[1] for r in busy)
        assert longest == (5 if rnd == "down" else 4)
