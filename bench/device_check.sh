#!/usr/bin/env bash
# One call on a lent H100: install the carried wheels, build and install cute-mla, run the GPU tests,
# run the quick benchmark, and print a short summary LAST (the device tool returns the output's tail).
#
# Run from the repository root on the device machine, with `.whl` carried:
#   bash bench/device_check.sh
# Every step runs even when an earlier one fails; each has a time limit so the summary always prints.
# Files written under $OUT (the device tool returns at most 8): build.log, tests.log, bench.log,
# summary.txt and the bench's .json, .csv and .png.
#
# Environment:
#   OUT            output folder (set by the device tool; default /tmp/device_check)
#   SKIP_BUILD=1   do not build; use the cute_mla already importable (also skipped when a prebuilt
#                  module is found, installed or in python/)
#   SKIP_TESTS=1   do not run the tests
#   TEST_ARGS      extra pytest arguments (default --full-grid; empty for the default grid)
#   SANITIZE=1     also run compute-sanitizer (memcheck, racecheck, synccheck) on three decode
#                  shapes (bench/sanitize_decode.py), SANITIZE_TIMEOUT seconds each (default 90);
#                  the reports go to sanitizers.log; SANITIZE_TOOLS picks the tools (default
#                  "memcheck racecheck synccheck")
#   SKIP_BENCH=1   do not run the benchmark
#   BENCH_ARGS     arguments of bench.bench_decode (default: --quick)
#   BUILD_TIMEOUT, TEST_TIMEOUT, BENCH_TIMEOUT   seconds per step (default 200, 240, 130: under the
#                  tool's 600 s per command)
set -u -o pipefail

OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-200}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-130}
BENCH_ARGS=${BENCH_ARGS:---quick}
BENCH_SUMMARY=/tmp/bench_summary.txt
rm -f "$BENCH_SUMMARY"

banner() { printf '\n===== %s =====\n' "$*"; }

# Runs "$@" under a time limit with output to the terminal and to a log; prints "rc seconds".
# Usage: timed_step LOG LIMIT_S cmd...
timed_step() {
    local log=$1 limit=$2 start rc
    shift 2
    start=$(date +%s)
    timeout -k 10 "$limit" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    echo "$rc $(( $(date +%s) - start ))" > "$log.status"
}

step_result() {  # "ok|fail (rc N) in Ts" from a .status file
    local rc secs
    read -r rc secs < "$1.status" || { echo "not run"; return; }
    rm -f "$1.status"
    if [ "$rc" = 0 ]; then echo "ok in ${secs}s"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "TIMED OUT (rc $rc) after ${secs}s"
    else echo "FAILED (rc $rc) in ${secs}s"; fi
}

# ---- 0. the machine, read-only --------------------------------------------------------------------
banner "device"
GPU=$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.draw,temperature.gpu --format=csv,noheader 2>&1 | head -1)
echo "$GPU"
echo "python: $($PY --version 2>&1); torch: $($PY -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1)"

# ---- 1. carried wheels -----------------------------------------------------------------------------
banner "1. carried wheels"
if compgen -G ".whl/*.whl" > /dev/null; then
    if $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; then
        WHEELS="ok ($(ls .whl/*.whl | xargs -n1 basename | tr '\n' ' '))"
    else
        WHEELS="FAILED"
    fi
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
else
    WHEELS="none carried (.whl/ empty or missing)"
fi
echo "$WHEELS"

# ---- 2. build and install --------------------------------------------------------------------------
banner "2. build"
prebuilt() { $PY -c 'import cute_mla._C' > /dev/null 2>&1; }
if [ "${SKIP_BUILD:-0}" = 1 ]; then
    BUILD="skipped (SKIP_BUILD=1)"
elif prebuilt; then
    BUILD="skipped (prebuilt cute_mla._C importable)"
elif PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH} prebuilt; then
    export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
    BUILD="skipped (prebuilt cute_mla._C in python/)"
else
    timed_step "$OUT/build.log" "$BUILD_TIMEOUT" $PY -m pip install --no-build-isolation --no-deps -v .
    BUILD=$(step_result "$OUT/build.log")
fi
echo "build: $BUILD"
# Import from outside the tree, so the installed package is what answers.
BUILD_INFO=$(cd /tmp && $PY -c 'import cute_mla._C as c; print(c.build_info())' 2>&1 | tail -1)
echo "build_info: $BUILD_INFO"

# ---- 3. GPU tests ----------------------------------------------------------------------------------
banner "3. tests"
if [ "${SKIP_TESTS:-0}" = 1 ]; then
    TESTS="skipped (SKIP_TESTS=1)"
elif [ -d tests ]; then
    # shellcheck disable=SC2086  # TEST_ARGS is a list of words
    timed_step "$OUT/tests.log" "$TEST_TIMEOUT" $PY -m pytest tests -q -rs ${TEST_ARGS---full-grid}
    TESTS_RUN=$(step_result "$OUT/tests.log")
    # pytest's closing line, e.g. "12 passed, 3 skipped in 4.21s" (with or without ===== around it)
    TESTS_LINE=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed|deselected)|no tests ran' "$OUT/tests.log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
    count() { echo "$TESTS_LINE" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
    TESTS="passed $(count passed), failed $(count failed), skipped $(count skipped), errors $(count 'errors?')  [$TESTS_RUN: ${TESTS_LINE:-no summary line}]"
else
    TESTS="no tests/ folder"
fi
echo "tests: $TESTS"

# ---- 3b. sanitizers (SANITIZE=1) -------------------------------------------------------------------
banner "3b. sanitizers"
if [ "${SANITIZE:-0}" = 1 ]; then
    SANITIZERS=""
    # Split pieces + combine (b=1, 66 pieces), clusters with s_q=2 causal, one query tile.
    for tool in ${SANITIZE_TOOLS:-memcheck racecheck synccheck}; do
        for shape in "--b 1 --s-q 1 --h-q 128 --seqlen 4000" "--b 2 --s-q 2 --h-q 128 --seqlen 200" \
                     "--b 2 --s-q 2 --h-q 16 --seqlen 200"; do
            # shellcheck disable=SC2086  # shape is a list of words
            timeout -k 10 "${SANITIZE_TIMEOUT:-90}" compute-sanitizer --tool "$tool" $PY -m bench.sanitize_decode $shape \
                > /tmp/sanitize.log 2>&1
            rc=$?
            { echo "== $tool $shape (rc $rc)"; cat /tmp/sanitize.log; } >> "$OUT/sanitizers.log"
            found=$(grep -hoE "(ERROR|RACECHECK) SUMMARY: [0-9]+ (errors?|hazards?)[^)]*" /tmp/sanitize.log | head -1)
            SANITIZERS="$SANITIZERS
        $tool ${shape//--/}: ${found:-no summary} (rc $rc)"
        done
    done
else
    SANITIZERS="skipped (SANITIZE=1 runs them)"
fi
echo "sanitizers: $SANITIZERS"

# ---- 4. quick benchmark ----------------------------------------------------------------------------
banner "4. bench"
if [ "${SKIP_BENCH:-0}" = 1 ]; then
    BENCH="skipped (SKIP_BENCH=1)"
else
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of words
    timed_step "$OUT/bench.log" "$BENCH_TIMEOUT" $PY -m bench.bench_decode $BENCH_ARGS --out "$OUT" --summary-file "$BENCH_SUMMARY"
    BENCH=$(step_result "$OUT/bench.log")
fi

# ---- 5. summary, last ------------------------------------------------------------------------------
{
    banner "summary"
    echo "gpu:    $GPU"
    echo "wheels: $WHEELS"
    echo "build:  $BUILD"
    echo "        build_info: $BUILD_INFO"
    echo "tests:  $TESTS"
    echo "sanitizers: $SANITIZERS"
    echo "bench:  $BENCH ($PY -m bench.bench_decode $BENCH_ARGS)"
    if [ -s "$BENCH_SUMMARY" ]; then
        cat "$BENCH_SUMMARY"
    else
        echo "(no bench summary; the end of bench.log:)"
        tail -n 15 "$OUT/bench.log" 2>/dev/null
    fi
} | tee "$OUT/summary.txt"
