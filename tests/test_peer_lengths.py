"""The bench draws each peer reference's own KV lengths (bench/peer_lengths.py).

These checks read only the reference tables (no GPU): a generator that does not reproduce a
reference's draws fails them (this project's own seeded draw misses the graph reference by
33 % at b=1 and 4 % at b=128).
"""

from __future__ import annotations

import pytest

from bench import peer_lengths, peers_h100
from bench.bench_decode import flashmla_counts

GRAPH_COPY_GBPS = peers_h100.PEER_CEILINGS["flashmla-fa3-h100.md"]["copy_gbps"]


def _implied_mean_bounds(b, s_q, h_q, us, pct):
    """The mean lengths a row's (time, % of copy, copy ceiling) allow, each rounded to its last
    printed digit."""
    def mean_len(us_, pct_, gbps):
        nbytes = pct_ / 100 * gbps * 1e9 * us_ * 1e-6
        _, fixed = flashmla_counts(b, s_q, h_q, 1, 0.0)  # Q and O bytes
        _, per_token = flashmla_counts(b, s_q, h_q, 1, 1.0)
        return (nbytes - fixed) / (per_token - fixed)
    return (mean_len(us - 0.05, pct - 0.05, GRAPH_COPY_GBPS - 0.5),
            mean_len(us + 0.05, pct + 0.05, GRAPH_COPY_GBPS + 0.5))


@pytest.mark.parametrize("key", sorted(peers_h100.GRAPH_REPLAY), ids=str)
def test_graph_reference_lengths_give_each_rows_bytes(key):
    _, b, s_q, h_q, seqlen, _ = key
    row = peers_h100.GRAPH_REPLAY[key]
    lens = peer_lengths.graph_reference(b, seqlen, s_q)
    mean = sum(lens) / b
    for peer in ("flashmla", "fa3"):
        lo, hi = _implied_mean_bounds(b, s_q, h_q, row[f"{peer}_us"], row[f"{peer}_pct_copy"])
        assert lo <= mean <= hi, f"{peer}: drawn mean {mean:.0f}, the row implies {lo:.0f}..{hi:.0f}"


@pytest.mark.parametrize("key", sorted(k for k in peers_h100.FLASHMLA_KERNEL), ids=str)
def test_kernel_reference_lengths_give_the_mean_len_column(key):
    _, b, s_q, _, seqlen, _ = key
    lens = peer_lengths.kernel_reference(b, seqlen, s_q)
    assert round(sum(lens) / b) == peers_h100.FLASHMLA_KERNEL[key]["mean_len"]


def test_policies_differ_where_it_matters():
    # The reason the policy exists: one draw decides a b=1 point.
    assert peer_lengths.lengths_for("kernel-ref", 1, 16384, 1) == [14877]
    assert peer_lengths.lengths_for("graph-ref", 1, 16384, 1) == [21801]
    assert peer_lengths.lengths_for("seeded", 1, 16384, 1) is None
    with pytest.raises(ValueError, match="graph-ref"):
        peer_lengths.lengths_for("mine", 1, 16384, 1)
