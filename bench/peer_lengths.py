"""The KV lengths each peer reference was measured on, reproduced draw for draw.

A time is comparable with a peer's only on the same amount of work, and at small batch one draw
decides it: at b=1, L=16384 the three generators below give 14877, 21801 and 29008 tokens.
Both references draw ``max(N(L, L/2), s_q)`` per request, with different generators:

- ``kernel-ref``: docs/reference/flashmla-h100.md (FlashMLA's decode kernel alone, its run 2
  and run 3: host time and graph replay). FlashMLA's test: Python ``random.seed(0)``, then
  ``max(int(random.normalvariate(L, L/2)), s_q)`` per request. Reproduces that file's
  "mean len" column exactly (1029, 4117, 16469 at b=128; 14877 at b=1, L=16384).
- ``graph-ref``: docs/reference/flashmla-fa3-h100.md (FlashMLA and FA3-MLA whole op in a CUDA
  graph). Not stated in that file; identified from its figures: every row's bytes
  (% copy x 3019 GB/s x time) imply a mean length of L x 1.331 at b=1, 0.991 at b=8, 0.831 at
  b=32, 0.973 at b=128, whatever L, h_q and s_q, and for both peers; of the seeded generators
  tried (Python random, NumPy, torch; seeds 0-999) only torch's CPU generator seeded 1, float32
  ``torch.normal(L, L/2, (b,))`` truncated to int, gives those four means
  (tests/test_peer_lengths.py checks every row).
- ``seeded``: this project's own draw (``cute_mla.testing.make_decode_inputs(varlen=True)``,
  torch's CPU generator seeded with --seed, float64, rounded): what the bench used before
  2026-12-06, when its b=1 requests were 1.33x the graph reference's and its b=128 ones 1.04x.
"""

from __future__ import annotations

import random

import torch

POLICIES = ("graph-ref", "kernel-ref", "seeded")


def kernel_reference(b: int, seqlen: int, s_q: int) -> list[int]:
    """FlashMLA's test's lengths (flashmla-h100.md): Python random, seed 0."""
    rng = random.Random(0)  # its own state: the caller's random module is left alone
    return [max(int(rng.normalvariate(seqlen, seqlen / 2)), s_q) for _ in range(b)]


def graph_reference(b: int, seqlen: int, s_q: int) -> list[int]:
    """The side-by-side graph run's lengths (flashmla-fa3-h100.md): torch CPU generator, seed 1."""
    g = torch.Generator(device="cpu").manual_seed(1)
    draws = torch.normal(float(seqlen), seqlen / 2.0, size=(b,), generator=g, dtype=torch.float32)
    return [max(int(x), s_q) for x in draws.tolist()]


def lengths_for(policy: str, b: int, seqlen: int, s_q: int) -> list[int] | None:
    """The lengths of one point under ``policy``; None for ``seeded`` (the inputs draw their own)."""
    if policy == "graph-ref":
        return graph_reference(b, seqlen, s_q)
    if policy == "kernel-ref":
        return kernel_reference(b, seqlen, s_q)
    if policy == "seeded":
        return None
    raise ValueError(f"unknown length policy {policy!r}; choose from {', '.join(POLICIES)}")
