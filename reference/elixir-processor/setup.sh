#!/usr/bin/env bash
# Build the elixir-processor: Debian packages only (no Hex), compiled with elixirc.
# Usage (from anywhere): bash reference/elixir-processor/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PACKAGES=(elixir erlang-mochiweb erlang-jiffy erlang-p1-pgsql erlang-inets erlang-ssl erlang-crypto erlang-public-key erlang-xmerl)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive $cmd; then
      apt-get update
      DEBIAN_FRONTEND=noninteractive $cmd
    fi
  else
    echo "setup: missing Debian packages; run as root:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
fi

OUT=ebin
STAMP="$OUT/.built"
SOURCES=(lib/*.ex src/covenant_processor.app priv/openapi.json ../schema.sql setup.sh)

needs_build=0
if [ ! -f "$STAMP" ]; then
  needs_build=1
else
  for f in "${SOURCES[@]}"; do
    if [ "$f" -nt "$STAMP" ]; then needs_build=1; break; fi
  done
fi

if [ "$needs_build" -eq 0 ]; then
  echo "setup: elixir-processor is up to date"
  exit 0
fi

echo "setup: compiling elixir-processor"
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
elixirc --warnings-as-errors --ignore-module-conflict -o "$OUT.tmp" lib/*.ex
cp src/covenant_processor.app "$OUT.tmp/"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
touch "$STAMP"
echo "setup: built $(ls "$OUT"/*.beam | wc -l) modules into $(pwd)/$OUT"
