"""A model of the ping-pong draft's synchronisation (bench/notes/attempt-pingpong-kernel.diff).

The producer warp and the two consumer warpgroups of one CTA (no cluster) are generators that
yield the barrier operations the draft performs, in its order; a scheduler runs them in random
interleavings with random copy latencies and reports a deadlock, a named barrier that one
warpgroup reaches twice in one generation (undefined in hardware), a stage half refilled while a
warpgroup may still read it, or Q replaced while read. It checks the protocol, not the code: keep
it in step with the diff by hand.

    python bench/notes/pingpong_protocol_model.py --runs 2000
"""

from __future__ import annotations

import argparse
import random


class Violation(Exception):
    pass


class MBarrier:
    """An mbarrier: `count` arrivals (plus the expected bytes, here one 'landed' event) complete a
    phase and flip its parity; wait(p) blocks while the current parity is p."""

    def __init__(self, name, count):
        self.name, self.count, self.pending, self.parity = name, count, count, 0

    def arrive(self, n=1):
        self.pending -= n
        if self.pending < 0:
            raise Violation(f"{self.name}: more arrivals than its count in one phase")
        if self.pending == 0:
            self.parity ^= 1
            self.pending = self.count

    def done(self, parity):
        return self.parity != parity


class NamedBarrier:
    def __init__(self, name, count):
        self.name, self.count, self.arrived, self.generation = name, count, {}, 0

    def add(self, who, n):
        if who in self.arrived:
            raise Violation(f"{self.name}: {who} reached it twice in generation {self.generation}")
        self.arrived[who] = n
        if sum(self.arrived.values()) == self.count:
            self.arrived = {}
            self.generation += 1


def pieces_of(rng):
    """A part: requests walked last to first, each with 0..5 pages."""
    return [rng.choice([0, 1, 1, 2, 3, 4, 5]) for _ in range(rng.randint(1, 4))]


def run_once(rng, pieces, one_id=False, page_order=False):
    full = [[MBarrier(f"full[{s}][{h}]", 1) for h in range(2)] for s in range(2)]
    empty = [[MBarrier(f"empty[{s}][{h}]", 8) for h in range(2)] for s in range(2)]
    q_full, q_empty = MBarrier("q_full", 1), MBarrier("q_empty", 256)
    named = {}
    # What each half of each stage holds (page seq) and who may still read it.
    readers = {}
    in_flight = []  # (time, barrier) of copies landing

    def release(w, s, h):  # warpgroup w's four warps are done with half h of stage s
        readers.get((s, h), set()).discard(w)
        empty[s][h].arrive(4)

    def release_after_pv(w, s):  # warpgroup 0 is done with the left half, both with the right
        if w == 0:
            release(w, s, 0)
        release(w, s, 1)

    def sync(name, w):  # bar.sync: arrive, then wait for the generation to complete
        b = nb(name)
        gen = b.generation
        b.add(w, 128)
        while b.generation == gen:
            yield "wait"

    def nb(name):
        if one_id:  # the draft's first version: one id for both page parities
            name = name.rstrip("01")
        return named.setdefault(name, NamedBarrier(name, 256))

    def other_page(w, s, phase, seq):  # the other's page: its posts, then SS P V issued
        yield from sync(f"max{s}", w)
        if not full[s][0].done(phase) or not full[s][1].done(phase):
            raise Violation(f"wg{w}: the owner's post came before page {seq} landed")
        if w == 1:
            release(w, s, 0)
        else:
            readers.setdefault((s, 0), set()).add(w)
        readers.setdefault((s, 1), set()).add(w)
        yield from sync(f"probs{s}", w)
        yield "SS PV issued"

    def producer():
        q_loads = kv_loads = 0
        for pages in pieces:
            if pages == 0:
                continue
            if q_loads > 0:
                while not q_empty.done((q_loads - 1) & 1):
                    yield "wait"
            in_flight.append((rng.randint(1, 30), q_full, "Q"))
            q_loads += 1
            for _ in range(pages):
                s, rnd = kv_loads % 2, kv_loads // 2
                for h in range(2):
                    if rnd > 0:
                        while not empty[s][h].done((rnd - 1) & 1):
                            yield "wait"
                    if readers.get((s, h)):
                        raise Violation(f"stage {s} half {h} refilled while {readers[(s, h)]} may read it")
                    in_flight.append((rng.randint(1, 30), full[s][h], (s, h)))
                    yield "issue"
                kv_loads += 1

    def consumer(w):
        kv_uses = q_uses = 0
        for pages in pieces:
            has_kv = pages > 0
            if has_kv:
                while not q_full.done(q_uses & 1):
                    yield "wait"
                q_uses += 1
            owned = [k for k in range(pages) if (kv_uses + k) & 1 == w]
            last_owned = owned[-1] if owned else -1
            if has_kv and last_owned < 0:
                q_empty.arrive(128)
            yield from walk_pages(w, pages, kv_uses, last_owned)
            kv_uses += pages
            if has_kv:
                yield from sync("sums", w)

    def walk_pages(w, pages, base, last_owned):
        # The draft's order: for an (other's page, own page) pair the own S is
        # issued first. page_order: the first draft's (session 15), each page in
        # turn, so an own S waited for the other's page before it.
        def stage(k):
            return (base + k) % 2, ((base + k) // 2) & 1

        def issue_s(k):
            s, phase = stage(k)
            for h in range(2):
                while not full[s][h].done(phase):
                    yield "wait"
                readers.setdefault((s, h), set()).add(w)
            yield "S issued"

        def finish_own(k, pending):  # pending: the other page's stage whose SS P V is in flight
            s, _ = stage(k)
            yield "S done"
            if k == last_owned:
                q_empty.arrive(128)
            if w == 1:
                release(w, s, 0)
            nb(f"max{s}").add(w, 128)
            yield "post P"
            nb(f"probs{s}").add(w, 128)
            if pending is not None:
                release_after_pv(w, pending)
            yield "RS PV"
            release_after_pv(w, s)

        k = 0
        while k < pages:
            if stage(k)[0] == w:
                yield from issue_s(k)
                yield from finish_own(k, None)
                k += 1
            elif k + 1 < pages and not page_order:
                yield from issue_s(k + 1)
                yield from other_page(w, *stage(k), base + k)
                yield from finish_own(k + 1, stage(k)[0])
                k += 2
            else:
                yield from other_page(w, *stage(k), base + k)
                release_after_pv(w, stage(k)[0])
                k += 1

    procs = {"producer": producer(), "wg0": consumer(0), "wg1": consumer(1)}
    alive = dict(procs)
    # Each run gives each role a speed: the interleavings a uniform round robin never makes
    # (one warpgroup stalled for a long while) are where generations could overlap.
    speed = {name: rng.choice([0.02, 0.1, 0.5, 1.0]) for name in procs}
    steps = idle = 0
    while alive or in_flight:
        steps += 1
        if steps > 2000000:
            raise Violation("no progress (livelock?)")
        # land copies whose time has come
        for item in list(in_flight):
            t, bar, what = item
            if t <= 0:
                in_flight.remove(item)
                bar.arrive()
            else:
                in_flight[in_flight.index(item)] = (t - 1, bar, what)
        progressed = False
        for name in rng.sample(list(alive), len(alive)):
            if rng.random() > speed[name]:
                continue
            try:
                op = next(alive[name])
            except StopIteration:
                del alive[name]
                progressed = True
                continue
            if op != "wait":
                progressed = True
        idle = 0 if progressed or in_flight else idle + 1
        if idle > 5000:  # every live role tried many times and only waited
            raise Violation(f"deadlock: {sorted(alive)} waiting; pieces {pieces}")
    return True


def check_math(rng, pages):
    """The draft's online softmax over two warpgroups in float64: the owner of page t updates the
    running maximum and its own row sum, the other rescales its sum; each scales its O half by
    every page's rescale. The result must be the plain softmax(S) V and its log2-sum-exp."""
    import numpy as np
    g = np.random.default_rng(rng.randint(0, 1 << 30))
    rows, keys, dv = 4, 64 * pages, 8
    s = g.normal(size=(rows, keys)) * 3
    s[:, -5:] = -np.inf  # masked keys at the end
    v = g.normal(size=(keys, dv))
    m = [np.full(rows, -np.inf)] * 2
    l = [np.zeros(rows), np.zeros(rows)]
    o = [np.zeros((rows, dv // 2)), np.zeros((rows, dv // 2))]
    for t in range(pages):
        w, st = t & 1, s[:, 64 * t: 64 * t + 64]
        new = np.maximum(m[w], st.max(axis=1))
        base = np.where(new == -np.inf, 0.0, new)
        scale = np.exp2(m[w] - base)
        p = np.exp2(st - base[:, None])
        l[w] = l[w] * scale + p.sum(axis=1)
        l[1 - w] = l[1 - w] * scale
        m = [new, new]
        for h in range(2):
            o[h] = o[h] * scale[:, None] + p @ v[64 * t: 64 * t + 64, h * dv // 2:(h + 1) * dv // 2]
    total = l[0] + l[1]
    out = np.concatenate(o, axis=1) / total[:, None]
    mx = s.max(axis=1)
    ref_p = np.exp2(s - mx[:, None])
    ref = ref_p @ v / ref_p.sum(axis=1)[:, None]
    lse2 = m[0] + np.log2(total)
    ref_lse2 = mx + np.log2(ref_p.sum(axis=1))
    if not (np.allclose(out, ref) and np.allclose(lse2, ref_lse2)):
        raise Violation(f"math: {pages} pages, max |out - ref| {np.abs(out - ref).max():.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--page-order", action="store_true",
                    help="the first draft's order (each page in turn; measured 1.22-1.26x slower)")
    ap.add_argument("--one-id", action="store_true",
                    help="one barrier id for both page parities (the first draft): should fail")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for i in range(a.runs):
        pieces = pieces_of(rng)
        try:
            run_once(rng, pieces, a.one_id, a.page_order)
            check_math(rng, rng.randint(1, 7))
        except Violation as v:
            print(f"run {i}, pieces (pages per request, walk order) {pieces}: {v}")
            raise SystemExit(1)
    print(f"{a.runs} random parts and interleavings: no deadlock, no barrier generation reached twice,"
          " no half refilled while read; the two-warpgroup softmax equals the plain one")


if __name__ == "__main__":
    main()
