"""The metadata kernel against the CPU planner: the same bits on every batch."""

from __future__ import annotations

import random

import pytest
import torch

import cute_mla
from gpu_marks import requires_sm90
from planner_model import check_plan

pytestmark = requires_sm90


def _random_lengths(rng: random.Random, b: int):
    kind = rng.randrange(5)
    if kind == 0:
        return [rng.randint(0, 70000)] * b
    if kind == 1:
        return [rng.randint(0, 70000) for _ in range(b)]
    if kind == 2:
        return [rng.choice([0, 1, 63, 64, 65, 128, 129]) for _ in range(b)]
    if kind == 3:
        s = [rng.randint(0, 300) for _ in range(b)]
        s[rng.randrange(b)] = rng.randint(100000, 300000)
        return s
    return [0 if rng.random() < 0.5 else rng.randint(1, 40000) for _ in range(b)]


def test_metadata_kernel_matches_cpu_planner_on_1000_batches():
    rng = random.Random(7)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    checked = 0
    for case in range(1000):
        b = rng.choice([1, 2, 3, 8, rng.randint(1, 128), rng.randint(1, 2048)])
        if case % 100 == 0:
            b = rng.choice([4096, 16384])
        seqlens = _random_lengths(rng, b)
        rows = rng.choice([1, 16, 32, 64, 128, 256])
        heads_k = rng.choice([1, 1, 1, 2, 8])
        host = torch.tensor(seqlens, dtype=torch.int32)
        gpu_meta, gpu_splits = cute_mla.get_mla_metadata(host.cuda(), rows, heads_k)
        cpu_meta, cpu_splits = cute_mla.get_mla_metadata(host, rows, heads_k, num_sms=sms)
        assert torch.equal(gpu_meta.cpu(), cpu_meta), f"case {case}: metadata differs (b={b})"
        assert torch.equal(gpu_splits.cpu(), cpu_splits), f"case {case}: num_splits differs (b={b})"
        if case % 50 == 0:
            config = cute_mla._C.scheduler_config(sms, heads_k, rows)
            check_plan(seqlens, cpu_meta, cpu_splits, config)
        checked += 1
    assert checked == 1000


def test_metadata_kernel_writes_every_output_element():
    seqlens = torch.tensor([5, 0, 7000, 64], dtype=torch.int32, device="cuda")
    meta, splits = cute_mla.get_mla_metadata(seqlens, 128, 1)
    meta.fill_(-12345)
    splits.fill_(-12345)
    torch.cuda.synchronize()
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    cute_mla._C.plan_metadata(seqlens, 128, 1, meta, splits, torch.cuda.current_stream().cuda_stream)
    cpu_meta, cpu_splits = cute_mla.get_mla_metadata(seqlens.cpu(), 128, 1, num_sms=sms)
    assert torch.equal(meta.cpu(), cpu_meta) and torch.equal(splits.cpu(), cpu_splits)


def test_metadata_runs_on_the_current_stream():
    seqlens = torch.randint(0, 9000, (300,), dtype=torch.int32, device="cuda")
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        seqlens2 = seqlens.clone()
        meta, splits = cute_mla.get_mla_metadata(seqlens2, 64, 1)
    side.synchronize()
    cpu_meta, cpu_splits = cute_mla.get_mla_metadata(seqlens.cpu(), 64, 1,
                                                     num_sms=torch.cuda.get_device_properties(0).multi_processor_count)
    assert torch.equal(meta.cpu(), cpu_meta) and torch.equal(splits.cpu(), cpu_splits)


def test_largest_batch_is_accepted_and_one_more_is_not():
    ok = torch.zeros(16384, dtype=torch.int32, device="cuda")
    cute_mla.get_mla_metadata(ok, 64, 1)
    with pytest.raises(ValueError, match="cache_seqlens"):
        cute_mla.get_mla_metadata(torch.zeros(16385, dtype=torch.int32, device="cuda"), 64, 1)
