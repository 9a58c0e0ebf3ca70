"""The FlashMLA-compatible API: ``get_mla_metadata`` and ``flash_mla_with_kvcache``.

Thin by design: Python-type checks and defaults live here; every check on shapes, dtypes,
devices, strides and limits is made once, in C++ (``include/cute_mla/check.hpp``), and surfaces
as ``TypeError``/``ValueError``/``RuntimeError`` naming the argument. Eager calls go to
``_launch`` (one native call that validates and launches); while ``torch.compile`` traces, the
same calls go to the custom ops of ``ops``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch

from . import _launch, _native, ops
from ._workspace import workspaces
from .ops import HEAD_DIM_V

HEAD_DIM_QK = 576
_DEFAULT_SCALE = HEAD_DIM_QK ** -0.5
# Planning on the CPU with no GPU in sight assumes an H100 SXM (132 SMs).
DEFAULT_NUM_SMS = 132

_is_compiling = torch.compiler.is_compiling
_Tensor = torch.Tensor


def _require_tensor(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    return x


def _require_int(name: str, x) -> int:
    if type(x) is int:
        return x
    if isinstance(x, bool):
        raise TypeError(f"{name}: expected an int, got bool")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(x).__name__}") from None


def _require_pair(name: str, x) -> Tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise TypeError(f"{name}: expected a (tile_scheduler_metadata, num_splits) pair of "
                        f"tensors, got {type(x).__name__}")
    return (_require_tensor(f"{name}[0] (tile_scheduler_metadata)", x[0]),
            _require_tensor(f"{name}[1] (num_splits)", x[1]))


def _resolve_scale(softmax_scale) -> float:
    """The default ``576 ** -0.5``, or the given number as a float (its range: check.hpp)."""
    if softmax_scale is None:
        return _DEFAULT_SCALE
    if type(softmax_scale) is float:
        return softmax_scale
    if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
        raise TypeError(f"softmax_scale: expected a float, got {type(softmax_scale).__name__}")
    return float(softmax_scale)


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
    out: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
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
      out: optional ``(tile_scheduler_metadata, num_splits)`` buffers to plan into (nothing is
        allocated: for CUDA graphs), e.g. the tensors an earlier call returned. Their sizes
        rule: the plan uses ``tile_scheduler_metadata.shape[0]`` parts, and a ``num_splits``
        longer than ``batch + 1`` (sized for a larger, captured batch) gets the plan in its
        first ``batch + 1`` entries and the last value repeated after them, so the rows past
        ``batch`` get no work and are left unwritten by the decode.

    Returns:
      ``(tile_scheduler_metadata, num_splits)``: (num_sm_parts, 8) int32 records and the
      (batch + 1,) int32 exclusive prefix sum of pieces per request (``out`` when given). With
      no arguments, FlashMLA's newer lazy style: ``(MlaSchedMeta(), None)``.
    """
    del num_heads_q  # implied by the other two
    if cache_seqlens is None and num_q_tokens_per_head_k is None and num_heads_k is None:
        return MlaSchedMeta(), None
    if is_fp8_kvcache:
        _not_supported("is_fp8_kvcache")
    if topk is not None:
        _not_supported("topk")
    _require_tensor("cache_seqlens", cache_seqlens)
    rows = _require_int("num_q_tokens_per_head_k", num_q_tokens_per_head_k)
    heads_k = _require_int("num_heads_k", num_heads_k)
    if out is not None:
        metadata, num_splits = _require_pair("out", out)
        if _is_compiling():
            ops.get_mla_metadata_out(cache_seqlens, rows, heads_k, metadata, num_splits)
            return metadata, num_splits
        return _launch.plan_metadata(cache_seqlens, rows, heads_k, metadata.shape[0],
                                     (metadata, num_splits))

    if cache_seqlens.is_cuda:
        sms = 0  # the device's
    elif num_sms is not None:
        sms = _require_int("num_sms", num_sms)
        if sms < 1:
            raise ValueError(f"num_sms: must be >= 1, got {sms}")
    elif torch.cuda.is_available():
        sms = ops.device_sm_count(torch.device("cuda"))
    else:
        sms = DEFAULT_NUM_SMS
    if _is_compiling():
        return ops.get_mla_metadata(cache_seqlens, rows, heads_k, sms)
    if sms == 0:
        sms = ops.device_sm_count(cache_seqlens.device)
    return _launch.plan_metadata(cache_seqlens, rows, heads_k, ops.num_parts(sms, heads_k, rows))


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
    workspace: Optional[torch.Tensor] = None,
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
      workspace: optional uint8 CUDA tensor of at least ``decode_workspace_size(...)`` bytes
        for the split partials. Default: a buffer cached per (device, stream) that grows to the
        largest need seen (``cute_mla.clear_workspace_cache()`` drops it); during CUDA graph
        capture, one from the graph's memory pool. With ``out``, ``lse`` and ``workspace``
        given the call allocates nothing.
      validate_seqlens: also check the length values (>= 0, within the block table); this
        copies them to the host (a sync) and cannot run inside CUDA-graph capture. Without it
        the kernels never read outside the given tensors whatever the values are.

    Returns:
      ``(out, lse)``: out (b, s_q, h_q, 512) in q's dtype; lse (b, h_q, s_q) float32, natural
      log, ``+inf`` for a row that sees no key (its out row is 0).
    """
    if (is_fp8_kvcache or indices is not None or attn_sink is not None
            or extra_k_cache is not None or extra_indices_in_kvcache is not None
            or topk_length is not None or extra_topk_length is not None):
        _unsupported_decode_feature(is_fp8_kvcache, indices, attn_sink, extra_k_cache,
                                    extra_indices_in_kvcache, topk_length, extra_topk_length)
    # The usual call (plain tensors, an int head_dim_v, explicit metadata) passes every check
    # of _check_decode_types; one test of exact types skips them (about 1 us a call).
    if not (type(q) is _Tensor and type(k_cache) is _Tensor and type(block_table) is _Tensor
            and type(cache_seqlens) is _Tensor and type(head_dim_v) is int
            and type(tile_scheduler_metadata) is _Tensor and type(num_splits) is _Tensor
            and (out is None or type(out) is _Tensor) and (lse is None or type(lse) is _Tensor)
            and (workspace is None or type(workspace) is _Tensor)):
        head_dim_v, tile_scheduler_metadata, num_splits = _check_decode_types(
            q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
            num_splits, causal, out, lse, workspace)
    softmax_scale = _resolve_scale(softmax_scale)
    causal = bool(causal)

    if _is_compiling():
        return _compiled_decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                                tile_scheduler_metadata, num_splits, softmax_scale, causal,
                                out, lse, workspace)
    if validate_seqlens:
        _validate_seqlens(q, k_cache, block_table, cache_seqlens, head_dim_v,
                          tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse)
    return _launch.decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                          tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse,
                          workspace)


def mla_decode(
    q_nope: torch.Tensor,
    q_pe: torch.Tensor,
    ckv_cache: torch.Tensor,
    kpe_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    tile_scheduler_metadata: torch.Tensor,
    num_splits: torch.Tensor,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
    *,
    out: Optional[torch.Tensor] = None,
    lse: Optional[torch.Tensor] = None,
    workspace: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """MLA decode with the latent and RoPE parts as separate operands (the convention of
    vLLM's and SGLang's FA3 / FlashInfer MLA backends); the same kernel and the same results
    as ``flash_mla_with_kvcache`` on the 576-wide tensors, with no copy.

    Args:
      q_nope: (b, s_q, h_q, 512) the latent ("absorbed") query; last dim contiguous.
      q_pe: (b, s_q, h_q, 64) the RoPE query; a tensor of its own or ``q[..., 512:]``.
      ckv_cache: (num_pages, 64, h_kv, 512) the latent cache (also V), e.g.
        ``kv_cache[..., :512]`` of one paged tensor, or a tensor of its own.
      kpe_cache: (num_pages, 64, h_kv, 64) the RoPE keys, e.g. ``kv_cache[..., 512:]``.
      block_table, cache_seqlens, tile_scheduler_metadata, num_splits, softmax_scale, causal,
        out, lse, workspace: as in ``flash_mla_with_kvcache`` (default scale ``576 ** -0.5``).

    Under ``torch.compile`` it is the custom op ``cute_mla::mla_decode`` (``mla_decode_out``
    with ``out``/``lse``/``workspace``), as ``flash_mla_with_kvcache`` is.
    """
    for name, value in (("q_nope", q_nope), ("q_pe", q_pe), ("ckv_cache", ckv_cache),
                        ("kpe_cache", kpe_cache), ("block_table", block_table),
                        ("cache_seqlens", cache_seqlens),
                        ("tile_scheduler_metadata", tile_scheduler_metadata),
                        ("num_splits", num_splits)):
        _require_tensor(name, value)
    for name, value in (("out", out), ("lse", lse), ("workspace", workspace)):
        if value is not None:
            _require_tensor(name, value)
    softmax_scale = _resolve_scale(softmax_scale)
    causal = bool(causal)
    if _is_compiling():
        return _compiled_mla_decode(q_nope, q_pe, ckv_cache, kpe_cache, block_table,
                                    cache_seqlens, tile_scheduler_metadata, num_splits,
                                    softmax_scale, causal, out, lse, workspace)
    return _launch.decode(q_nope, ckv_cache, block_table, cache_seqlens, HEAD_DIM_V,
                          tile_scheduler_metadata, num_splits, softmax_scale,
                          causal, out, lse, workspace, q_pe, kpe_cache)


def _check_decode_types(q, k_cache, block_table, cache_seqlens, head_dim_v,
                        tile_scheduler_metadata, num_splits, causal, out, lse, workspace):
    """The Python-type checks of ``flash_mla_with_kvcache``, in argument order, and the lazy
    metadata resolved; returns ``head_dim_v, tile_scheduler_metadata, num_splits``."""
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
    for name, value in (("tile_scheduler_metadata", tile_scheduler_metadata),
                        ("num_splits", num_splits), ("out", out), ("lse", lse),
                        ("workspace", workspace)):
        if value is not None:
            _require_tensor(name, value)
    return head_dim_v, tile_scheduler_metadata, num_splits


def _unsupported_decode_feature(is_fp8_kvcache, indices, attn_sink, extra_k_cache,
                                extra_indices_in_kvcache, topk_length, extra_topk_length):
    if is_fp8_kvcache:
        _not_supported("is_fp8_kvcache")
    for name, value in (("indices", indices), ("attn_sink", attn_sink),
                        ("extra_k_cache", extra_k_cache),
                        ("extra_indices_in_kvcache", extra_indices_in_kvcache),
                        ("topk_length", topk_length), ("extra_topk_length", extra_topk_length)):
        if value is not None:
            _not_supported(name)


def _validate_seqlens(q, k_cache, block_table, cache_seqlens, head_dim_v,
                      tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse):
    """The optional host check of the length values, after the shape checks (so a bad shape
    is named first): a sync, so never during capture."""
    C = _native.module()
    C.check_decode(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                   num_splits, softmax_scale, causal, out, lse)
    if torch.cuda.is_current_stream_capturing():
        raise RuntimeError("validate_seqlens: reads the lengths on the host, which is not "
                           "possible during CUDA graph capture")
    C.check_seqlens(cache_seqlens.to("cpu", non_blocking=False), block_table.shape[1])


def _compiled_mla_decode(q_nope, q_pe, ckv_cache, kpe_cache, block_table, cache_seqlens,
                        tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse,
                        workspace):
    """mla_decode's custom ops, for torch.compile (as _compiled_decode)."""
    operands = (q_nope, q_pe, ckv_cache, kpe_cache, block_table, cache_seqlens,
                tile_scheduler_metadata, num_splits, softmax_scale, causal)
    if out is None and lse is None and workspace is None:
        return ops.mla_decode(*operands)
    b, s_q, h_q, _ = q_nope.shape
    if out is None:
        out = q_nope.new_empty((b, s_q, h_q, HEAD_DIM_V))
    if lse is None:
        lse = q_nope.new_empty((b, h_q, s_q), dtype=torch.float32)
    ops.mla_decode_out(*operands, out, lse, workspace)
    return out, lse


def _compiled_decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                     tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse,
                     workspace):
    """The custom ops, for torch.compile: functional without buffers, the out-variant with."""
    if tile_scheduler_metadata is None or num_splits is None:
        raise ValueError("tile_scheduler_metadata: is required (from get_mla_metadata)")
    if out is None and lse is None and workspace is None:
        return ops.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens, head_dim_v,
                                          tile_scheduler_metadata, num_splits, softmax_scale,
                                          causal)
    b, s_q, h_q, _ = q.shape
    if out is None:
        out = q.new_empty((b, s_q, h_q, head_dim_v))
    if lse is None:
        lse = q.new_empty((b, h_q, s_q), dtype=torch.float32)
    ops.flash_mla_with_kvcache_out(q, k_cache, block_table, cache_seqlens, head_dim_v,
                                   tile_scheduler_metadata, num_splits, softmax_scale, causal,
                                   out, lse, workspace)
    return out, lse


def decode_workspace_size(q: torch.Tensor, k_cache: torch.Tensor,
                          tile_scheduler_metadata: torch.Tensor) -> int:
    """Bytes of the ``workspace=`` that ``flash_mla_with_kvcache`` needs for these shapes (q
    of shape (b, s_q, h_q, 576), k_cache (pages, 64, h_kv, 576), the metadata's parts)."""
    b, s_q, h_q, _ = q.shape
    h_kv = k_cache.shape[2]
    return _native.module().workspace_bytes(b, tile_scheduler_metadata.shape[0], h_kv,
                                            s_q * h_q // h_kv)


def clear_workspace_cache() -> None:
    """Free the workspaces cached for eager calls (they are re-made on the next call)."""
    workspaces.clear()
