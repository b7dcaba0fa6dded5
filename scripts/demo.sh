#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 host: installs what is
# missing, builds docker-cr and a small demo image, starts a counter
# container, checkpoints it, restores it under a new name, and shows the
# restored container counting on from where it was frozen.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
SOURCE=dcr-demo-counter
RESTORED=dcr-demo-counter-restored
IMAGE=dcr-demo-busybox:latest
OUTPUT=/tmp/docker-checkpoints

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

[[ $(id -u) -eq 0 ]] || { echo "run this as root (sudo $0)" >&2; exit 1; }

step "Setting up the host (Docker engine, CRIU 4.2, busybox)"
bash "$REPO/scripts/setup-host.sh"
export PATH="/opt/docker-cr/bin:$PATH"

step "Building docker-cr"
cargo build --release --quiet
DOCKER_CR="$REPO/target/release/docker-cr"
"$DOCKER_CR" version

step "Checking the host"
"$DOCKER_CR" check

step "Building the demo image $IMAGE from the host's static busybox"
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  cp /usr/bin/busybox "$root/bin/busybox"
  for applet in $(/usr/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
  rm -rf "$root"
fi

step "Starting the counter container $SOURCE"
docker rm -f "$SOURCE" "$RESTORED" >/dev/null 2>&1 || true
docker run -d --name "$SOURCE" "$IMAGE" \
  sh -c 'i=0; while true; do echo $i; i=$((i+1)); sleep 1; done' >/dev/null
sleep 4
# sed and tail read all their input, so `docker logs` never dies of SIGPIPE
# under pipefail as it can with `head`.
echo "$SOURCE has counted to $(docker logs "$SOURCE" | tail -n 1)"

step "Checkpointing $SOURCE (it stops once dumped)"
name="demo-$(date -u +%Y%m%d-%H%M%S)"
"$DOCKER_CR" checkpoint "$SOURCE" --name "$name" --output "$OUTPUT" --leave-running=false
frozen_at=$(docker logs "$SOURCE" | tail -n 1)
echo "$SOURCE was frozen at $frozen_at and is now: $(docker inspect -f '{{.State.Status}}' "$SOURCE")"

step "Restoring it as $RESTORED"
"$DOCKER_CR" restore --from "$OUTPUT/$SOURCE/$name" --new-name "$RESTORED"
sleep 3
first=$(docker logs "$RESTORED" | sed -n 1p)
last=$(docker logs "$RESTORED" | tail -n 1)
echo "$RESTORED went on from $first and has counted to $last (frozen at $frozen_at)"
if [[ -z $first || $first -lt $frozen_at ]]; then
  echo "the restored counter did not carry on from the checkpoint" >&2
  exit 1
fi

step "Done"
cat <<TEXT
$RESTORED is an ordinary Docker container, still counting:
  docker logs -f $RESTORED
  docker exec $RESTORED ps
The checkpoint is in $OUTPUT/$SOURCE/$name.
Clean up with: docker rm -f $SOURCE $RESTORED
TEXT
