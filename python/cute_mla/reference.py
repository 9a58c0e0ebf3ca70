"""Float32 PyTorch reference for MLA decode attention with FlashMLA's semantics.

Conventions shared by every function here:

* ``q`` is ``(b, s_q, h_q, d)`` with ``d = 576`` (512 latent + 64 rope); any float dtype.
* ``k_cache`` is paged: ``(num_pages, page_size, h_kv, d)``. Token ``t`` of request ``i`` lives in
  page ``block_table[i][t // page_size]``, row ``t % page_size``. V is ``k_cache[..., :head_dim_v]``.
* Only the first ``cache_seqlens[i]`` tokens of a request are read, so garbage (NaN) in rows past a
  sequence end and huge ids in unused block-table slots are never touched. Like FlashMLA's
  reference, NaN inside the gathered rows is replaced by 0.
* With ``h_kv > 1`` query head ``h`` uses KV head ``h // (h_q // h_kv)``.
* Causal masking is bottom-right aligned: query token ``j`` (0-based) of a request of length ``L``
  sees keys ``[0, L - s_q + j]``. With ``s_q == 1`` it has no effect.
* Everything is computed in float32. The natural-log LSE is ``log(sum_j exp(scale * q . k_j))``.
  A query row that sees no key (empty request, or a causal row before the first key) gets
  ``out = 0`` and ``lse = +inf`` (FlashMLA's convention for final outputs).
* Split-KV partials use a base-2 LSE (``lse2 = lse / ln 2``) and ``-inf`` for empty pieces, as
  the kernel's partial buffers do.

CUDA note: the matmuls run in float32; if the caller enabled TF32 for float32 matmuls the
reference loses precision, so keep TF32 off when comparing against it.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch

__all__ = [
    "gather_request_kv",
    "mla_decode_reference",
    "request_partial_reference",
    "merge_partials_reference",
]

_LN2 = math.log(2.0)


def _as_int(x) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.item())
    return int(x)


def gather_request_kv(
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    seqlen: Union[int, torch.Tensor, Sequence[int]],
    i: int,
) -> torch.Tensor:
    """Gather the cache rows of request ``i`` into a contiguous float32 tensor.

    ``seqlen`` is the length of request ``i`` (an int or 0-d tensor); a 1-d tensor or list of all
    lengths is also accepted and indexed with ``i``. Only the first ``ceil(len / page_size)``
    entries of ``block_table[i]`` are read, and only the first ``len`` rows are kept.

    Returns ``(len, h_kv, d)`` float32 on ``k_cache``'s device, with NaN replaced by 0.
    """
    if isinstance(seqlen, torch.Tensor) and seqlen.dim() > 0:
        length = _as_int(seqlen[i])
    elif isinstance(seqlen, (list, tuple)):
        length = _as_int(seqlen[i])
    else:
        length = _as_int(seqlen)
    num_pages, page_size, h_kv, d = k_cache.shape
    if length <= 0:
        return torch.zeros(0, h_kv, d, dtype=torch.float32, device=k_cache.device)
    n_pages = (length + page_size - 1) // page_size
    pages = block_table[i, :n_pages].to(device=k_cache.device, dtype=torch.long)
    kv = k_cache.index_select(0, pages).reshape(n_pages * page_size, h_kv, d)[:length]
    kv = kv.to(torch.float32)
    return torch.where(torch.isnan(kv), torch.zeros((), dtype=kv.dtype, device=kv.device), kv)


def _attend(
    q_i: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    begin: int,
    end: int,
    scale: float,
    causal: bool,
    seqlen: int,
):
    """Attention of one request's queries over keys ``[begin, end)`` of a sequence of length
    ``seqlen`` (with the full sequence's causal mask).

    Returns (o (s_q, h_q, dv) float32 normalized, lse (s_q, h_q) float32 natural log, -inf where
    the row sees no key in the range; o is 0 there).
    """
    s_q, h_q, d = q_i.shape
    h_kv = keys.shape[1]
    dv = values.shape[-1]
    if h_q % h_kv != 0:
        raise ValueError(f"h_q={h_q} is not a multiple of h_kv={h_kv}")
    hpk = h_q // h_kv
    device = q_i.device
    begin = max(0, begin)
    end = min(end, keys.shape[0])
    n = max(0, end - begin)
    qf = q_i.to(torch.float32).reshape(s_q, h_kv, hpk, d)
    k = keys[begin:begin + n].to(device=device, dtype=torch.float32)
    v = values[begin:begin + n].to(device=device, dtype=torch.float32)
    # scores: (h_kv, s_q, hpk, n)
    scores = torch.einsum("sgpd,ngd->gspn", qf, k) * scale
    pos = torch.arange(begin, begin + n, device=device)
    if causal:
        # query token j sees keys t <= seqlen - s_q + j
        limit = seqlen - s_q + torch.arange(s_q, device=device)  # (s_q,)
        visible = pos[None, :] <= limit[:, None]  # (s_q, n)
    else:
        visible = torch.ones(s_q, n, dtype=torch.bool, device=device)
    scores = scores.masked_fill(~visible[None, :, None, :], float("-inf"))
    lse = torch.logsumexp(scores, dim=-1) if n > 0 else torch.full(
        (h_kv, s_q, hpk), float("-inf"), dtype=torch.float32, device=device)
    empty = torch.isneginf(lse)
    lse_safe = torch.where(empty, torch.zeros_like(lse), lse)
    p = torch.exp(scores - lse_safe[..., None])  # masked keys give exp(-inf) = 0
    o = torch.einsum("gspn,ngv->sgpv", p, v)  # (s_q, h_kv, hpk, dv)
    o = o.reshape(s_q, h_q, dv)
    lse = lse.permute(1, 0, 2).reshape(s_q, h_q)
    o = torch.where(torch.isneginf(lse)[..., None], torch.zeros_like(o), o)
    return o, lse


def mla_decode_reference(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int = 512,
    softmax_scale: float | None = None,
    causal: bool = False,
):
    """Reference MLA decode over a paged cache (FlashMLA ``flash_mla_with_kvcache`` semantics).

    Args:
        q: ``(b, s_q, h_q, d)`` any float dtype, any strides.
        k_cache: ``(num_pages, page_size, h_kv, d)``; V is its first ``head_dim_v`` columns.
        block_table: ``(b, max_pages)`` int32 page ids.
        cache_seqlens: ``(b,)`` int32 lengths, on CPU or on the device.
        head_dim_v: value width (512).
        softmax_scale: defaults to ``d ** -0.5`` (576 ** -0.5).
        causal: bottom-right aligned causal mask (only matters for ``s_q > 1``).

    Returns:
        ``out`` float32 ``(b, s_q, h_q, head_dim_v)`` and ``lse`` float32 ``(b, h_q, s_q)``
        (natural log of ``sum_j exp(scale * q . k_j)``). Rows that see no key: out 0, lse +inf.
    """
    b, s_q, h_q, d = q.shape
    if softmax_scale is None:
        softmax_scale = d ** -0.5
    lens = [int(x) for x in cache_seqlens.tolist()]
    if len(lens) != b:
        raise ValueError(f"cache_seqlens has {len(lens)} entries, q has batch {b}")
    device = q.device
    out = torch.empty(b, s_q, h_q, head_dim_v, dtype=torch.float32, device=device)
    lse = torch.empty(b, h_q, s_q, dtype=torch.float32, device=device)
    for i in range(b):
        kv = gather_request_kv(k_cache, block_table, lens[i], i).to(device)
        o_i, lse_i = _attend(q[i], kv, kv[..., :head_dim_v], 0, lens[i],
                             softmax_scale, causal, lens[i])
        lse_i = torch.where(torch.isneginf(lse_i), torch.full_like(lse_i, float("inf")), lse_i)
        out[i] = o_i
        lse[i] = lse_i.transpose(0, 1)
    return out, lse


def request_partial_reference(
    q_i: torch.Tensor,
    keys_i: torch.Tensor,
    values_i: torch.Tensor,
    begin: int,
    end: int,
    softmax_scale: float,
    causal: bool,
    seqlen: int,
):
    """Split-KV partial of one request over the token range ``[begin, end)``.

    Args:
        q_i: ``(s_q, h_q, d)`` queries of one request.
        keys_i: ``(len, h_kv, d)`` gathered cache rows (e.g. from :func:`gather_request_kv`).
        values_i: ``(len, h_kv, dv)`` values (normally ``keys_i[..., :512]``).
        begin, end: token range; clipped to ``[0, len)``.
        softmax_scale: the scale applied to ``q . k``.
        causal: apply the full sequence's bottom-right causal mask.
        seqlen: full length of the request (the causal mask is relative to it).

    Returns:
        ``o`` float32 ``(s_q, h_q, dv)``: softmax over the visible keys in the range times V
        (normalized within the range), 0 for a row with no visible key;
        ``lse2`` float32 ``(s_q, h_q)``: base-2 log-sum-exp of ``scale * q . k`` over those keys
        (natural LSE / ln 2), ``-inf`` for a row with no visible key.
    """
    o, lse = _attend(q_i, keys_i, values_i, int(begin), int(end), softmax_scale, causal,
                     int(seqlen))
    return o, lse / _LN2


def merge_partials_reference(o_parts, lse2_parts):
    """Merge normalized split-KV partials (what the combine kernel computes).

    Args:
        o_parts: ``(n, ..., dv)`` normalized partial outputs (tensor or sequence of tensors).
        lse2_parts: ``(n, ...)`` base-2 LSEs, ``-inf`` for empty pieces.

    Returns:
        ``o`` float32 ``(..., dv)`` = ``sum_k w_k o_k / sum_k w_k`` with
        ``w_k = 2 ** (lse2_k - max_k lse2_k)``, and the NATURAL-log ``lse`` ``(...)`` =
        ``(max + log2(sum w)) * ln 2``. Where every piece is empty: o = 0 and lse = +inf.
        Empty pieces contribute nothing even if their o holds garbage.
    """
    if not isinstance(o_parts, torch.Tensor):
        o_parts = torch.stack(list(o_parts))
    if not isinstance(lse2_parts, torch.Tensor):
        lse2_parts = torch.stack(list(lse2_parts))
    o_parts = o_parts.to(torch.float32)
    lse2_parts = lse2_parts.to(torch.float32)
    m = lse2_parts.amax(dim=0)
    all_empty = torch.isneginf(m)
    m_safe = torch.where(all_empty, torch.zeros_like(m), m)
    w = torch.exp2(lse2_parts - m_safe[None])  # 0 for empty pieces
    wsum = w.sum(dim=0)
    contrib = torch.where((w > 0)[..., None], w[..., None] * o_parts, torch.zeros_like(o_parts))
    wsum_safe = torch.where(all_empty, torch.ones_like(wsum), wsum)
    o = contrib.sum(dim=0) / wsum_safe[..., None]
    o = torch.where(all_empty[..., None], torch.zeros_like(o), o)
    lse = (m_safe + torch.log2(wsum_safe)) * _LN2
    lse = torch.where(all_empty, torch.full_like(lse, float("inf")), lse)
    return o, lse
