"""The paged latent cache a serving engine keeps for MLA: FlashMLA's layout, one KV head.

Token ``t`` of sequence ``i`` is row ``t % 64`` of page ``block_table[i, t // 64]``; pages are
handed out in a random order, so a kernel that assumed contiguous pages would read the wrong
rows. Rows not yet written hold NaN, so reading past a sequence's length would show.
"""

from __future__ import annotations

import torch

PAGE_SIZE = 64
ROW_WIDTH = 576  # 512 latent + 64 rope


class PagedLatentCache:
    def __init__(self, batch: int, max_len: int, dtype: torch.dtype, device,
                 generator: torch.Generator):
        pages_per_seq = max(1, -(-max_len // PAGE_SIZE))
        pool = batch * pages_per_seq
        self.k_cache = torch.full((pool, PAGE_SIZE, 1, ROW_WIDTH), float("nan"), dtype=dtype,
                                  device=device)
        order = torch.randperm(pool, generator=generator)
        self.block_table = order.to(torch.int32).view(batch, pages_per_seq).to(device)
        self._table_host = order.view(batch, pages_per_seq)
        self.lengths = [0] * batch

    def append(self, i: int, rows: torch.Tensor) -> None:
        """Write ``rows`` (n, 576) after the current end of sequence ``i``."""
        n = rows.shape[0]
        start = self.lengths[i]
        if start + n > self._table_host.shape[1] * PAGE_SIZE:
            raise ValueError(f"sequence {i}: {start + n} tokens do not fit its block table")
        t = torch.arange(start, start + n)
        pages = self._table_host[i, t // PAGE_SIZE].to(self.k_cache.device)
        slots = (t % PAGE_SIZE).to(self.k_cache.device)
        self.k_cache[pages, slots, 0] = rows.to(self.k_cache.dtype)
        self.lengths[i] = start + n

    def seqlens(self) -> torch.Tensor:
        return torch.tensor(self.lengths, dtype=torch.int32, device=self.k_cache.device)
