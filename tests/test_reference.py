"""CPU tests of the float32 reference and the shared test helpers.

The reference is checked against attention written out independently here: per query row, in
float64, over a contiguous (non-paged) KV, with math.exp / math.log for the softmax.
"""

import math
import random

import pytest
import torch

from cute_mla.reference import (
    gather_request_kv,
    merge_partials_reference,
    mla_decode_reference,
    request_partial_reference,
)
from cute_mla.testing import (
    LSE_TOLERANCE,
    OUT_TOLERANCE,
    DecodeInputs,
    check_close,
    flashmla_counts,
    make_decode_inputs,
    poison_,
)

D = 576
DV = 512
HUGE = 2147480000
DEV = "cpu"


# --------------------------------------------------------------------------------------------
# Independent plain-math attention
# --------------------------------------------------------------------------------------------

def naive_attention(q, kv_list, scale, causal, dv=DV):
    """q: (b, s_q, h_q, D); kv_list[i]: (len_i, h_kv, D) contiguous. float64 row by row.

    Returns out (b, s_q, h_q, dv) float64 and lse (b, h_q, s_q) float64 (+inf / 0 for rows that
    see nothing)."""
    b, s_q, h_q, _ = q.shape
    out = torch.zeros(b, s_q, h_q, dv, dtype=torch.float64)
    lse = torch.zeros(b, h_q, s_q, dtype=torch.float64)
    for i in range(b):
        kv = kv_list[i].to(torch.float64)
        length, h_kv = kv.shape[0], kv.shape[1]
        group = h_q // h_kv
        for j in range(s_q):
            n_vis = length
            if causal:
                n_vis = min(length, max(0, length - s_q + j + 1))
            for h in range(h_q):
                kh = h // group
                if n_vis == 0:
                    lse[i, h, j] = math.inf
                    continue
                qv = q[i, j, h].to(torch.float64)
                scores = [scale * float(torch.dot(qv, kv[t, kh])) for t in range(n_vis)]
                m = max(scores)
                total = sum(math.exp(s - m) for s in scores)
                row_lse = m + math.log(total)
                lse[i, h, j] = row_lse
                weights = torch.tensor([math.exp(s - row_lse) for s in scores],
                                       dtype=torch.float64)
                out[i, j, h] = weights @ kv[:n_vis, kh, :dv]
    return out, lse


def bf16_rand(gen, *shape):
    return (torch.randn(*shape, generator=gen) / 10).clamp(-1, 1).to(torch.bfloat16)


def build_paged(kv_list, page_size, gen, *, garbage=float("nan"), extra_pages=1):
    """Page contiguous per-request KV into a shuffled pool; rows past each length hold
    `garbage`, unused table slots hold HUGE. Returns (k_cache, block_table)."""
    b = len(kv_list)
    h_kv = kv_list[0].shape[1]
    max_len = max(kv.shape[0] for kv in kv_list)
    max_pages = max(1, -(-max_len // page_size)) + extra_pages
    pool = b * max_pages + 3
    perm = torch.randperm(pool, generator=gen)
    k_cache = torch.full((pool, page_size, h_kv, D), garbage, dtype=kv_list[0].dtype)
    table = torch.full((b, max_pages), HUGE, dtype=torch.int32)
    nxt = 0
    for i, kv in enumerate(kv_list):
        length = kv.shape[0]
        for p in range(-(-length // page_size)):
            page = int(perm[nxt])
            nxt += 1
            table[i, p] = page
            rows = kv[p * page_size:(p + 1) * page_size]
            k_cache[page, :rows.shape[0]] = rows
    return k_cache, table


def walk_paged(k_cache, block_table, lengths):
    """Gather each request token by token through the block table (independent of the
    reference's gather)."""
    page_size = k_cache.shape[1]
    result = []
    for i, length in enumerate(lengths):
        rows = [k_cache[int(block_table[i, t // page_size]), t % page_size] for t in range(length)]
        if rows:
            result.append(torch.stack(rows))
        else:
            result.append(torch.zeros(0, k_cache.shape[2], D, dtype=k_cache.dtype))
    return result


def assert_ref_matches(out, lse, out_exp, lse_exp, atol=2e-6, rtol=2e-5):
    assert out.dtype == torch.float32 and lse.dtype == torch.float32
    assert out.shape == out_exp.shape and lse.shape == lse_exp.shape
    torch.testing.assert_close(out.double(), out_exp, atol=atol, rtol=rtol)
    torch.testing.assert_close(lse.double(), lse_exp, atol=atol, rtol=rtol)


# --------------------------------------------------------------------------------------------
# Reference vs. plain math
# --------------------------------------------------------------------------------------------

LENGTHS = [0, 1, 63, 64, 65, 130]


@pytest.mark.parametrize("h_kv", [1, 2])
@pytest.mark.parametrize("s_q", [1, 2, 3])
@pytest.mark.parametrize("causal", [False, True])
def test_reference_matches_naive(h_kv, s_q, causal):
    seed = 1000 + 100 * h_kv + 10 * s_q + int(causal)
    gen = torch.Generator().manual_seed(seed)
    h_q = 4
    lengths = list(LENGTHS)
    random.Random(seed).shuffle(lengths)
    b = len(lengths)
    q = bf16_rand(gen, b, s_q, h_q, D)
    kv_list = [bf16_rand(gen, n, h_kv, D) for n in lengths]
    k_cache, table = build_paged(kv_list, 64, gen)
    seqlens = torch.tensor(lengths, dtype=torch.int32)
    scale = D ** -0.5

    out, lse = mla_decode_reference(q, k_cache, table, seqlens, causal=causal)
    out_exp, lse_exp = naive_attention(q, kv_list, scale, causal)
    assert_ref_matches(out, lse, out_exp, lse_exp)
    # rows that see no key: exactly 0 and +inf
    for i, n in enumerate(lengths):
        for j in range(s_q):
            n_vis = n if not causal else max(0, n - s_q + j + 1)
            if min(n_vis, n) == 0:
                assert torch.all(out[i, j] == 0)
                assert torch.all(torch.isposinf(lse[i, :, j]))
            else:
                assert torch.isfinite(out[i, j]).all() and torch.isfinite(lse[i, :, j]).all()


@pytest.mark.parametrize("page_size,h_q,h_kv,seed", [(16, 6, 3, 1), (1, 2, 1, 2), (128, 8, 2, 3)])
def test_reference_other_page_sizes(page_size, h_q, h_kv, seed):
    gen = torch.Generator().manual_seed(seed)
    lengths = [5, 0, 33, 17]
    s_q = 2
    q = bf16_rand(gen, len(lengths), s_q, h_q, D)
    kv_list = [bf16_rand(gen, n, h_kv, D) for n in lengths]
    k_cache, table = build_paged(kv_list, page_size, gen)
    seqlens = torch.tensor(lengths, dtype=torch.int32)
    for causal in (False, True):
        out, lse = mla_decode_reference(q, k_cache, table, seqlens, causal=causal)
        out_exp, lse_exp = naive_attention(q, kv_list, D ** -0.5, causal)
        assert_ref_matches(out, lse, out_exp, lse_exp)


@pytest.mark.parametrize("s_q,causal,varlen,seed", [(1, False, False, 11), (2, True, True, 12),
                                                     (3, True, True, 13), (2, False, True, 14)])
def test_reference_on_generated_inputs(s_q, causal, varlen, seed):
    inp = make_decode_inputs(5, s_q, 4, 2, 70, varlen=varlen, zero_frac=0.2, causal=causal,
                             device=DEV, seed=seed, q_batch_stride_pad=5 if varlen else 0)
    kv_list = walk_paged(inp.k_cache, inp.block_table, inp.seqlens)
    out, lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens,
                                    softmax_scale=inp.softmax_scale, causal=causal)
    out_exp, lse_exp = naive_attention(inp.q, kv_list, inp.softmax_scale, causal)
    assert_ref_matches(out, lse, out_exp, lse_exp)
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()


def test_garbage_in_unused_rows_does_not_leak():
    gen = torch.Generator().manual_seed(21)
    lengths = [1, 63, 65, 0, 130]
    q = bf16_rand(gen, len(lengths), 2, 2, D)
    kv_list = [bf16_rand(gen, n, 1, D) for n in lengths]
    results = []
    for garbage in (float("nan"), float("inf"), -1e30, 0.0):
        k_cache, table = build_paged(kv_list, 64, torch.Generator().manual_seed(5),
                                     garbage=garbage)
        results.append(mla_decode_reference(q, k_cache, table,
                                            torch.tensor(lengths, dtype=torch.int32),
                                            causal=True))
    for out, lse in results[1:]:
        assert torch.equal(out, results[0][0])
        assert torch.equal(lse, results[0][1])
    assert not torch.isnan(results[0][0]).any()


def test_huge_ids_in_unused_slots_are_not_read():
    gen = torch.Generator().manual_seed(22)
    lengths = [64, 3]
    q = bf16_rand(gen, 2, 1, 2, D)
    kv_list = [bf16_rand(gen, n, 1, D) for n in lengths]
    k_cache, table = build_paged(kv_list, 64, gen, extra_pages=2)
    assert (table[0, 1:] == HUGE).all() and (table[1, 1:] == HUGE).all()
    out, lse = mla_decode_reference(q, k_cache, table, torch.tensor(lengths, dtype=torch.int32))
    out_exp, lse_exp = naive_attention(q, kv_list, D ** -0.5, False)
    assert_ref_matches(out, lse, out_exp, lse_exp)


def test_nan_inside_sequence_is_zeroed_like_flashmla():
    gen = torch.Generator().manual_seed(23)
    kv = bf16_rand(gen, 10, 1, D)
    q = bf16_rand(gen, 1, 1, 2, D)
    k_cache, table = build_paged([kv], 64, gen)
    page = int(table[0, 0])
    k_cache[page, 4, 0, 7] = float("nan")
    kv_zeroed = kv.clone()
    kv_zeroed[4, 0, 7] = 0
    g = gather_request_kv(k_cache, table, 10, 0)
    assert g.dtype == torch.float32 and g.shape == (10, 1, D)
    assert torch.equal(g, kv_zeroed.float())
    out, lse = mla_decode_reference(q, k_cache, table, torch.tensor([10], dtype=torch.int32))
    out_exp, lse_exp = naive_attention(q, [kv_zeroed], D ** -0.5, False)
    assert_ref_matches(out, lse, out_exp, lse_exp)


def test_gather_request_kv_follows_shuffled_table():
    gen = torch.Generator().manual_seed(24)
    lengths = [130, 0, 64, 65]
    kv_list = [bf16_rand(gen, n, 2, D) for n in lengths]
    k_cache, table = build_paged(kv_list, 64, gen)
    # the table really is shuffled
    used = torch.cat([table[i, :-(-n // 64)] for i, n in enumerate(lengths)])
    assert not torch.equal(used, torch.sort(used).values)
    for i, n in enumerate(lengths):
        g = gather_request_kv(k_cache, table, n, i)
        assert g.shape == (n, 2, D)
        assert torch.equal(g, kv_list[i].float())
        # the whole-lengths form gives the same thing
        assert torch.equal(g, gather_request_kv(k_cache, table,
                                                torch.tensor(lengths, dtype=torch.int32), i))


def test_default_softmax_scale():
    inp = make_decode_inputs(2, 1, 2, 1, 40, device=DEV, seed=31)
    args = (inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens)
    out_d, lse_d = mla_decode_reference(*args)
    out_e, lse_e = mla_decode_reference(*args, softmax_scale=576 ** -0.5)
    assert torch.equal(out_d, out_e) and torch.equal(lse_d, lse_e)
    out_h, lse_h = mla_decode_reference(*args, softmax_scale=0.5 * 576 ** -0.5)
    assert not torch.allclose(lse_h, lse_d)
    # and a different scale agrees with plain math at that scale
    kv_list = walk_paged(inp.k_cache, inp.block_table, inp.seqlens)
    out_x, lse_x = naive_attention(inp.q, kv_list, 0.5 * 576 ** -0.5, False)
    assert_ref_matches(out_h, lse_h, out_x, lse_x)
    assert inp.softmax_scale == 576 ** -0.5


def test_head_dim_v_and_cuda_style_seqlens():
    inp = make_decode_inputs(3, 2, 2, 1, 50, varlen=True, device=DEV, seed=32)
    out, lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens,
                                    head_dim_v=64, causal=True)
    kv_list = walk_paged(inp.k_cache, inp.block_table, inp.seqlens)
    out_exp, lse_exp = naive_attention(inp.q, kv_list, D ** -0.5, True, dv=64)
    assert out.shape == (3, 2, 2, 64)
    assert_ref_matches(out, lse, out_exp, lse_exp)


# --------------------------------------------------------------------------------------------
# Split-KV partials and their merge
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("s_q,causal,h_kv,seed", [(1, False, 1, 41), (2, True, 1, 42),
                                                  (3, True, 2, 43), (2, False, 2, 44)])
def test_merge_of_partials_equals_full(s_q, causal, h_kv, seed):
    rng = random.Random(seed)
    inp = make_decode_inputs(4, s_q, 4, h_kv, 0, device=DEV, seed=seed,
                             seqlens=[130, 0, 1, 65], causal=causal)
    out_full, lse_full = mla_decode_reference(inp.q, inp.k_cache, inp.block_table,
                                              inp.cache_seqlens, causal=causal)
    for i, n in enumerate(inp.seqlens):
        kv = gather_request_kv(inp.k_cache, inp.block_table, n, i)
        for _trial in range(3):
            n_cuts = rng.randint(0, 5)
            cuts = sorted([0, n] + [rng.randint(0, n) for _ in range(n_cuts)])
            if n > 0:
                cuts.insert(1, cuts[0])  # always at least one empty piece
            o_parts, l_parts = [], []
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                o, l2 = request_partial_reference(inp.q[i], kv, kv[..., :DV], lo, hi,
                                                  inp.softmax_scale, causal, n)
                assert o.shape == (s_q, 4, DV) and l2.shape == (s_q, 4)
                empty = torch.isneginf(l2)
                assert torch.all(o[empty] == 0)
                o_parts.append(o)
                l_parts.append(l2)
            assert any(torch.isneginf(l).all() for l in l_parts)
            o_m, lse_m = merge_partials_reference(torch.stack(o_parts), torch.stack(l_parts))
            assert o_m.dtype == torch.float32 and lse_m.shape == (s_q, 4)
            torch.testing.assert_close(o_m, out_full[i], atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(lse_m, lse_full[i].transpose(0, 1), atol=1e-6, rtol=1e-6)


def test_partial_lse_is_base2_and_masked():
    gen = torch.Generator().manual_seed(45)
    n, s_q = 20, 3
    q = bf16_rand(gen, s_q, 2, D)
    kv = bf16_rand(gen, n, 1, D).float()
    scale = 0.07
    lo, hi = 5, 19
    o, l2 = request_partial_reference(q, kv, kv[..., :DV], lo, hi, scale, True, n)
    for j in range(s_q):
        last = n - s_q + j  # last visible key
        for h in range(2):
            keys = [t for t in range(lo, hi) if t <= last]
            scores = [scale * float(torch.dot(q[j, h].double(), kv[t, 0].double())) for t in keys]
            m = max(scores)
            lse = m + math.log(sum(math.exp(s - m) for s in scores))
            assert abs(float(l2[j, h]) - lse / math.log(2)) < 1e-5
            w = torch.tensor([math.exp(s - lse) for s in scores], dtype=torch.float64)
            expect = w @ kv[keys, 0, :DV].double()
            torch.testing.assert_close(o[j, h].double(), expect, atol=1e-6, rtol=1e-5)
    # a range past every row's causal limit is empty
    o, l2 = request_partial_reference(q, kv, kv[..., :DV], n - 1, n + 5, scale, True, n)
    assert torch.isneginf(l2[: s_q - 1]).all() and torch.isfinite(l2[s_q - 1]).all()
    assert (o[: s_q - 1] == 0).all()


def test_merge_formula_by_hand():
    o1 = torch.tensor([[1.0, 2.0]])
    o2 = torch.tensor([[3.0, -1.0]])
    a, b = 1.5, -0.25
    o, lse = merge_partials_reference([o1, o2], [torch.tensor([a]), torch.tensor([b])])
    wa, wb = 2 ** a, 2 ** b
    expect = (wa * o1 + wb * o2) / (wa + wb)
    torch.testing.assert_close(o, expect)
    assert abs(float(lse[0]) - math.log(wa + wb)) < 1e-6
    # all empty: 0 and +inf, even with garbage in the partial outputs
    g = torch.full((2, 3, 2), float("nan"))
    o, lse = merge_partials_reference(g, torch.full((2, 3), float("-inf")))
    assert (o == 0).all() and torch.isposinf(lse).all()
    # one empty piece with garbage among non-empty ones is ignored
    o, lse = merge_partials_reference(torch.stack([o1, torch.full_like(o1, float("nan"))]),
                                      torch.tensor([[a], [float("-inf")]]))
    torch.testing.assert_close(o, o1)
    assert abs(float(lse[0]) - a * math.log(2)) < 1e-6


# --------------------------------------------------------------------------------------------
# check_close
# --------------------------------------------------------------------------------------------

def _expected_out(seed):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(4, 8, 64, generator=gen) / 10).float()


def test_check_close_accepts_equal_and_close():
    r = _expected_out(51)
    check_close("out", r.clone(), r, **OUT_TOLERANCE)
    check_close("out", r.to(torch.bfloat16), r, **OUT_TOLERANCE)
    check_close("zeros", torch.zeros(5), torch.zeros(5), **LSE_TOLERANCE)
    lse = torch.tensor([1.0, float("inf"), float("-inf"), float("nan"), 3.0])
    check_close("lse", lse.clone(), lse, **LSE_TOLERANCE)


def test_check_close_rejects_one_bad_element():
    r = _expected_out(52)
    a = r.clone()
    a[1, 2, 3] += 0.05
    with pytest.raises(AssertionError) as e:
        check_close("my_out", a, r, **OUT_TOLERANCE)
    msg = str(e.value)
    assert "my_out" in msg and "1 of" in msg and "(1, 2, 3)" in msg and "cos_diff" in msg


@pytest.mark.parametrize("kind", ["nan", "posinf", "neginf", "swap_inf_sign"])
def test_check_close_rejects_anomaly_mismatch(kind):
    r = torch.tensor([0.5, 1.0, float("inf"), 2.0])
    a = r.clone()
    if kind == "nan":
        a[0] = float("nan")
    elif kind == "posinf":
        a[1] = float("inf")
    elif kind == "neginf":
        a[3] = float("-inf")
    else:
        a[2] = float("-inf")
    with pytest.raises(AssertionError, match="lse"):
        check_close("lse", a, r, **LSE_TOLERANCE)
    # NaN in the same place on both sides is accepted
    r2 = r.clone()
    r2[0] = float("nan")
    a2 = r2.clone()
    check_close("lse", a2, r2, **LSE_TOLERANCE)


def test_check_close_cos_rule():
    r = _expected_out(53)
    gen = torch.Generator().manual_seed(54)
    sign = torch.randint(0, 2, r.shape, generator=gen).float() * 2 - 1
    a = r * (1 + 0.015 * sign)  # every element within rel_tol, but cos_diff ~ 1e-4
    with pytest.raises(AssertionError, match="0 of"):
        check_close("out", a, r, **OUT_TOLERANCE)
    check_close("out", a, r, abs_tol=8e-4, rel_tol=2.01 / 128, cos_tol=1e-3)


def test_check_close_shape_mismatch():
    with pytest.raises(AssertionError):
        check_close("x", torch.zeros(3), torch.zeros(4), **OUT_TOLERANCE)


def test_poison():
    t = torch.zeros(3, 4)
    assert poison_(t) is t and torch.isnan(t).all()


# --------------------------------------------------------------------------------------------
# make_decode_inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("b,s_q,h_q,h_kv,seqlen,varlen,zero_frac,page_size,dtype,seed", [
    (4, 1, 8, 1, 130, False, 0.0, 64, torch.bfloat16, 61),
    (6, 2, 4, 2, 100, True, 0.0, 64, torch.bfloat16, 62),
    (8, 2, 4, 1, 70, True, 0.5, 64, torch.float16, 63),
    (5, 1, 2, 1, 37, True, 0.0, 16, torch.bfloat16, 64),
    (3, 3, 2, 1, 0, False, 0.0, 64, torch.float32, 65),
    (2, 2, 64, 1, 40, False, 0.0, 64, torch.float16, 66),
])
def test_make_decode_inputs_layout(b, s_q, h_q, h_kv, seqlen, varlen, zero_frac, page_size, dtype,
                                   seed):
    inp = make_decode_inputs(b, s_q, h_q, h_kv, seqlen, varlen=varlen, zero_frac=zero_frac,
                             device=DEV, page_size=page_size, dtype=dtype, seed=seed)
    assert isinstance(inp, DecodeInputs)
    lens = inp.seqlens
    assert isinstance(lens, list) and len(lens) == b
    assert inp.cache_seqlens.dtype == torch.int32 and inp.cache_seqlens.tolist() == lens
    assert inp.block_table.dtype == torch.int32
    assert inp.q.shape == (b, s_q, h_q, D) and inp.q.dtype == dtype and inp.k_cache.dtype == dtype
    assert inp.k_cache.shape[1:] == (page_size, h_kv, D)
    assert inp.softmax_scale == D ** -0.5
    if zero_frac > 0:
        assert lens.count(0) == round(zero_frac * b)
    nonzero = [n for n in lens if n > 0]
    if varlen:
        assert all(n >= s_q for n in nonzero)
        assert len(set(nonzero)) > 1
    else:
        assert all(n == seqlen for n in lens)
    max_pages = max(1, -(-max(lens) // page_size))
    assert inp.block_table.shape == (b, max_pages)
    assert inp.k_cache.shape[0] == b * max_pages

    q = inp.q.float()
    assert (q != 0).all() and (q.abs() <= 1).all() and torch.isfinite(q).all()

    used_ids = []
    row_nan = torch.isnan(inp.k_cache.float()).reshape(inp.k_cache.shape[0], page_size, -1)
    row_any = row_nan.any(-1)
    # each row is either all NaN or NaN-free
    assert torch.equal(row_any, row_nan.all(-1))
    for i, n in enumerate(lens):
        used = -(-n // page_size)
        assert (inp.block_table[i, used:] == HUGE).all()
        ids = inp.block_table[i, :used].tolist()
        assert all(0 <= x < inp.k_cache.shape[0] for x in ids)
        used_ids += ids
        for t in range(used * page_size):
            page, row = ids[t // page_size], t % page_size
            assert bool(row_any[page, row]) == (t >= n), (i, t)
        k_used = inp.k_cache.float()[ids].reshape(-1, h_kv, D)[:n]
        assert (k_used.abs() <= 1).all()
    assert len(used_ids) == len(set(used_ids))
    # NaN exactly past each length: every row not holding a token is NaN
    assert int((~row_any).sum()) == sum(lens)
    if len(used_ids) >= 4:
        assert used_ids != sorted(used_ids)


def test_make_decode_inputs_q_stride_pad_and_seqlens_override():
    inp = make_decode_inputs(3, 2, 4, 1, 500, device=DEV, seed=71, seqlens=[5, 0, 64],
                             q_batch_stride_pad=40, causal=True)
    assert inp.seqlens == [5, 0, 64] and inp.causal
    assert inp.q.stride(0) == 2 * 4 * D + 40
    assert inp.q.stride(-1) == 1 and not inp.q.is_contiguous()
    assert inp.block_table.shape == (3, 1)
    assert inp.block_table[1, 0] == HUGE
    assert (inp.q.float() != 0).all() and torch.isfinite(inp.q.float()).all()


def test_make_decode_inputs_deterministic_and_all_empty():
    a = make_decode_inputs(4, 1, 2, 1, 90, varlen=True, device=DEV, seed=81)
    b = make_decode_inputs(4, 1, 2, 1, 90, varlen=True, device=DEV, seed=81)
    c = make_decode_inputs(4, 1, 2, 1, 90, varlen=True, device=DEV, seed=82)
    assert a.seqlens == b.seqlens
    assert torch.equal(a.q, b.q) and torch.equal(a.block_table, b.block_table)
    assert torch.equal(torch.nan_to_num(a.k_cache), torch.nan_to_num(b.k_cache))
    assert not torch.equal(a.q, c.q)
    e = make_decode_inputs(3, 1, 2, 1, 0, device=DEV, seed=83, dtype=torch.float16)
    assert e.k_cache.shape[0] == 3 and (e.block_table == HUGE).all()
    assert e.q.dtype == torch.float16 and torch.isnan(e.k_cache).all()
    out, lse = mla_decode_reference(e.q, e.k_cache, e.block_table, e.cache_seqlens)
    assert (out == 0).all() and torch.isposinf(lse).all()


def test_flashmla_counts():
    flop, nbytes = flashmla_counts(128, 2, 128, 1, 4096)
    assert flop == 128 * 128 * 2 * (2 * 576 * 4096 + 2 * 4096 * 512)
    assert nbytes == 128 * (2 * 128 * 576 * 2 + 4096 * 1 * 576 * 2 + 2 * 128 * 512 * 2)
    flop, nbytes = flashmla_counts(1, 1, 16, 1, 1000.5)
    assert flop == pytest.approx(16 * (2 * 576 * 1000.5 + 2 * 1000.5 * 512))
