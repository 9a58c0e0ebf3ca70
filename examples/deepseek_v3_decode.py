"""A DeepSeek-V3 attention layer decoding through cute-mla, checked against the model itself.

One ``transformers`` ``DeepseekV3Attention`` layer with a small random config (kv_lora_rank 512
and qk_rope_head_dim 64 as in the real model, since the kernel is built for 512 + 64) and random
weights. A random prompt per sequence is prefilled through the layer's own eager attention and
its own cache; then each decoding step feeds new tokens both

* to the model: eager attention over its cache of expanded keys and values (float32), and
* to the absorbed path a serving engine runs (``mla_absorb.py``): latent query and cache rows,
  a paged cache with a shuffled block table (``paged_latent_cache.py``), attention on the
  latent through the chosen backend with the layer's own softmax scale, then ``W_UV`` and
  ``o_proj``;

and the two layer outputs are compared.

Backends: ``cute_mla`` (the SM90 kernel, BF16/FP16, needs the GPU) or ``reference``
(``cute_mla.reference``, float32 on any device: the same latent math without the kernel, so the
absorption itself is verified on a CPU).

Needs ``transformers`` >= 5.0 (its DeepseekV3Attention caches the latent and takes
``past_key_values``; tested with 5.23.0), which is not a dependency of cute-mla.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mla_absorb import AbsorbedMla  # noqa: E402
from paged_latent_cache import PagedLatentCache  # noqa: E402

TRANSFORMERS_MIN = "5.0"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Pass criteria on the layer output, per dtype of the attention inputs (query and cache).
# Both are relative to the output's size, since random weights set its scale:
#   rel_l2  = ||actual - expected|| / ||expected||
#   max_err = max |actual - expected| / max |expected|
# float32: only the summation order differs from the model, so ~1e-6 is seen (sums of up to
#   1024 float32 terms); 2e-5 leaves room for other BLAS builds, while a mistake in the
#   absorption (a transposed W_UK, a wrong scale, a missing rope) gives errors of order 1.
# bfloat16/float16: the query and the 576-wide cache rows are rounded to 8 (11) mantissa bits
#   and the kernel also rounds P and the output; each rounding is <= 2**-9 relative, and the
#   errors of the 192- and 512-term sums are random: rounding only the inputs (the reference
#   backend with --dtype bfloat16) gives a rel_l2 of 4e-3 (6e-4 for float16), and the kernel's
#   own roundings add about as much again. 2e-2 / 5e-2 (5e-3 / 1e-2) are ~4x that: loose
#   enough for any GPU schedule, still far below the order-1 error of a real mistake (the
#   library's default scale instead of the layer's gives 0.8).
TOLERANCE = {
    torch.float32: dict(rel_l2=2e-5, max_err=2e-5),
    torch.bfloat16: dict(rel_l2=2e-2, max_err=5e-2),
    torch.float16: dict(rel_l2=5e-3, max_err=1e-2),
}


def load_modeling():
    """The transformers DeepseekV3 modeling module; ImportError saying why when unusable."""
    try:
        import transformers
        from packaging.version import Version
    except ImportError as e:
        raise ImportError(f"this example needs transformers>={TRANSFORMERS_MIN} "
                          f"(pip install 'transformers>={TRANSFORMERS_MIN}'): {e}") from e
    if Version(transformers.__version__) < Version(TRANSFORMERS_MIN):
        raise ImportError(f"this example needs transformers>={TRANSFORMERS_MIN}, found "
                          f"{transformers.__version__}")
    from transformers.models.deepseek_v3 import modeling_deepseek_v3
    return modeling_deepseek_v3


def make_config(modeling, *, heads: int, hidden: int, q_lora_rank: Optional[int], yarn: bool):
    # YaRN as DeepSeek-V3 ships it: the softmax scale then carries mscale**2 (~1.87), which the
    # kernel's default scale (576**-0.5) would miss.
    rope = ({"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0,
             "original_max_position_embeddings": 4096, "beta_fast": 32.0, "beta_slow": 1.0,
             "mscale": 1.0, "mscale_all_dim": 1.0}
            if yarn else {"rope_type": "default", "rope_theta": 10000.0})
    config = modeling.DeepseekV3Config(
        hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=heads,
        q_lora_rank=q_lora_rank, kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128,
        v_head_dim=128, max_position_embeddings=163840, rope_parameters=rope,
        rope_interleave=True, attention_bias=False, num_hidden_layers=1, vocab_size=256)
    config._attn_implementation = "eager"
    return config


@torch.no_grad()
def randomize_(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Random weights with unit-scale activations; RMSNorm gains around 1 (never zero)."""
    for name, p in module.named_parameters():
        if p.dim() == 1:
            p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=generator))
        else:
            p.copy_(torch.randn(p.shape, generator=generator) / p.shape[1] ** 0.5)


def causal_mask(past: int, n: int, device) -> torch.Tensor:
    """Additive mask (1, 1, n, past + n): new token j sees keys [0, past + j]."""
    keys = torch.arange(past + n, device=device)
    visible = keys[None, :] <= past + torch.arange(n, device=device)[:, None]
    mask = torch.zeros(n, past + n, device=device)
    return mask.masked_fill(~visible, torch.finfo(torch.float32).min)[None, None]


def attend(backend: str, query: torch.Tensor, cache: PagedLatentCache, scale: float):
    """Latent attention (b, s, H, 576) over the paged cache -> (b, s, H, 512)."""
    seqlens = cache.seqlens()
    if backend == "reference":
        from cute_mla.reference import mla_decode_reference
        out, _ = mla_decode_reference(query, cache.k_cache, cache.block_table, seqlens, 512,
                                      scale, causal=True)
        return out
    import cute_mla
    b, s, h, _ = query.shape
    meta, splits = cute_mla.get_mla_metadata(seqlens, s * h, 1)
    out, _ = cute_mla.flash_mla_with_kvcache(query, cache.k_cache, cache.block_table, seqlens,
                                             512, meta, splits, softmax_scale=scale, causal=True)
    return out


@dataclass
class StepResult:
    step: int
    lengths: List[int]
    rel_l2: float
    max_err: float
    max_abs_err: float
    ok: bool


def compare(step, lengths, actual, expected, tol) -> StepResult:
    diff = (actual.double() - expected.double())
    ref = expected.double()
    rel_l2 = float(diff.norm() / ref.norm())
    max_abs = float(diff.abs().max())
    max_err = max_abs / float(ref.abs().max())
    ok = rel_l2 <= tol["rel_l2"] and max_err <= tol["max_err"]
    return StepResult(step, list(lengths), rel_l2, max_err, max_abs, ok)


@torch.no_grad()
def run(backend: str = "reference", *, dtype: Optional[torch.dtype] = None, heads: int = 16,
        hidden: int = 1024, q_lora_rank: Optional[int] = 384,
        prompts: Sequence[int] = (61, 130, 203), steps: int = 6, tokens_per_step: int = 1,
        yarn: bool = True, seed: int = 0, device=None,
        softmax_scale: Optional[float] = None) -> List[StepResult]:
    """Prefill, then ``steps`` decoding steps of ``tokens_per_step`` tokens per sequence.

    ``softmax_scale`` overrides the layer's own scale on the absorbed path only (to show that
    the check catches a wrong one). Returns one StepResult per step.
    """
    modeling = load_modeling()
    if dtype is None:
        dtype = torch.float32 if backend == "reference" else torch.bfloat16
    if device is None:
        device = "cuda" if backend == "cute_mla" else "cpu"
    device = torch.device(device)
    if backend == "cute_mla" and (device.type != "cuda" or not torch.cuda.is_available()):
        raise RuntimeError("--backend cute_mla runs the kernel on an sm_90 CUDA GPU; on this "
                           "machine use --backend reference")
    if device.type == "cuda":
        # The model side is the float32 truth: no TF32 in its matmuls.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    g = torch.Generator().manual_seed(seed)

    config = make_config(modeling, heads=heads, hidden=hidden, q_lora_rank=q_lora_rank,
                         yarn=yarn)
    attn = modeling.DeepseekV3Attention(config, layer_idx=0)
    randomize_(attn, g)
    attn.to(device).eval()
    rotary = modeling.DeepseekV3RotaryEmbedding(config).to(device)
    absorbed = AbsorbedMla(attn, modeling)
    scale = attn.scaling if softmax_scale is None else softmax_scale

    from transformers import DynamicCache
    model_caches = [DynamicCache() for _ in prompts]
    paged = PagedLatentCache(len(prompts), max(prompts) + steps * tokens_per_step, dtype, device,
                             g)

    def positions(starts, n):
        return torch.tensor([[p + j for j in range(n)] for p in starts], device=device)

    for i, length in enumerate(prompts):
        x = torch.randn(1, length, hidden, generator=g).to(device)
        cos, sin = rotary(x, positions([0], length))
        attn(x, (cos, sin), causal_mask(0, length, device), past_key_values=model_caches[i])
        _, rows = absorbed.project(x, cos, sin)
        paged.append(i, rows[0])

    results = []
    n = tokens_per_step
    for step in range(steps):
        past = list(paged.lengths)
        x = torch.randn(len(prompts), n, hidden, generator=g).to(device)
        cos, sin = rotary(x, positions(past, n))
        expected = torch.cat([
            attn(x[i:i + 1], (cos[i:i + 1], sin[i:i + 1]), causal_mask(past[i], n, device),
                 past_key_values=model_caches[i])[0]
            for i in range(len(prompts))])
        query, rows = absorbed.project(x, cos, sin)
        for i in range(len(prompts)):
            paged.append(i, rows[i])
        latent = attend(backend, query.to(dtype), paged, scale)
        actual = absorbed.output(latent.float())
        results.append(compare(step, paged.lengths, actual, expected, TOLERANCE[dtype]))
    return results


def format_table(results: Sequence[StepResult]) -> str:
    lines = [f"{'step':>4}  {'lengths':<24} {'rel_l2':>10} {'max_err':>10} {'max_abs':>10}  ok"]
    for r in results:
        lengths = ",".join(map(str, r.lengths))
        lines.append(f"{r.step:>4}  {lengths:<24} {r.rel_l2:>10.3e} {r.max_err:>10.3e} "
                     f"{r.max_abs_err:>10.3e}  {'yes' if r.ok else 'NO'}")
    return "\n".join(lines)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    # Options whose default depends on the backend say so in their own help text.
    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python examples/deepseek_v3_decode.py",
        description=__doc__.split("\n\n")[0] + " Prints one row per decoding step: rel_l2 = "
        "||actual - expected|| / ||expected|| and max_err = max|actual - expected| / "
        "max|expected| of the layer output, max_abs = max|actual - expected|; exit status 1 "
        "if any step is outside the tolerance for the dtype (see TOLERANCE in the source).",
        formatter_class=_HelpFormatter)
    p.add_argument("--backend", choices=["cute_mla", "reference"], default="cute_mla",
                   help="cute_mla: the SM90 kernel (GPU, bfloat16/float16); reference: "
                   "cute_mla.reference in float32, runs on the CPU")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                   help="dtype of the latent query and cache (default: bfloat16 for cute_mla, "
                   "float32 for reference)")
    p.add_argument("--device", default=None,
                   help="default: cuda for cute_mla, cpu for reference")
    p.add_argument("--heads", type=int, default=16, help="attention heads (<= 128)")
    p.add_argument("--hidden", type=int, default=1024, help="hidden size")
    p.add_argument("--q-lora-rank", type=int, default=384,
                   help="query low-rank size; 0 for a plain q_proj (DeepSeek-V2-Lite style)")
    p.add_argument("--prompts", default="61,130,203",
                   help="prompt length of each sequence (comma-separated; the batch size)")
    p.add_argument("--steps", type=int, default=6, help="decoding steps")
    p.add_argument("--tokens-per-step", type=int, default=1,
                   help="new tokens per sequence and step (>1: causal multi-token decode)")
    p.add_argument("--no-yarn", action="store_true", help="plain rope instead of YaRN")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    prompts = [int(v) for v in a.prompts.split(",")]
    dtype = DTYPES[a.dtype] if a.dtype else None
    results = run(a.backend, dtype=dtype, heads=a.heads, hidden=a.hidden,
                  q_lora_rank=a.q_lora_rank or None, prompts=prompts, steps=a.steps,
                  tokens_per_step=a.tokens_per_step, yarn=not a.no_yarn, seed=a.seed,
                  device=a.device)
    print(f"DeepseekV3Attention (heads={a.heads}, hidden={a.hidden}) vs absorbed MLA via "
          f"{a.backend}")
    print(format_table(results))
    bad = [r.step for r in results if not r.ok]
    print("all steps within tolerance" if not bad else f"steps outside tolerance: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
