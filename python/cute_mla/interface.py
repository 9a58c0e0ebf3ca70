"""The FlashMLA-compatible API: ``get_mla_metadata`` and ``flash_mla_with_kvcache``.

Thin by design: Python-type checks, defaults, allocation of ``out``/``lse``/workspace and
the current torch stream live here; every check on shapes, dtypes, devices, strides and
limits is made once, in C++ (``include/cute_mla/check.hpp``), and surfaces as
``TypeError``/``ValueError``/``RuntimeError`` naming the argument.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch

from . import _native

HEAD_DIM_QK = 576
# Planning on the CPU with no GPU in sight assumes an H100 SXM (132 SMs).
DEFAULT_NUM_SMS = 132

_sm_count_cache: dict = {}


def _require_tensor(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def _require_int(name: str, x) -> int:
    if isinstance(x, bool):
        raise TypeError(f"{name}: expected an int, got bool")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(x).__name__}") from None


def _num_sms(device: torch.device) -> int:
    index = device.index if device.index is not None else torch.cuda.current_device()
    n = _sm_count_cache.get(index)
    if n is None:
        n = torch.cuda.get_device_properties(index).multi_processor_count
        _sm_count_cache[index] = n
    return n


def _not_supported(feature: str):
    raise NotImplementedError(f"{feature}: not supported by cute-mla's dense decode")


@dataclass
class MlaSchedMeta:
    """FlashMLA's lazy metadata object (``get_mla_metadata()`` with no arguments).

    The first ``flash_mla_with_kvcache`` call that receives it plans the schedule from that
    call's ``cache_seqlens`` and stores it here; later calls reuse it. As with FlashMLA, reuse
    is valid only while the shapes and the values of ``cache_seqlens`` stay the same: create a
    new object each decoding step (or pass explicit tensors from ``get_mla_metadata(...)``).
    """

    tile_scheduler_metadata: Optional[torch.Tensor] = None
    num_splits: Optional[torch.Tensor] = None
    config: Optional[tuple] = field(default=None)


def get_mla_metadata(
    cache_seqlens: Optional[torch.Tensor] = None,
    num_q_tokens_per_head_k: Optional[int] = None,
    num_heads_k: Optional[int] = None,
    num_heads_q: Optional[int] = None,
    is_fp8_kvcache: bool = False,
    topk: Optional[int] = None,
    *,
    num_sms: Optional[int] = None,
):
    """Plan split-KV work for one decoding step.

    Args:
      cache_seqlens: (batch,) int32. On a CUDA device the plan is computed there by one kernel
        on the current stream (no host sync, graph-capturable); on the CPU the same planner
        runs on the host and gives the same bits.
      num_q_tokens_per_head_k: ``seqlen_q * num_heads_q // num_heads_k``.
      num_heads_k: number of KV heads.
      num_heads_q, is_fp8_kvcache, topk: accepted for FlashMLA compatibility; FP8 and sparse
        (topk) decode are not implemented.
      num_sms: CPU planning only: SMs of the GPU the plan is for (default: the current CUDA
        device's, else 132, an H100 SXM).

    Returns:
      ``(tile_scheduler_metadata, num_splits)``: (num_sm_parts, 8) int32 records and the
      (batch + 1,) int32 exclusive prefix sum of pieces per request. With no arguments,
      FlashMLA's newer lazy style: ``(MlaSchedMeta(), None)``.
    """
    del num_heads_q  # implied by the other two
    if cache_seqlens is None and num_q_tokens_per_head_k is None and num_heads_k is None:
        return MlaSchedMeta(), None
    if is_fp8_kvcache:
        _not_supported("is_fp8_kvcache")
    if topk is not None:
        _not_supported("topk")
    C = _native.module()
    _require_tensor("cache_seqlens", cache_seqlens)
    rows = _require_int("num_q_tokens_per_head_k", num_q_tokens_per_head_k)
    heads_k = _require_int("num_heads_k", num_heads_k)
    C.check_metadata(cache_seqlens, rows, heads_k)

    device = cache_seqlens.device
    if device.type == "cuda":
        sms = _num_sms(device)
        stream = torch.cuda.current_stream(device).cuda_stream
    else:
        if num_sms is not None:
            sms = _require_int("num_sms", num_sms)
            if sms < 1:
                raise ValueError(f"num_sms: must be >= 1, got {sms}")
        elif torch.cuda.is_available():
            sms = _num_sms(torch.device("cuda"))
        else:
            sms = DEFAULT_NUM_SMS
        stream = 0
    parts = C.num_sm_parts(sms, heads_k, rows)
    metadata = torch.empty((parts, 8), dtype=torch.int32, device=device)
    num_splits = torch.empty((cache_seqlens.shape[0] + 1,), dtype=torch.int32, device=device)
    C.plan_metadata(cache_seqlens, rows, heads_k, metadata, num_splits, stream)
    return metadata, num_splits


def _resolve_lazy_metadata(meta: MlaSchedMeta, q, k_cache, cache_seqlens, causal):
    if q.dim() != 4 or k_cache.dim() != 4:
        return None, None  # let the C++ check name the bad shape
    b, s_q, h_q, _ = q.shape
    h_kv = k_cache.shape[2]
    config = (b, s_q, h_q, h_kv, bool(causal), str(q.device))
    if meta.config is None:
        if h_kv < 1 or h_q % h_kv:
            return None, None
        meta.tile_scheduler_metadata, meta.num_splits = get_mla_metadata(
            cache_seqlens, s_q * h_q // h_kv, h_kv)
        meta.config = config
    elif meta.config != config:
        raise ValueError(
            "tile_scheduler_metadata: this MlaSchedMeta was planned for (b, s_q, h_q, h_kv, "
            f"causal, device) = {meta.config}, the call has {config}; use a new "
            "get_mla_metadata() object per configuration and step")
    return meta.tile_scheduler_metadata, meta.num_splits


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata,
    num_splits: Optional[torch.Tensor] = None,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    is_fp8_kvcache: bool = False,
    indices: Optional[torch.Tensor] = None,
    attn_sink: Optional[torch.Tensor] = None,
    extra_k_cache: Optional[torch.Tensor] = None,
    extra_indices_in_kvcache: Optional[torch.Tensor] = None,
    topk_length: Optional[torch.Tensor] = None,
    extra_topk_length: Optional[torch.Tensor] = None,
    *,
    out: Optional[torch.Tensor] = None,
    lse: Optional[torch.Tensor] = None,
    validate_seqlens: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """MLA decode attention over a paged KV cache (FlashMLA's call signature).

    Args:
      q: (b, s_q, h_q, 576) bfloat16 or float16, last dim contiguous.
      k_cache: (num_pages, 64, h_kv, 576), q's dtype; V is ``k_cache[..., :512]``.
      block_table: (b, max_pages_per_seq) int32; token t of request i is row t % 64 of page
        ``block_table[i, t // 64]``.
      cache_seqlens: (b,) int32 KV lengths (0 allowed).
      head_dim_v: 512.
      tile_scheduler_metadata, num_splits: from ``get_mla_metadata`` for these lengths, or an
        ``MlaSchedMeta`` with ``num_splits=None`` (lazy style).
      softmax_scale: default ``576 ** -0.5``.
      causal: bottom-right aligned: query j of s_q sees keys [0, len - s_q + j].
      is_fp8_kvcache, indices, attn_sink, extra_*, topk_length: FlashMLA features outside
        dense BF16/FP16 decode; not implemented (NotImplementedError when given).
      out, lse: optional preallocated outputs (shapes below).
      validate_seqlens: also check the length values (>= 0, within the block table); this
        copies them to the host (a sync) and cannot run inside CUDA-graph capture. Without it
        the kernels never read outside the given tensors whatever the values are.

    Returns:
      ``(out, lse)``: out (b, s_q, h_q, 512) in q's dtype; lse (b, h_q, s_q) float32, natural
      log, ``+inf`` for a row that sees no key (its out row is 0).
    """
    if is_fp8_kvcache:
        _not_supported("is_fp8_kvcache")
    for name, value in (("indices", indices), ("attn_sink", attn_sink),
                        ("extra_k_cache", extra_k_cache),
                        ("extra_indices_in_kvcache", extra_indices_in_kvcache),
                        ("topk_length", topk_length), ("extra_topk_length", extra_topk_length)):
        if value is not None:
            _not_supported(name)
    C = _native.module()
    for name, value in (("q", q), ("k_cache", k_cache), ("block_table", block_table),
                        ("cache_seqlens", cache_seqlens)):
        _require_tensor(name, value)
    head_dim_v = _require_int("head_dim_v", head_dim_v)

    if isinstance(tile_scheduler_metadata, MlaSchedMeta):
        if num_splits is not None:
            raise ValueError("num_splits: must be None when tile_scheduler_metadata is an "
                             "MlaSchedMeta (lazy style)")
        tile_scheduler_metadata, num_splits = _resolve_lazy_metadata(
            tile_scheduler_metadata, q, k_cache, cache_seqlens, causal)
    if tile_scheduler_metadata is not None:
        _require_tensor("tile_scheduler_metadata", tile_scheduler_metadata)
    if num_splits is not None:
        _require_tensor("num_splits", num_splits)
    if out is not None:
        _require_tensor("out", out)
    if lse is not None:
        _require_tensor("lse", lse)

    if softmax_scale is None:
        # The checks below reject a q whose last dim is not 576; until then stay finite.
        width = q.shape[-1] if q.dim() and q.shape[-1] > 0 else HEAD_DIM_QK
        softmax_scale = width ** -0.5
    if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
        raise TypeError(f"softmax_scale: expected a float, got {type(softmax_scale).__name__}")
    causal = bool(causal)

    workspace_bytes = C.check_decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                                     tile_scheduler_metadata, num_splits, float(softmax_scale),
                                     causal, out, lse)
    if validate_seqlens:
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("validate_seqlens: reads the lengths on the host, which is not "
                               "possible during CUDA graph capture")
        C.check_seqlens(cache_seqlens.to("cpu", non_blocking=False), block_table.shape[1])

    b, s_q, h_q, _ = q.shape
    if out is None:
        out = torch.empty((b, s_q, h_q, head_dim_v), dtype=q.dtype, device=q.device)
    if lse is None:
        lse = torch.empty((b, h_q, s_q), dtype=torch.float32, device=q.device)
    workspace = (torch.empty((workspace_bytes,), dtype=torch.uint8, device=q.device)
                 if workspace_bytes > 0 else None)
    stream = torch.cuda.current_stream(q.device).cuda_stream
    C.decode(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
             num_splits, float(softmax_scale), causal, out, lse, workspace, stream)
    return out, lse
