"""Helpers shared by the tests and the benchmark: input construction as FlashMLA's test does it,
FlashMLA's tolerance check, and the FLOP/byte counts used for reporting.

Only depends on torch and the standard library (no compiled extension).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch

__all__ = [
    "DecodeInputs",
    "make_decode_inputs",
    "poison_",
    "check_close",
    "OUT_TOLERANCE",
    "LSE_TOLERANCE",
    "flashmla_counts",
    "HEAD_DIM_QK",
    "HEAD_DIM_V",
    "UNUSED_PAGE_ID",
]

HEAD_DIM_QK = 576
HEAD_DIM_V = 512
# Value FlashMLA's test writes into block-table slots past each request's last page.
UNUSED_PAGE_ID = 2147480000

# FlashMLA's dense-decode tolerances (tests/test_flash_mla_dense_decoding.py with
# tests/kernelkit/compare.py::check_is_allclose; see docs/reference/flashmla-notes.md section 4.2).
OUT_TOLERANCE = dict(abs_tol=8e-4, rel_tol=2.01 / 128, cos_tol=5e-6)
LSE_TOLERANCE = dict(abs_tol=1e-6, rel_tol=8.01 / 65536, cos_tol=5e-6)


@dataclass
class DecodeInputs:
    """One decode problem. ``seqlens`` is the host copy of ``cache_seqlens``."""

    q: torch.Tensor
    k_cache: torch.Tensor
    block_table: torch.Tensor
    cache_seqlens: torch.Tensor
    softmax_scale: float
    causal: bool
    seqlens: list


def _randn_clamped(shape, *, dtype, device, generator) -> torch.Tensor:
    """``clamp(randn / 10, -1, 1)`` cast to ``dtype``, with no exact zeros.

    The normal samples are drawn in float32 (some torch versions draw bf16 ``randn`` on the CPU
    with so little precision that ~0.2 % of the values are exactly 0), in chunks so that huge
    caches do not need a float32 copy of the whole tensor. Values that round to 0 in ``dtype``
    (possible in fp16) are replaced by 1e-3.
    """
    out = torch.empty(shape, dtype=dtype, device=device)
    if out.numel() == 0:
        return out
    flat = out.view(shape[0], -1)
    per_row = flat.shape[1]
    chunk = max(1, (1 << 26) // max(1, per_row))
    for start in range(0, shape[0], chunk):
        n = min(chunk, shape[0] - start)
        tmp = torch.randn(n, per_row, dtype=torch.float32, device=device, generator=generator)
        tmp.div_(10).clamp_(-1.0, 1.0)
        part = flat[start:start + n]
        part.copy_(tmp)
        part.masked_fill_(part == 0, 1e-3)
    return out


def make_decode_inputs(
    b: int,
    s_q: int,
    h_q: int,
    h_kv: int,
    seqlen: int,
    *,
    varlen: bool = False,
    zero_frac: float = 0.0,
    causal: bool = False,
    dtype: torch.dtype = torch.bfloat16,
    device="cuda",
    page_size: int = 64,
    seed: int = 0,
    seqlens: Optional[Sequence[int]] = None,
    q_batch_stride_pad: int = 0,
) -> DecodeInputs:
    """Build decode inputs the way FlashMLA's dense decode test does.

    * Lengths: ``seqlen`` for every request; with ``varlen`` ``max(round(N(seqlen, seqlen/2)), s_q)``
      per request; then ``round(zero_frac * b)`` random requests get length 0. ``seqlens``
      overrides all of that.
    * ``q = clamp(randn / 10, -1, 1)`` in ``dtype``. With ``q_batch_stride_pad > 0`` q is a view
      whose batch stride is ``s_q*h_q*576 + q_batch_stride_pad`` (the padding holds NaN).
    * ``max_pages = max(1, ceil(max_len / page_size))``; a pool of ``b * max_pages`` pages;
      ``block_table`` is a random permutation of the pool, reshaped ``(b, max_pages)``, int32.
    * ``k_cache = clamp(randn / 10, -1, 1)``; every row of a request's pages past its length is
      NaN; block-table slots past each request's last needed page hold 2147480000.
    * ``cache_seqlens`` int32 on ``device``; ``softmax_scale = 576 ** -0.5``.

    Host-side randomness (lengths, permutation) uses a CPU generator seeded with ``seed``; the
    tensor contents use a generator on ``device`` seeded with ``seed`` (so values differ between
    CPU and CUDA for the same seed, but each is deterministic).
    """
    d = HEAD_DIM_QK
    device = torch.device(device)
    g_host = torch.Generator(device="cpu").manual_seed(seed)
    g_dev = torch.Generator(device=device).manual_seed(seed)

    if seqlens is not None:
        lens = [int(x) for x in seqlens]
        if len(lens) != b:
            raise ValueError(f"seqlens has {len(lens)} entries, expected b={b}")
    else:
        if varlen:
            normal = torch.normal(float(seqlen), seqlen / 2.0, size=(b,), generator=g_host,
                                  dtype=torch.float64)
            lens = [max(int(round(x)), s_q) for x in normal.tolist()]
        else:
            lens = [int(seqlen)] * b
        if zero_frac > 0:
            n_zero = int(round(zero_frac * b))
            for j in torch.randperm(b, generator=g_host)[:n_zero].tolist():
                lens[j] = 0
    if any(x < 0 for x in lens):
        raise ValueError("negative sequence length")

    max_len = max(lens) if lens else 0
    max_pages = max(1, -(-max_len // page_size))
    pool = b * max_pages

    # q
    row = s_q * h_q * d
    if q_batch_stride_pad > 0:
        base = torch.full((b, row + q_batch_stride_pad), float("nan"), dtype=dtype, device=device)
        base[:, :row] = _randn_clamped((b, row), dtype=dtype, device=device, generator=g_dev)
        q = base[:, :row].view(b, s_q, h_q, d)
    else:
        q = _randn_clamped((b, s_q, h_q, d), dtype=dtype, device=device, generator=g_dev)

    # cache and block table
    k_cache = _randn_clamped((pool, page_size, h_kv, d), dtype=dtype, device=device,
                             generator=g_dev)
    table_host = torch.randperm(pool, generator=g_host).to(torch.int32).view(b, max_pages)
    nan = float("nan")
    for i, length in enumerate(lens):
        used = -(-length // page_size)
        pages_i = table_host[i]
        tail = length % page_size
        if tail:
            k_cache[int(pages_i[used - 1])][tail:] = nan
        if used < max_pages:
            k_cache[pages_i[used:].to(device=device, dtype=torch.long)] = nan
    table_host = table_host.clone()
    for i, length in enumerate(lens):
        used = -(-length // page_size)
        table_host[i, used:] = UNUSED_PAGE_ID
    block_table = table_host.to(device)
    cache_seqlens = torch.tensor(lens, dtype=torch.int32, device=device)
    return DecodeInputs(
        q=q,
        k_cache=k_cache,
        block_table=block_table,
        cache_seqlens=cache_seqlens,
        softmax_scale=d ** -0.5,
        causal=causal,
        seqlens=lens,
    )


def poison_(t: torch.Tensor) -> torch.Tensor:
    """Fill a float tensor with NaN in place and return it (to catch unwritten outputs)."""
    t.fill_(float("nan"))
    return t


def check_close(
    name: str,
    actual: torch.Tensor,
    expected: torch.Tensor,
    *,
    abs_tol: float,
    rel_tol: float,
    cos_tol: float,
) -> None:
    """FlashMLA's comparison (``check_is_allclose``), raising AssertionError on failure.

    1. The positions of +inf, -inf and NaN must match exactly; they are then zeroed in both.
    2. Each element must satisfy ``|a - r| <= abs_tol`` or ``|a - r| / (|r| + 1e-6) <= rel_tol``.
    3. ``cos_diff = 1 - 2*sum(a*r) / sum(a*a + r*r)`` (float64) must be ``<= cos_tol``; skipped
       when both tensors are all zero.
    """
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(
            f"{name}: shape mismatch: actual {tuple(actual.shape)} vs expected {tuple(expected.shape)}")
    a = actual.detach().to(torch.float64)
    r = expected.detach().to(device=a.device, dtype=torch.float64)

    def _where(mask: torch.Tensor) -> str:
        idx = mask.nonzero()
        first = tuple(idx[0].tolist()) if idx.numel() else None
        return f"{idx.shape[0]} positions, first at {first}"

    for label, fn in (("+inf", torch.isposinf), ("-inf", torch.isneginf), ("NaN", torch.isnan)):
        ma, mr = fn(a), fn(r)
        diff = ma ^ mr
        if bool(diff.any()):
            idx = tuple(diff.nonzero()[0].tolist())
            raise AssertionError(
                f"{name}: {label} positions differ ({_where(diff)}; actual has "
                f"{int(ma.sum())}, expected has {int(mr.sum())}); at {idx}: "
                f"actual={a[idx].item()} expected={r[idx].item()}")
    anomaly = ~torch.isfinite(r)
    zero = torch.zeros((), dtype=torch.float64, device=a.device)
    a = torch.where(anomaly, zero, a)
    r = torch.where(anomaly, zero, r)

    err = (a - r).abs()
    rel = err / (r.abs() + 1e-6)
    bad = ~((err <= abs_tol) | (rel <= rel_tol))
    denom = float((a * a + r * r).sum())
    cos_diff = 0.0 if denom == 0.0 else 1.0 - 2.0 * float((a * r).sum()) / denom
    n_bad = int(bad.sum())
    if n_bad or cos_diff > cos_tol:
        if a.numel():
            masked = torch.where(bad, err, torch.full_like(err, -1.0)) if n_bad else err
            flat = int(masked.reshape(-1).argmax())
            worst = tuple(torch.unravel_index(torch.tensor(flat), tuple(a.shape)))
            worst = tuple(int(x) for x in worst)
            detail = (f"worst at {worst}: actual={a[worst].item():.8g} "
                      f"expected={r[worst].item():.8g}")
            max_err = float(err.max())
        else:
            detail, max_err = "empty tensors", 0.0
        raise AssertionError(
            f"{name}: {n_bad} of {a.numel()} elements out of tolerance "
            f"(abs_tol={abs_tol:g}, rel_tol={rel_tol:g}); max abs err={max_err:.6g}; {detail}; "
            f"cos_diff={cos_diff:.3g} (cos_tol={cos_tol:g})")


def flashmla_counts(b: int, s_q: int, h_q: int, h_kv: int, mean_seqlen: float):
    """FLOP and byte counts used in FlashMLA's dense benchmark (docs/PERFORMANCE.md).

    ``FLOP = b*h_q*s_q*(2*576*L + 2*L*512)`` (no causal discount);
    ``bytes = b*(s_q*h_q*576*2 + L*h_kv*576*2 + s_q*h_q*512*2)`` (Q read, cache read once,
    O written, 2-byte elements), ``L`` = mean of the sequence lengths.
    """
    L = float(mean_seqlen)
    d, dv = HEAD_DIM_QK, HEAD_DIM_V
    flop = b * h_q * s_q * (2 * d * L + 2 * L * dv)
    nbytes = b * (s_q * h_q * d * 2 + L * h_kv * d * 2 + s_q * h_q * dv * 2)
    return flop, nbytes
