"""Programmatic dependent launch (PDL): the decode kernel is launched so that its CTAs may become
resident while the kernel before it on the stream still runs, and the metadata kernel lets it
(``griddepcontrol.launch_dependents`` at its start). The decode kernel must then not read the plan,
q, the cache or the lengths before that kernel has finished (``griddepcontrol.wait``).

The check: plan into buffers that hold an all-empty plan, then decode at once. A decode that read
the buffers early would see no work and leave the poisoned outputs in place. ``CUTE_MLA_PDL=0``
(read once per process) launches without PDL; a child process checks that path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import cute_mla
from cute_mla.reference import mla_decode_reference
from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs, poison_
from gpu_marks import requires_sm90

pytestmark = requires_sm90
DV = 512


def _empty_plan_(meta: torch.Tensor, splits: torch.Tensor) -> None:
    """Every part empty (begin_req 0 > end_req -1), one piece per request: a decode that used
    this plan would write nothing, and the combine would skip every request."""
    meta.zero_()
    meta[:, 2] = -1
    splits.copy_(torch.arange(splits.numel(), dtype=torch.int32, device=splits.device))


@pytest.mark.parametrize("b,s_q,h_q,seqlen", [(1, 1, 128, 16384), (1, 1, 16, 4096),
                                              (8, 2, 64, 2048), (64, 1, 128, 700)])
def test_decode_right_after_metadata_uses_the_new_plan(b, s_q, h_q, seqlen):
    causal = s_q > 1
    inp = make_decode_inputs(b, s_q, h_q, 1, seqlen, varlen=True, causal=causal, seed=5)
    ref_out, ref_lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens,
                                            DV, softmax_scale=inp.softmax_scale, causal=causal)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, s_q * h_q, 1)
    out = torch.empty(b, s_q, h_q, DV, dtype=inp.q.dtype, device="cuda")
    lse = torch.empty(b, h_q, s_q, dtype=torch.float32, device="cuda")
    for _ in range(10):
        _empty_plan_(meta, splits)
        poison_(out)
        poison_(lse)
        cute_mla.get_mla_metadata(inp.cache_seqlens, s_q * h_q, 1, out=(meta, splits))
        cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens, DV,
                                       meta, splits, causal=causal, out=out, lse=lse)
        torch.cuda.synchronize()
        check_close("out", out, ref_out.to(out.dtype), **OUT_TOLERANCE)
        check_close("lse", lse, ref_lse, **LSE_TOLERANCE)


_CHILD = textwrap.dedent("""
    import torch, cute_mla
    from cute_mla.reference import mla_decode_reference
    from cute_mla.testing import LSE_TOLERANCE, OUT_TOLERANCE, check_close, make_decode_inputs
    inp = make_decode_inputs(2, 2, 128, 1, 3000, varlen=True, causal=True, seed=6)
    ref_out, ref_lse = mla_decode_reference(inp.q, inp.k_cache, inp.block_table, inp.cache_seqlens,
                                            512, softmax_scale=inp.softmax_scale, causal=True)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, 256, 1)
    out, lse = cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table,
                                               inp.cache_seqlens, 512, meta, splits, causal=True)
    torch.cuda.synchronize()
    check_close("out", out, ref_out.to(out.dtype), **OUT_TOLERANCE)
    check_close("lse", lse, ref_lse, **LSE_TOLERANCE)
    print("ok")
""")


def test_without_pdl_the_results_are_the_same():
    env = dict(os.environ, CUTE_MLA_PDL="0")
    # The child imports the same cute_mla as this process (an install or python/ with a prebuilt _C).
    package_root = str(Path(cute_mla.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root, env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
