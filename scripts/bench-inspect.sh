#!/usr/bin/env bash
# Compares `docker-cr inspect` with CRIU's Python decoder, crit, over the
# same checkpoint: the process tree, the open files and the memory
# mappings, each tool run RUNS times. A benchmark to run by hand, never a
# test: timings depend on the machine.
#
# crit is not installed by setup-host.sh. Installing Debian's criu package
# would also put CRIU 3.17 on PATH, so this script unpacks the packages into
# a private folder instead (CRIT_ROOT) and runs crit from there with
# protobuf's C++ implementation, the one Debian's crit uses.
#
# Usage: scripts/bench-inspect.sh CHECKPOINT_DIR [RUNS]
set -euo pipefail

CHECKPOINT=${1:?usage: $0 CHECKPOINT_DIR [RUNS]}
RUNS=${2:-20}
CRIT_ROOT=${CRIT_ROOT:-/tmp/docker-cr-crit}
IMAGES="$CHECKPOINT/checkpoint"
[ -f "$IMAGES/inventory.img" ] || IMAGES="$CHECKPOINT"

if [ ! -x "$CRIT_ROOT/usr/bin/crit" ]; then
    mkdir -p "$CRIT_ROOT"
    (
        cd "$CRIT_ROOT"
        apt-get download criu python3-protobuf libprotobuf32 >/dev/null
        for deb in ./*.deb; do dpkg -x "$deb" .; done
    )
fi
export PYTHONPATH="$CRIT_ROOT/usr/lib/python3/dist-packages"
export LD_LIBRARY_PATH="$CRIT_ROOT/usr/lib/x86_64-linux-gnu"
crit() { python3 "$CRIT_ROOT/usr/bin/crit" "$@"; }

cargo build --release --quiet
DOCKER_CR=target/release/docker-cr

# Prints the milliseconds that RUNS runs of a command take in total.
time_runs() {
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$@" >/dev/null; done
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

crit_views() {
    crit x "$IMAGES" ps
    crit x "$IMAGES" fds
    crit x "$IMAGES" mems
}

crit_ms=$(time_runs crit_views)
docker_cr_ms=$(time_runs "$DOCKER_CR" inspect --ps-tree --files --memory --format json "$CHECKPOINT")

echo "checkpoint: $CHECKPOINT ($RUNS runs each)"
echo "crit x ps, fds, mems:                   ${crit_ms} ms"
echo "docker-cr inspect --ps-tree --files --memory: ${docker_cr_ms} ms"
if [ "$docker_cr_ms" -gt 0 ]; then
    echo "speed-up: $((crit_ms / docker_cr_ms))x"
fi
