#!/usr/bin/env bash
# Same-machine A/B of several builds of cute_mla._C: each build runs bench.split_sweep (whole op in
# a CUDA graph, checked against the float32 reference first) in its own process, rounds
# interleaved, and the last lines printed are a table of every point's graph-replay µs per build.
#
#   bash bench/ab_builds.sh 2 main=python/cute_mla/_C.cpython-312-x86_64-linux-gnu.so \
#        g149=build/g149/_C.cpython-312-x86_64-linux-gnu.so -- --points 128:1:128:16384 --replays 15
#
# Arguments: ROUNDS, then NAME=PATH of each built module, then `--` and split_sweep's arguments.
# Each build gets a copy of python/cute_mla with its module in /tmp/ab_builds/NAME. Log: $OUT/ab.txt
# (OUT defaults to /tmp/ab_builds). bench/build_variant.sh builds such modules (HEAD + patches +
# CUDA flags) without touching the checkout.
# AB_TESTS="tests/test_decode_gpu.py tests/test_nope_pe.py" runs those pytest files on every build
# first (a line per build in the log and above the closing table); a build whose tests fail is
# still timed (each point is checked against the float32 reference before it is timed anyway).
# AB_ROUND_TIMEOUT (default 300) bounds each build's round, AB_TESTS_TIMEOUT (300) its tests: a
# build that hangs (a barrier error) then costs that long, not the whole device call; a build
# whose tests run out of time is left out of the rounds.
# The copy and matmul ceilings are measured once before the rounds (bench.ceilings, ~15 s; skip
# with AB_CEILINGS=0) and printed above the closing table: machines of one kind differ by more
# than the builds (the same module ran a memory-bound point 16 % apart on two H100s), so a figure
# from this log is read next to its machine's ceilings.
set -u -o pipefail
rounds=$1
shift
declare -a names=() paths=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    names+=("${1%%=*}")
    paths+=("${1#*=}")
    shift
done
[ "${1:-}" = "--" ] && shift
OUT=${OUT:-/tmp/ab_builds}
mkdir -p "$OUT"
log=$OUT/ab.txt
: > "$log"
root=/tmp/ab_builds
hung=()
for i in "${!names[@]}"; do
    dir=$root/${names[$i]}/cute_mla
    rm -rf "$dir" && mkdir -p "$dir"
    cp python/cute_mla/*.py python/cute_mla/py.typed "$dir"/
    cp "${paths[$i]}" "$dir"/
done
if [ -n "${AB_TESTS:-}" ]; then
    for name in "${names[@]}"; do
        echo "== tests: $name" >&2
        # shellcheck disable=SC2086  # AB_TESTS is a list of paths
        summary=$(PYTHONPATH=$root/$name:$PWD${PYTHONPATH:+:$PYTHONPATH} timeout -k 5 "${AB_TESTS_TIMEOUT:-300}" \
                  python3 -m pytest -q -p no:cacheprovider $AB_TESTS 2>&1 | tail -1; exit "${PIPESTATUS[0]}")
        rc=$?
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            # A build whose tests ran out of time most likely hangs (a barrier error): its
            # rounds would cost AB_ROUND_TIMEOUT each, so it is not timed.
            summary="TIMED OUT after ${AB_TESTS_TIMEOUT:-300} s (not timed in the rounds): $summary"
            hung+=("$name")
        fi
        echo "$name tests: $summary" | tee -a "$log"
    done
fi
if [ "${AB_CEILINGS:-1}" != 0 ]; then
    echo "== ceilings" >&2
    timeout -k 5 120 python3 -c 'from bench.ceilings import measure_ceilings
c = measure_ceilings(2.0, 8192)
print(f"ceilings: {c.device}: copy {c.copy_gbps:.0f} GB/s, bf16 matmul {c.matmul_tflops:.0f} TFLOP/s")' \
        2>>"$OUT/ceilings.err" | tee -a "$log" || echo "ceilings: not measured" | tee -a "$log"
fi
for r in $(seq 1 "$rounds"); do
    for name in "${names[@]}"; do
        if [[ " ${hung[*]} " == *" $name "* ]]; then continue; fi
        echo "== round $r: $name" >&2
        # (split_sweep repeats its lines in a closing summary: stop at it)
        PYTHONPATH=$root/$name:$PWD${PYTHONPATH:+:$PYTHONPATH} timeout -k 5 "${AB_ROUND_TIMEOUT:-300}" \
            python3 -m bench.split_sweep "$@" 2>&1 \
            | awk '/==== split sweep/ {exit} /graph=|Error|error/ {print; fflush()}' \
            | sed -u "s/^/$name r$r /" | tee -a "$log"
    done
done
python3 - "$log" "${names[@]}" <<'EOF'
import re, sys, statistics
log, names = sys.argv[1], sys.argv[2:]
times = {}
for line in open(log):
    m = re.match(r"(\S+) r\d+ (b=.*?L=\d+)\s+(.*?)\s+parts=.*graph=\s*([\d.]+) us", line)
    if m:
        point = re.sub(r"\s+", " ", m.group(2)) + ("" if m.group(3) == "default" else " " + m.group(3))
        times.setdefault(point, {}).setdefault(m.group(1), []).append(float(m.group(4)))
tests = [line.rstrip() for line in open(log) if re.match(r"\S+ tests: ", line)]
ceilings = [line.rstrip() for line in open(log) if line.startswith("ceilings: ")]
if tests:
    print("\n==== GPU tests per build ====")
    print("\n".join(tests))
if ceilings:
    print("\n" + "\n".join(ceilings))
print("\n==== graph replay us per build (each round; median) ====")
rows = []
for point, by in times.items():
    cells = []
    for n in names:
        v = by.get(n, [])
        cells.append(" / ".join(f"{x:.1f}" for x in v) + (f" ({statistics.median(v):.1f})" if v else "-"))
    rows.append((point[:40], cells))
width = max([len(n) for n in names] + [len(c) for _, cells in rows for c in cells]) + 2
print("point".ljust(40) + "".join(n.rjust(width) for n in names))
for point, cells in rows:
    print(point.ljust(40) + "".join(c.rjust(width) for c in cells))
EOF
