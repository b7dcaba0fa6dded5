#!/usr/bin/env bash
# Installs and starts what docker-cr needs on a Debian 12 host, skipping what
# is already there: a Docker engine in experimental mode, a CRIU new enough
# for the running kernel, and busybox-static for the demo and test images.
# It also checks for a Rust toolchain. Safe to run again.
#
# Debian 12's own criu (3.17) cannot start on kernels from 6.13 on, and CRIU
# 4.1 cannot dump inet sockets on kernels from 6.16 on, so CRIU comes from
# Debian testing ("forky"), unpacked into a private prefix with its own
# libraries. Installing it through apt would upgrade libc and half the system.
set -euo pipefail

PREFIX=${DOCKER_CR_PREFIX:-/opt/docker-cr}
CRIU_PREFIX="$PREFIX/criu"
BIN_DIR="$PREFIX/bin"
DOCKERD_LOG=${DOCKER_CR_DOCKERD_LOG:-/var/log/docker-cr-dockerd.log}
FORKY_SOURCES=/etc/apt/sources.list.d/docker-cr-forky.sources
FORKY_PIN=/etc/apt/preferences.d/docker-cr-forky

# CRIU 4.2 and the libraries it links that Debian 12 lacks or has too old.
CRIU_PACKAGES=(criu libcompel1 libc6 libgnutls30t64 libnftables1 libnl-3-200
  libprotobuf-c1 libnet9 libbsd0 libuuid1 libbrotli1 libmd0 libp11-kit0
  libidn2-0 libunistring5 libtasn1-6 libnettle8t64 libhogweed6t64 libgmp10
  libjansson4 libmnl0 libnftnl11 libxtables12 libzstd1 zlib1g libgcc-s1
  libffi8)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run this as root: it installs packages and starts dockerd"

apt_updated=0
apt_update_once() {
  if [[ $apt_updated -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
}

install_debian_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  [[ -x /usr/bin/busybox ]] && /usr/bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v tar >/dev/null || missing+=(tar)
  command -v zstd >/dev/null || missing+=(zstd)
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_update_once
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

criu_is_current() {
  [[ -x "$BIN_DIR/criu" ]] || return 1
  local version
  version=$("$BIN_DIR/criu" --version 2>/dev/null | sed -n 's/^Version: *//p')
  [[ -n "$version" ]] || return 1
  local major minor
  IFS=. read -r major minor _ <<<"$version"
  (( major > 4 || (major == 4 && minor >= 2) ))
}

install_criu() {
  if criu_is_current; then
    log "CRIU $("$BIN_DIR/criu" --version | sed -n 's/^Version: *//p') already in $BIN_DIR"
    return
  fi
  log "fetching CRIU from Debian testing into $CRIU_PREFIX"

  # The testing suite is pinned far below the default priority, so no later
  # `apt-get install` picks its packages; it is removed again at the end.
  cat >"$FORKY_SOURCES" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: forky
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$FORKY_PIN" <<'EOF'
Package: *
Pin: release n=forky
Pin-Priority: 100
EOF
  trap 'rm -f "$FORKY_SOURCES" "$FORKY_PIN"' EXIT
  apt-get update -qq
  apt_updated=1

  local download
  download=$(mktemp -d)
  chmod 755 "$download"  # apt fetches as the unprivileged _apt user
  (cd "$download" && apt-get download -qq -t forky "${CRIU_PACKAGES[@]}") ||
    die "could not download CRIU's packages from Debian testing"
  rm -rf "$CRIU_PREFIX.new"
  mkdir -p "$CRIU_PREFIX.new"
  local deb
  for deb in "$download"/*.deb; do
    dpkg -x "$deb" "$CRIU_PREFIX.new"
  done
  rm -rf "$download" "$CRIU_PREFIX"
  mv "$CRIU_PREFIX.new" "$CRIU_PREFIX"

  rm -f "$FORKY_SOURCES" "$FORKY_PIN"
  trap - EXIT
  apt-get update -qq

  # CRIU runs through the unpacked loader so that it never loads the host's
  # older libc. The loader's --list shows any library still missing.
  local libdir="$CRIU_PREFIX/usr/lib/x86_64-linux-gnu"
  mkdir -p "$BIN_DIR"
  cat >"$BIN_DIR/criu" <<EOF
#!/bin/sh
exec "$libdir/ld-linux-x86-64.so.2" --library-path "$libdir" "$CRIU_PREFIX/usr/sbin/criu" "\$@"
EOF
  chmod 755 "$BIN_DIR/criu"
  if "$libdir/ld-linux-x86-64.so.2" --library-path "$libdir" --list "$CRIU_PREFIX/usr/sbin/criu" | grep -q 'not found'; then
    "$libdir/ld-linux-x86-64.so.2" --library-path "$libdir" --list "$CRIU_PREFIX/usr/sbin/criu" | grep 'not found' >&2
    die "CRIU's unpacked libraries are incomplete: add the missing packages to CRIU_PACKAGES in $0"
  fi
  criu_is_current || die "the CRIU in $BIN_DIR is older than 4.2"
  log "CRIU $("$BIN_DIR/criu" --version | sed -n 's/^Version: *//p') installed as $BIN_DIR/criu"
}

engine_answers() { docker info >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then
    if [[ $(docker info --format '{{.ExperimentalBuild}}' 2>/dev/null) != true ]]; then
      die "a Docker engine runs but not in experimental mode: restart it with --experimental (or \"experimental\": true in /etc/docker/daemon.json)"
    fi
    log "Docker engine already running in experimental mode"
    return
  fi
  log "starting dockerd --experimental (log: $DOCKERD_LOG)"
  # runc looks CRIU up on dockerd's PATH, so the new CRIU comes first there.
  PATH="$BIN_DIR:$PATH" nohup dockerd --experimental >>"$DOCKERD_LOG" 2>&1 </dev/null &
  local waited=0
  until engine_answers; do
    sleep 1
    waited=$((waited + 1))
    if [[ $waited -ge 60 ]]; then
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not respond within 60 s; see $DOCKERD_LOG"
    fi
  done
  log "Docker engine up after ${waited} s"
}

check_rust() {
  command -v cargo >/dev/null ||
    die "cargo is missing: install a Rust toolchain (https://rustup.rs) and run this again"
}

install_debian_packages
install_criu
start_engine
check_rust
log "host ready: criu at $BIN_DIR/criu; put $BIN_DIR first on PATH to use it"
