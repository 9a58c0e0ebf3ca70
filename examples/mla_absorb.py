"""A ``transformers`` DeepseekV3Attention rewritten in the absorbed (latent) form that serving
engines decode with, using the layer's own weights, RMSNorms and rotary functions.

The model expands the cached latent ``c`` (512) into per-head keys ``W_UK[h] c`` and values
``W_UV[h] c`` (both from ``kv_b_proj``). Since ``q_nope . (W_UK[h] c) = (q_nope W_UK[h]) . c``
and ``sum_t p_t W_UV[h] c_t = W_UV[h] (sum_t p_t c_t)``, attention can run directly on the
latent: query ``[q_nope W_UK[h], q_rope]`` (576) against cache rows ``[c, k_rope]`` (576), with
V = the first 512 columns; the 512-wide result is multiplied by ``W_UV[h]`` afterwards. That is
exactly the shape cute-mla's kernel takes.
"""

from __future__ import annotations

import torch


class AbsorbedMla:
    """Projections of one DeepseekV3Attention layer, in latent form.

    ``modeling`` is the ``transformers.models.deepseek_v3.modeling_deepseek_v3`` module, whose
    rotary functions are used so that the rope matches the model's bit for bit.
    """

    def __init__(self, attn, modeling):
        self.attn = attn
        self.heads = attn.num_heads
        self.nope = attn.qk_nope_head_dim
        self.rope = attn.qk_rope_head_dim
        self.rank = attn.kv_lora_rank
        self.v_dim = attn.v_head_dim
        if (self.rank, self.rope) != (512, 64):
            raise ValueError(f"cute-mla's kernel needs kv_lora_rank=512 and qk_rope_head_dim=64, "
                             f"the layer has {self.rank} and {self.rope}")
        w = attn.kv_b_proj.weight.detach().view(self.heads, self.nope + self.v_dim, self.rank)
        self.w_uk = w[:, :self.nope]   # (H, nope, 512): latent -> key
        self.w_uv = w[:, self.nope:]   # (H, v_dim, 512): latent -> value
        interleave = getattr(attn.config, "rope_interleave", False)
        self._apply_rope = (modeling.apply_rotary_pos_emb_interleave if interleave
                            else modeling.apply_rotary_pos_emb)

    @torch.no_grad()
    def project(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Hidden states ``x`` (b, s, hidden) at the positions of ``cos``/``sin`` (b, s, 64) to

        * the absorbed query (b, s, H, 576): ``[q_nope W_UK[h], roped q_rope]``;
        * the cache rows (b, s, 576): ``[kv_a_layernorm(c), roped k_rope]``.
        """
        a = self.attn
        b, s, _ = x.shape
        if a.q_lora_rank is None:
            q = a.q_proj(x)
        else:
            q = a.q_b_proj(a.q_a_layernorm(a.q_a_proj(x)))
        q = q.view(b, s, self.heads, self.nope + self.rope).transpose(1, 2)  # (b, H, s, 192)
        q_nope, q_rot = q.split([self.nope, self.rope], dim=-1)

        kv = a.kv_a_proj_with_mqa(x)
        c, k_rot = kv.split([self.rank, self.rope], dim=-1)
        c = a.kv_a_layernorm(c)
        # The model ropes q and k in one call with k as a single head; do the same.
        q_rot, k_rot = self._apply_rope(q_rot, k_rot.view(b, 1, s, self.rope), cos, sin)

        q_latent = torch.einsum("bhsn,hnc->bshc", q_nope, self.w_uk)
        query = torch.cat([q_latent, q_rot.transpose(1, 2)], dim=-1)
        rows = torch.cat([c, k_rot.view(b, s, self.rope)], dim=-1)
        return query, rows

    @torch.no_grad()
    def output(self, latent_out: torch.Tensor) -> torch.Tensor:
        """Attention output over the latent (b, s, H, 512) to the layer output (b, s, hidden)."""
        b, s = latent_out.shape[:2]
        per_head = torch.einsum("bshc,hvc->bshv", latent_out.to(self.w_uv.dtype), self.w_uv)
        return self.attn.o_proj(per_head.reshape(b, s, self.heads * self.v_dim))
