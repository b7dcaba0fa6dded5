#!/usr/bin/env bash
# Runs docker-cr's tests: unit tests, and the tests that checkpoint and
# restore real containers on the local engine with the CRIU that
# scripts/setup-host.sh installs. Run as root.
set -euo pipefail

cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "run this as root (sudo $0): the tests dump real containers" >&2; exit 1; }

bash scripts/setup-host.sh
export PATH="/opt/docker-cr/bin:$PATH"

# The tests share one image, built on first use; it is removed when they end,
# like every other dcr-test- object they make.
remove_test_image() { docker image rm -f dcr-test-busybox:latest >/dev/null 2>&1 || true; }
trap remove_test_image EXIT
cargo test --locked "$@"
