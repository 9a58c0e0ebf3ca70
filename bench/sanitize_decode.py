"""Run one decode step under compute-sanitizer (the tool is the caller's choice).

    compute-sanitizer --tool racecheck python -m bench.sanitize_decode --b 2 --s-q 2 --h-q 16 --seqlen 200

Builds FlashMLA-style inputs (NaN past each length, shuffled block table), plans the metadata,
runs flash_mla_with_kvcache once and prints whether the output is finite; the sanitizer prints
its own report around it.
"""

from __future__ import annotations

import argparse

import torch

import cute_mla
from cute_mla.testing import make_decode_inputs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--b", type=int, default=2, help="batch size")
    p.add_argument("--s-q", type=int, default=2, help="query tokens per request (causal if > 1)")
    p.add_argument("--h-q", type=int, default=16, help="query heads (h_kv = 1)")
    p.add_argument("--seqlen", type=int, default=200, help="mean KV length (varlen)")
    p.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    a = p.parse_args()
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float16
    causal = a.s_q > 1
    inp = make_decode_inputs(a.b, a.s_q, a.h_q, 1, a.seqlen, varlen=True, causal=causal,
                             dtype=dtype)
    meta, splits = cute_mla.get_mla_metadata(inp.cache_seqlens, a.s_q * a.h_q, 1)
    out, _ = cute_mla.flash_mla_with_kvcache(inp.q, inp.k_cache, inp.block_table,
                                             inp.cache_seqlens, 512, meta, splits, causal=causal)
    torch.cuda.synchronize()
    print("output finite:", bool(torch.isfinite(out).all()))


if __name__ == "__main__":
    main()
