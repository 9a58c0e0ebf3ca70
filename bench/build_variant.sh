#!/usr/bin/env bash
# Build a variant of the Python module for a same-machine A/B (bench/ab_builds.sh): the committed
# tree, plus zero or more patches, plus extra CUDA compile flags, built in a temporary git worktree
# so the checkout is never modified. The module lands in build/NAME/ of this checkout.
#
#   bash bench/build_variant.sh half --apply bench/notes/attempt-half-page-tiles.diff \
#        -- -DCUTE_MLA_TILE_KEYS=32
#   bash bench/build_variant.sh main          # HEAD as committed
#
# Then carry build/NAME/_C.abi3.so (or _C.cpython-*.so) to the device and pass
# NAME=build/NAME/<module> to bench/ab_builds.sh. Environment: PYTHON (the interpreter whose
# nanobind and CUTLASS headers the build uses; default python3), CUDA_HOME (default
# /usr/local/cuda).
set -euo pipefail
usage() { sed -n '2,13p' "$0"; exit "${1:-0}"; }
[ $# -ge 1 ] || usage 1
case "$1" in -h|--help) usage 0 ;; esac
name=$1
shift
patches=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
        --apply) patches+=("$(realpath "$2")"); shift 2 ;;
        *) echo "unknown argument: $1" >&2; usage 1 ;;
    esac
done
[ "${1:-}" = "--" ] && shift
flags="$*"
root=$(git rev-parse --show-toplevel)
py=$(command -v "${PYTHON:-python3}")
# The interpreter's environment first: its cmake and ninja when it has them.
export PATH=${CUDA_HOME:-/usr/local/cuda}/bin:$(dirname "$py"):$PATH
tree=$(mktemp -d /tmp/cute_mla_variant.XXXXXX)
trap 'git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git -C "$root" worktree add --detach --quiet "$tree" HEAD
for p in "${patches[@]}"; do
    git -C "$tree" apply "$p"
    echo "applied $(basename "$p")"
done
out=$root/build/$name
rm -rf "$out"  # its cache names another (temporary) source tree
mkdir -p "$root/build"
cmake -S "$tree" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUTE_MLA_BUILD_PYTHON=ON \
    -DCUTE_MLA_BUILD_TESTS=OFF -DCUTE_MLA_INSTALL=OFF -DPython_EXECUTABLE="$py" \
    -DCMAKE_CUDA_FLAGS="$flags" > "$out.configure.log"
cmake --build "$out" > "$out.build.log"
ls "$out"/_C*.so
