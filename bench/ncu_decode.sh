#!/usr/bin/env bash
# Profile one decode call with Nsight Compute on the GPU box and keep what a reader needs to judge
# the schedule: speed of light (tensor pipe, smem, L2, DRAM), warp stall reasons, and the SASS lines
# with the most stall samples.
#
#   OUT=/tmp/ncu bash bench/ncu_decode.sh NAME [bench.sanitize_decode arguments...]
#   e.g. bash bench/ncu_decode.sh h128 --b 128 --s-q 1 --h-q 128 --seqlen 16384
#
# Writes $OUT/NAME.txt (details page) and $OUT/NAME-sass.csv (per-instruction source counters);
# the .ncu-rep stays in /tmp. --clock-control none: the GPU keeps its own clocks, as in the bench.
set -eu -o pipefail
OUT=${OUT:-/tmp/ncu}
NAME=$1
shift
mkdir -p "$OUT"
REP=/tmp/$NAME
ncu --clock-control none --kernel-name regex:decode_kernel --launch-count 1 -f \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
    --section WarpStateStats --section SchedulerStats --section SourceCounters --section Occupancy \
    --metrics sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active,sm__cycles_elapsed.avg.per_second \
    -o "$REP" python3 -m bench.sanitize_decode "$@" > "$OUT/$NAME-run.log" 2>&1
ncu --import "$REP.ncu-rep" --page details > "$OUT/$NAME.txt"
ncu --import "$REP.ncu-rep" --page source --print-source sass --csv > "$OUT/$NAME-sass.csv"
grep -E "Duration|Throughput|gmma|Pipe|Stall|Warp Cycles|Issued|Eligible|elapsed" "$OUT/$NAME.txt" | head -60
