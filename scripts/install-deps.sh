#!/usr/bin/env bash
# Installs what building and testing ktape needs, idempotently: Debian
# packages that are missing, and the Python venv in .venv (re-created when
# requirements-dev.txt changes). Safe to run on every `make`.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang compiles bpf/*.bpf.c; libelf/zlib/pkg-config build the vendored
# libbpf; linux-perf gives `perf bench` for loads; bpftool lets the tests
# check that nothing stays attached; nftables lets the tcp tests drop packets
# (retransmits, a lost SYN) without sch_netem; chromium renders the HTML
# report headless in its test; libc6-dbg gives libc's internal function
# names (found by build id) that the stack tests check; xz is sampled by
# them.
packages=(clang llvm libelf-dev zlib1g-dev pkg-config make linux-perf bpftool nftables chromium libc6-dbg xz-utils)
# Spark (for the SQL tests) needs a Java 17+ runtime.
if ! command -v java >/dev/null 2>&1; then
  packages+=(openjdk-17-jre-headless)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]}; run as root (or sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python venv for the end-to-end tests and notebooks.
py=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: creating .venv from requirements-dev.txt" >&2
  rm -rf .venv
  "$py" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
