#!/usr/bin/env bash
# Installs what the test suite drives for real: ffmpeg (HLS packaging/decryption), xmllint (CPIX XSD
# validation), Chromium (EME playback) and moto (AWS KMS/DynamoDB emulator, from the shared folder that scripts/shared-dir.js finds).
# PostgreSQL's server binaries too (the postgres store tests start their own throwaway server; Debian
# puts initdb in /usr/lib/postgresql/<version>/bin, off the PATH).
# Idempotent: installs only what is missing. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v chromium >/dev/null || need+=(chromium fonts-liberation)
command -v curl >/dev/null || need+=(curl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-deps: installing ${need[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

moto="$(node scripts/shared-dir.js)/tools/moto-server"
if [ -x "$moto" ]; then
  "$moto" start >/dev/null
  echo "test-deps: moto on http://127.0.0.1:5000"
else
  echo "test-deps: $moto not found; AWS integration tests will fail" >&2
fi
