"""The two operations as ``torch.library`` custom ops, with fake (meta) kernels.

``torch.ops.cute_mla.get_mla_metadata``, ``torch.ops.cute_mla.flash_mla_with_kvcache`` and its
out-variant ``flash_mla_with_kvcache_out`` (writes caller buffers), and ``mla_decode`` /
``mla_decode_out`` for the second convention (latent and RoPE operands apart). The public
functions of ``cute_mla`` call them while ``torch.compile`` traces, so a compiled model sees
opaque ops with known output shapes; eager calls skip the dispatcher (a few
microseconds) and go straight to ``_launch``. The real kernels are ``_launch``'s: the same
validation and launch as eager.

Only ``torch.library.custom_op`` / ``register_fake`` (torch >= 2.4) are used, and no
``from __future__ import annotations``: torch 2.4 infers the op schemas from real annotations.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor

from . import _launch, _native

HEAD_DIM_V = 512  # the latent width: V is the first 512 columns of the cache

# SM counts of the devices seen, by index; 0 = "the device of the tensor".
_sm_counts: dict = {}


def device_sm_count(device: torch.device) -> int:
    index = device.index if device.index is not None else torch.cuda.current_device()
    n = _sm_counts.get(index)
    if n is None:
        n = torch.cuda.get_device_properties(index).multi_processor_count
        _sm_counts[index] = n
    return n


_parts: dict = {}


def num_parts(num_sms: int, heads_k: int, rows: int) -> int:
    """Rows of tile_scheduler_metadata (cached: asked on every get_mla_metadata call)."""
    key = (int(num_sms), int(heads_k), int(rows))
    n = _parts.get(key)
    if n is None:
        n = _parts[key] = _native.module().num_sm_parts(*key)
    return n


def _resolved_sms(cache_seqlens: Tensor, num_sms: int) -> int:
    return num_sms if num_sms > 0 else device_sm_count(cache_seqlens.device)


@torch.library.custom_op("cute_mla::get_mla_metadata", mutates_args=())
def get_mla_metadata(cache_seqlens: Tensor, num_q_tokens_per_head_k: int, num_heads_k: int,
                     num_sms: int) -> Tuple[Tensor, Tensor]:
    """num_sms = 0: the SM count of cache_seqlens' (CUDA) device."""
    sms = _resolved_sms(cache_seqlens, num_sms)
    return _launch.plan_metadata(cache_seqlens, num_q_tokens_per_head_k, num_heads_k,
                                 num_parts(sms, num_heads_k, num_q_tokens_per_head_k))


@get_mla_metadata.register_fake
def _(cache_seqlens, num_q_tokens_per_head_k, num_heads_k, num_sms):
    sms = _resolved_sms(cache_seqlens, num_sms)
    parts = num_parts(sms, num_heads_k, num_q_tokens_per_head_k)
    return (cache_seqlens.new_empty((parts, 8)),
            cache_seqlens.new_empty((cache_seqlens.shape[0] + 1,)))


@torch.library.custom_op("cute_mla::flash_mla_with_kvcache", mutates_args=())
def flash_mla_with_kvcache(q: Tensor, k_cache: Tensor, block_table: Tensor,
                           cache_seqlens: Tensor, head_dim_v: int,
                           tile_scheduler_metadata: Tensor, num_splits: Tensor,
                           softmax_scale: float, causal: bool) -> Tuple[Tensor, Tensor]:
    return _launch.decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
                          tile_scheduler_metadata, num_splits, softmax_scale, causal)


@flash_mla_with_kvcache.register_fake
def _(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata, num_splits,
      softmax_scale, causal):
    b, s_q, h_q, _ = q.shape
    return (q.new_empty((b, s_q, h_q, head_dim_v)),
            q.new_empty((b, h_q, s_q), dtype=torch.float32))


@torch.library.custom_op("cute_mla::flash_mla_with_kvcache_out",
                         mutates_args=("out", "lse", "workspace"))
def flash_mla_with_kvcache_out(q: Tensor, k_cache: Tensor, block_table: Tensor,
                               cache_seqlens: Tensor, head_dim_v: int,
                               tile_scheduler_metadata: Tensor, num_splits: Tensor,
                               softmax_scale: float, causal: bool, out: Tensor, lse: Tensor,
                               workspace: Optional[Tensor]) -> None:
    _launch.decode(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata,
                   num_splits, softmax_scale, causal, out, lse, workspace)


@flash_mla_with_kvcache_out.register_fake
def _(q, k_cache, block_table, cache_seqlens, head_dim_v, tile_scheduler_metadata, num_splits,
      softmax_scale, causal, out, lse, workspace):
    return None


@torch.library.custom_op("cute_mla::get_mla_metadata_out",
                         mutates_args=("tile_scheduler_metadata", "num_splits"))
def get_mla_metadata_out(cache_seqlens: Tensor, num_q_tokens_per_head_k: int, num_heads_k: int,
                         tile_scheduler_metadata: Tensor, num_splits: Tensor) -> None:
    """Plans into the given buffers (their sizes set the parts and the padded batch)."""
    _launch.plan_metadata(cache_seqlens, num_q_tokens_per_head_k, num_heads_k,
                          tile_scheduler_metadata.shape[0],
                          (tile_scheduler_metadata, num_splits))


@get_mla_metadata_out.register_fake
def _(cache_seqlens, num_q_tokens_per_head_k, num_heads_k, tile_scheduler_metadata, num_splits):
    return None


# The second convention: q_nope/q_pe and ckv_cache/kpe_cache as separate operands (views of one
# tensor or tensors of their own), head_dim_v fixed at 512 by the operands' shapes.

@torch.library.custom_op("cute_mla::mla_decode", mutates_args=())
def mla_decode(q_nope: Tensor, q_pe: Tensor, ckv_cache: Tensor, kpe_cache: Tensor,
               block_table: Tensor, cache_seqlens: Tensor, tile_scheduler_metadata: Tensor,
               num_splits: Tensor, softmax_scale: float, causal: bool) -> Tuple[Tensor, Tensor]:
    return _launch.decode(q_nope, ckv_cache, block_table, cache_seqlens, HEAD_DIM_V,
                          tile_scheduler_metadata, num_splits, softmax_scale, causal,
                          q_pe=q_pe, kpe_cache=kpe_cache)


@mla_decode.register_fake
def _(q_nope, q_pe, ckv_cache, kpe_cache, block_table, cache_seqlens, tile_scheduler_metadata,
      num_splits, softmax_scale, causal):
    b, s_q, h_q, _ = q_nope.shape
    return (q_nope.new_empty((b, s_q, h_q, HEAD_DIM_V)),
            q_nope.new_empty((b, h_q, s_q), dtype=torch.float32))


@torch.library.custom_op("cute_mla::mla_decode_out", mutates_args=("out", "lse", "workspace"))
def mla_decode_out(q_nope: Tensor, q_pe: Tensor, ckv_cache: Tensor, kpe_cache: Tensor,
                   block_table: Tensor, cache_seqlens: Tensor, tile_scheduler_metadata: Tensor,
                   num_splits: Tensor, softmax_scale: float, causal: bool, out: Tensor,
                   lse: Tensor, workspace: Optional[Tensor]) -> None:
    _launch.decode(q_nope, ckv_cache, block_table, cache_seqlens, HEAD_DIM_V,
                   tile_scheduler_metadata, num_splits, softmax_scale, causal, out, lse,
                   workspace, q_pe, kpe_cache)


@mla_decode_out.register_fake
def _(q_nope, q_pe, ckv_cache, kpe_cache, block_table, cache_seqlens, tile_scheduler_metadata,
      num_splits, softmax_scale, causal, out, lse, workspace):
    return None
