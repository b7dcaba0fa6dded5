#!/usr/bin/env bash
# Times a checkpoint of a container holding SIZE_MIB of touched memory, made
# by Docker's own `docker checkpoint create` and by `docker-cr checkpoint`,
# then `docker-cr inspect` on the result. A benchmark to run by hand as
# root after scripts/setup-host.sh, never a test: timings depend on the
# machine and on what else runs on it.
#
# Usage: scripts/bench-checkpoint.sh [SIZE_MIB] [DOCKER_CR]
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
DOCKER_CR=${2:-target/release/docker-cr}
IMAGE=dcr-bench-memhog:latest
CONTAINER=dcr-bench-memhog
OUTPUT=$(mktemp -d /tmp/dcr-bench.XXXXXX)
export PATH="/opt/docker-cr/bin:$PATH"

cleanup() {
  docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$OUTPUT"
}
trap cleanup EXIT

[[ -x $DOCKER_CR ]] || cargo build --release --quiet

# The image: busybox plus the static memory holder.
root=$(mktemp -d)
mkdir -p "$root/bin"
cp /usr/bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
gcc -O2 -static -o "$root/bin/memhog" scripts/bench/memhog.c
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
rm -rf "$root"

seconds() { awk -v start="$1" -v end="$2" 'BEGIN { printf "%.3f", (end - start) / 1e9 }'; }

start_container() {
  docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  docker run -d --name "$CONTAINER" "$IMAGE" memhog "$SIZE_MIB" >/dev/null
  until docker logs "$CONTAINER" 2>/dev/null | grep -q ready; do sleep 0.5; done
}

echo "container memory: $SIZE_MIB MiB touched"

start_container
start=$(date +%s%N)
docker checkpoint create --leave-running "$CONTAINER" docker-cp >/dev/null
end=$(date +%s%N)
echo "docker checkpoint create --leave-running: $(seconds "$start" "$end") s"
docker checkpoint rm "$CONTAINER" docker-cp

start_container
start=$(date +%s%N)
"$DOCKER_CR" checkpoint "$CONTAINER" --name dcr-cp --output "$OUTPUT/dcr" 2>/dev/null | sed -n 's/^  frozen for: */  container frozen for: /p'
end=$(date +%s%N)
echo "docker-cr checkpoint (leave running):     $(seconds "$start" "$end") s"

checkpoint="$OUTPUT/dcr/$CONTAINER/dcr-cp"
for view in "--ps-tree" "--ps-tree --ps-tree-cmd --ps-tree-env --files --sockets" "--all --format json"; do
  start=$(date +%s%N)
  # shellcheck disable=SC2086 # the views are separate options
  "$DOCKER_CR" inspect "$checkpoint" $view >/dev/null
  end=$(date +%s%N)
  echo "docker-cr inspect $view: $(seconds "$start" "$end") s"
done
