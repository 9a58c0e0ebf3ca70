"""The planner's specification, written independently of its implementation: what a valid
split plan is, checked on the (tile_scheduler_metadata, num_splits) tensors any path returns.
Shared by the CPU planner tests and the GPU metadata tests."""

from __future__ import annotations

import math

PAGE = 64
EMPTY = (0, -1)  # (begin_req, end_req) of an empty part


def pages(seqlen: int) -> int:
    """Pages a request costs the scheduler: an empty request still has outputs to write."""
    return max(1, math.ceil(seqlen / PAGE))


def parts_used(total: int, config: dict, min_round: str = "up", batch: int = 0) -> int:
    """Parts the plan uses for a line of ``total`` over ``batch`` requests: ceil(total /
    min_blocks_per_part), at most num_parts; but when that leaves more than half the parts idle,
    parts of at most fill_blocks_per_part (rounding up), up to half of them, or all that takes if
    that is at most num_parts and at most fill_pieces_per_request x batch (fill_blocks_per_part 0
    or absent: no such parts; fill_pieces_per_request 0 or absent: half). ``min_round="down"``
    counts floor(total / min_blocks_per_part) instead, the rule before 2026-12-07 (for
    bench/split_sweep.py's comparison; not what the library does)."""
    min_blocks = max(config["min_blocks_per_part"], 1)
    by_min = -(-total // min_blocks) if min_round == "up" else total // min_blocks
    fill = config.get("fill_blocks_per_part", 0)
    by_fill = 0
    if fill > 0 and by_min <= config["num_parts"] // 2:
        by_fill = -(-total // fill)
        if by_fill > config["num_parts"] or by_fill > config.get("fill_pieces_per_request", 0) * batch:
            by_fill = min(by_fill, config["num_parts"] // 2)
    return max(1, min(config["num_parts"], max(by_min, by_fill)))


def check_plan(seqlens, metadata, num_splits, config) -> None:
    """Raise AssertionError naming the first violated invariant."""
    meta = [list(map(int, row)) for row in metadata.tolist()]
    splits = list(map(int, num_splits.tolist()))
    b = len(seqlens)
    F = config["fixed_overhead_blocks"]
    assert len(meta) == config["num_parts"], "one record per part"
    assert len(splits) == b + 1, "num_splits has b + 1 entries"
    assert splits[0] == 0, "num_splits[0] == 0"

    pieces = [[] for _ in range(b)]   # per request: (part, begin_split, flags-bit)
    covered = [0] * b                 # pages covered so far, in order
    costs = []
    for p, (br, bb, er, eb, bsplit, flags, r0, r1) in enumerate(meta):
        assert (r0, r1) == (0, 0), f"part {p}: reserved fields are zero"
        if br > er:
            assert (br, bb, er, eb, bsplit, flags) == (0, 0, -1, 0, 0, 0), \
                f"part {p}: canonical empty record"
            costs.append(0)
            continue
        assert 0 <= br <= er < b, f"part {p}: request range inside the batch"
        cost = 0
        for r in range(br, er + 1):
            lo = bb if r == br else 0
            hi = eb if r == er else pages(seqlens[r])
            assert covered[r] == lo, f"part {p}: request {r} resumes at page {covered[r]}, not {lo}"
            assert lo < hi <= pages(seqlens[r]), f"part {p}: request {r} pages [{lo}, {hi})"
            covered[r] = hi
            cost += hi - lo + F
            pieces[r].append((p, bsplit if r == br else 0))
        costs.append(cost)
    for r in range(b):
        assert covered[r] == pages(seqlens[r]), f"request {r}: {covered[r]} of {pages(seqlens[r])} pages covered"

    for r in range(b):
        n = len(pieces[r])
        assert splits[r + 1] - splits[r] == n, f"request {r}: num_splits says {splits[r + 1] - splits[r]}, {n} pieces"
        assert [s for _, s in pieces[r]] == list(range(n)), f"request {r}: split indices {pieces[r]}"
    for p, (br, bb, er, eb, bsplit, flags, _, _) in enumerate(meta):
        if br > er:
            continue
        first = len(pieces[br]) > 1
        last = len(pieces[er]) > 1
        assert flags == (1 if first else 0) | (2 if last else 0), f"part {p}: flags {flags}"

    total = sum(pages(s) + F for s in seqlens)
    used = parts_used(total, config, batch=b)
    quota = math.ceil(total / used)
    assert max(costs) <= quota + F, f"part cost {max(costs)} > ceil(T/P) + F = {quota + F}"
    assert all(c == 0 for c in costs[used:]), "parts past the used count are empty"
    assert splits[b] <= b + config["num_parts"], "total pieces <= b + parts"
