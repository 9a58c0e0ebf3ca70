"""The combine kernel against the reference merge: synthetic partials (1 to 160 pieces,
empty pieces holding garbage) and real split-KV partials of reference attention."""

from __future__ import annotations

import random

import pytest
import torch

import cute_mla
from cute_mla.reference import (gather_request_kv, merge_partials_reference,
                                mla_decode_reference, request_partial_reference)
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs
from gpu_marks import requires_sm90

pytestmark = requires_sm90
DV = 512


def run_combine(o_accum, lse_accum, num_splits, out, lse, max_splits):
    cute_mla._C.combine(o_accum, lse_accum, num_splits, out, lse, max_splits,
                        torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()


def rows_to_heads(x_rows, s_q, h_q, h_kv):
    """(h_kv, rows, ...) with row = s * (h_q / h_kv) + head_in_group -> (s_q, h_q, ...)."""
    hpk = h_q // h_kv
    tail = x_rows.shape[2:]
    return x_rows.reshape(h_kv, s_q, hpk, *tail).transpose(0, 1).reshape(s_q, h_q, *tail)


def heads_to_rows(x_heads, h_kv):
    """(s_q, h_q, ...) -> (h_kv, rows, ...)."""
    s_q, h_q = x_heads.shape[:2]
    hpk = h_q // h_kv
    tail = x_heads.shape[2:]
    return x_heads.reshape(s_q, h_kv, hpk, *tail).transpose(0, 1).reshape(h_kv, s_q * hpk, *tail)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("b,s_q,h_q,h_kv", [(1, 1, 128, 1), (5, 2, 16, 1), (3, 1, 9, 3), (33, 4, 8, 2)])
def test_combine_matches_reference_merge_on_synthetic_partials(dtype, b, s_q, h_q, h_kv):
    rng = random.Random(b * 1000 + h_q)
    rows = s_q * h_q // h_kv
    counts = [rng.choice([1, 1, 2, 3, 17, 64, 160, rng.randint(1, 160)]) for _ in range(b)]
    counts[0] = 160
    max_splits = 160
    starts = [0]
    for n in counts:
        starts.append(starts[-1] + n)
    slots = starts[-1] + 3  # capacity may exceed what is used
    gen = torch.Generator(device="cuda").manual_seed(b)
    o_accum = torch.randn(slots, h_kv, rows, DV, device="cuda", generator=gen)
    lse_accum = torch.randn(slots, h_kv, rows, device="cuda", generator=gen) * 4 + 3
    # Empty pieces: lse -inf and garbage in o that must never reach the output.
    empty = torch.rand(slots, h_kv, rows, device="cuda", generator=gen) < 0.2
    lse_accum[empty] = float("-inf")
    o_accum[empty] = float("nan")
    # One request entirely empty in one row.
    lse_accum[starts[0]:starts[1], 0, 0] = float("-inf")
    num_splits = torch.tensor(starts, dtype=torch.int32, device="cuda")
    out = torch.full((b, s_q, h_q, DV), float("nan"), dtype=dtype, device="cuda")
    lse = torch.full((b, h_q, s_q), float("nan"), device="cuda")
    run_combine(o_accum, lse_accum, num_splits, out, lse, max_splits)

    for i, n in enumerate(counts):
        if n == 1:  # the decode kernel writes unsplit requests; combine must not touch them
            assert torch.isnan(out[i].float()).all() and torch.isnan(lse[i]).all(), f"request {i}"
            continue
        o_ref, lse_ref = merge_partials_reference(o_accum[starts[i]:starts[i + 1]],
                                                  lse_accum[starts[i]:starts[i + 1]])
        o_ref = rows_to_heads(o_ref, s_q, h_q, h_kv).to(dtype)
        lse_ref = rows_to_heads(lse_ref, s_q, h_q, h_kv).transpose(0, 1)
        check_close(f"out[{i}]", out[i], o_ref, **OUT_TOLERANCE)
        check_close(f"lse[{i}]", lse[i], lse_ref, **LSE_TOLERANCE)
    if counts[0] > 1:
        assert torch.isinf(lse[0, 0, 0]) and lse[0, 0, 0] > 0, "all-empty row: lse +inf"
        assert (out[0, 0, 0].float() == 0).all(), "all-empty row: out 0"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("s_q,h_q,h_kv,causal", [(1, 16, 1, False), (2, 16, 1, True), (4, 8, 2, True), (1, 128, 1, False)])
def test_combine_of_reference_split_partials_equals_full_attention(dtype, s_q, h_q, h_kv, causal):
    rng = random.Random(h_q + 10 * s_q)
    seqlens = [1, 63, 65, 700, 2000, 0]
    b = len(seqlens)
    inputs = make_decode_inputs(b, s_q, h_q, h_kv, 0, seqlens=seqlens, causal=causal,
                                dtype=dtype, device="cuda", seed=s_q * 7 + h_q)
    rows = s_q * h_q // h_kv
    pieces = []  # per request: list of (o rows, lse2 rows)
    for i, n in enumerate(seqlens):
        kv = gather_request_kv(inputs.k_cache, inputs.block_table, n, i)
        cuts = sorted(rng.randint(0, n) for _ in range(rng.randint(1, 6)))
        bounds = [0] + cuts + [n]  # repeated cuts make empty pieces
        req = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            o, lse2 = request_partial_reference(inputs.q[i], kv, kv[..., :DV], lo, hi,
                                                inputs.softmax_scale, causal, n)
            req.append((heads_to_rows(o, h_kv), heads_to_rows(lse2, h_kv)))
        pieces.append(req)
    starts = [0]
    for req in pieces:
        starts.append(starts[-1] + len(req))
    o_accum = torch.empty(starts[-1], h_kv, rows, DV, device="cuda")
    lse_accum = torch.empty(starts[-1], h_kv, rows, device="cuda")
    for i, req in enumerate(pieces):
        for k, (o, l2) in enumerate(req):
            o_accum[starts[i] + k] = o
            lse_accum[starts[i] + k] = l2
    out = torch.full((b, s_q, h_q, DV), float("nan"), dtype=dtype, device="cuda")
    lse = torch.full((b, h_q, s_q), float("nan"), device="cuda")
    run_combine(o_accum, lse_accum, torch.tensor(starts, dtype=torch.int32, device="cuda"),
                out, lse, max(len(r) for r in pieces))

    ref_out, ref_lse = mla_decode_reference(inputs.q, inputs.k_cache, inputs.block_table,
                                            inputs.cache_seqlens, DV, inputs.softmax_scale, causal)
    for i, req in enumerate(pieces):
        if len(req) == 1:
            continue
        check_close(f"out[{i}]", out[i], ref_out[i].to(dtype), **OUT_TOLERANCE)
        check_close(f"lse[{i}]", lse[i], ref_lse[i], **LSE_TOLERANCE)


def test_combine_refuses_more_pieces_than_planned_loudly():
    """Metadata from another plan (more pieces than max_splits) gives NaN, never a fault."""
    o_accum = torch.randn(10, 1, 16, DV, device="cuda")
    lse_accum = torch.randn(10, 1, 16, device="cuda")
    num_splits = torch.tensor([0, 10], dtype=torch.int32, device="cuda")
    out = torch.zeros(1, 1, 16, DV, dtype=torch.bfloat16, device="cuda")
    lse = torch.zeros(1, 16, 1, device="cuda")
    run_combine(o_accum, lse_accum, num_splits, out, lse, 4)
    assert torch.isnan(out.float()).all() and torch.isnan(lse).all()
