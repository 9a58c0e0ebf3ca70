#!/usr/bin/env bash
# One device call, under one deadline, for a same-machine A/B of prebuilt modules and the checks
# of the baseline that every session owes: the parts run in priority order, each with what time is
# left, and a summary prints last (the device tool returns the output's tail).
#
#   bash bench/device_ab.sh main=.carry/main/_C.abi3.so vil=.carry/vil/_C.abi3.so ...
#
# The first build is the baseline. In order:
#   1. RATE_BIN (if set and present, e.g. .carry/wgmma_rate): run it (bench/wgmma_rate.cu);
#   2. bench/ab_builds.sh over every build, with each build's GPU tests first
#      (AB_TESTS, default tests/test_decode_gpu.py tests/test_nope_pe.py) and AB_ROUNDS rounds
#      (default 2) of AB_POINTS (default: the five points of the tuning log);
#   3. the baseline's module in python/cute_mla/, then `bench.bench_decode --quick` with ceilings
#      (bench/device_check.sh, SKIP_TESTS=1);
#   4. FULL_SUITE=1 (default): the whole test suite with --full-grid on the baseline;
#   5. SANITIZE_BUILD=NAME: bench/device_check.sh's compute-sanitizer step (memcheck and
#      synccheck on bench.sanitize_decode's three shapes; SANITIZE_TOOLS to change the tools) on
#      that build, into $OUT/sanitize/.
# DEADLINE (seconds from the start, default 570) bounds the whole; a part that would start with
# less than its minimum left is skipped and says so. Files go to $OUT (set by the device tool).
set -u -o pipefail
usage() { sed -n '2,21p' "$0"; exit "${1:-0}"; }
case "${1:-}" in -h|--help|"") usage 0 ;; esac
OUT=${OUT:-/tmp/device_ab}
mkdir -p "$OUT"
start=$(date +%s)
DEADLINE=${DEADLINE:-570}
left() { echo $(( DEADLINE - ($(date +%s) - start) )); }
at() { echo "$(( $(date +%s) - start )) s"; }
builds=("$@")
base_name=${builds[0]%%=*}
base_path=${builds[0]#*=}
lines=()
note() { lines+=("$*"); echo "$*"; }

note "gpu: $(nvidia-smi --query-gpu=name,clocks.sm,power.draw,temperature.gpu --format=csv,noheader 2>&1 | head -1)"

# 1. tensor-pipe rates
if [ -n "${RATE_BIN:-}" ] && [ -f "$RATE_BIN" ]; then
    chmod +x "$RATE_BIN" 2>/dev/null
    timeout -k 5 60 "$RATE_BIN" > "$OUT/wgmma_rate.txt" 2>&1
    note "wgmma_rate: rc $? at $(at)"
elif [ -n "${RATE_BIN:-}" ]; then
    note "wgmma_rate: $RATE_BIN not found"
fi

# 2. the A/B (each build's tests first)
if [ "$(left)" -gt 120 ]; then
    mkdir -p "$OUT/ab"
    OUT=$OUT/ab AB_TESTS=${AB_TESTS:-"tests/test_decode_gpu.py tests/test_nope_pe.py"} \
        AB_TESTS_TIMEOUT=${AB_TESTS_TIMEOUT:-80} AB_ROUND_TIMEOUT=${AB_ROUND_TIMEOUT:-45} \
        timeout -k 5 $(( $(left) - 60 )) bash bench/ab_builds.sh "${AB_ROUNDS:-2}" "${builds[@]}" -- --replays 15 \
        --points "${AB_POINTS:-128:2:128:16384,128:1:128:16384,128:2:128:4096,8:1:128:4096,1:1:128:16384}" \
        > "$OUT/ab_stdout.txt" 2>&1
    note "A/B: rc $? at $(at)"
else
    note "A/B: skipped ($(left) s left)"
fi

# 3. the baseline's quick bench with ceilings
cp "$base_path" python/cute_mla/
if [ "$(left)" -gt 60 ]; then
    limit=$(( $(left) < 130 ? $(left) - 10 : 130 ))
    SKIP_TESTS=1 BENCH_TIMEOUT=$limit bash bench/device_check.sh > "$OUT/bench_quick.txt" 2>&1
    note "quick bench of $base_name: $(grep -m1 '^bench:' "$OUT/bench_quick.txt") at $(at)"
else
    note "quick bench: skipped ($(left) s left)"
fi

# 4. the whole suite on the baseline (leaves time for the sanitizers when asked)
reserve=$([ -n "${SANITIZE_BUILD:-}" ] && echo 150 || echo 10)
if [ "${FULL_SUITE:-1}" = 1 ] && [ $(( $(left) - reserve )) -gt 60 ]; then
    PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH} timeout -k 5 $(( $(left) - reserve )) \
        python3 -m pytest tests -q -rs --full-grid -p no:cacheprovider > "$OUT/tests_full.txt" 2>&1
    rc=$?
    note "full suite ($base_name): rc $rc at $(at): $(tail -1 "$OUT/tests_full.txt")"
else
    note "full suite: skipped ($(left) s left)"
fi

# 5. sanitizers of one build
if [ -n "${SANITIZE_BUILD:-}" ] && [ ! -d "/tmp/ab_builds/$SANITIZE_BUILD" ]; then
    note "sanitizers: skipped (no /tmp/ab_builds/$SANITIZE_BUILD: the A/B did not set it up)"
elif [ -n "${SANITIZE_BUILD:-}" ] && [ "$(left)" -lt 40 ]; then
    note "sanitizers: skipped ($(left) s left)"
elif [ -n "${SANITIZE_BUILD:-}" ]; then
    # device_check's sanitizer step on that build (importable first on PYTHONPATH: no build),
    # each of its runs (tools x three shapes) with an equal share of the time left.
    tools=${SANITIZE_TOOLS:-memcheck synccheck}
    runs=$(( $(echo $tools | wc -w) * 3 ))
    share=$(( ($(left) - 10) / runs ))
    OUT=$OUT/sanitize PYTHONPATH=/tmp/ab_builds/$SANITIZE_BUILD:$PWD SKIP_TESTS=1 SKIP_BENCH=1 \
        SANITIZE=1 SANITIZE_TOOLS="$tools" SANITIZE_TIMEOUT=$(( share < 60 ? share : 60 )) \
        bash bench/device_check.sh > /dev/null 2>&1
    note "sanitizers ($SANITIZE_BUILD):$(sed -n '/^sanitizers:/,/^bench:/p' "$OUT/sanitize/summary.txt" \
        | grep -v '^bench:' | sed 's/^sanitizers://')"
fi

echo
echo "===== summary ($(at)) ====="
printf '%s\n' "${lines[@]}"
[ -s "$OUT/wgmma_rate.txt" ] && cat "$OUT/wgmma_rate.txt"
sed -n '/==== GPU tests/,$p' "$OUT/ab_stdout.txt" 2>/dev/null
sed -n '/===== summary/,$p' "$OUT/bench_quick.txt" 2>/dev/null | grep -v "reference\|eager, no graph"
