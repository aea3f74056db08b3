#!/usr/bin/env bash
# Installs whatever gridwatch needs and is missing: Debian packages, npm packages, the model.
# Idempotent and quick when everything is there; `npm start` and `npm test` run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: binary to look for, package that provides it.
APT_NEEDS=(
  "ffmpeg:ffmpeg"
  "nats-server:nats-server"
  "mosquitto:mosquitto"
  "mosquitto_pub:mosquitto-clients"
)
missing=()
for need in "${APT_NEEDS[@]}"; do
  bin="${need%%:*}" pkg="${need#*:}"
  if ! command -v "$bin" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$bin" ]; then missing+=("$pkg"); fi
done
# Packages that ship data files rather than binaries: file to look for, package.
APT_FILES=(
  "/usr/share/doc/opencv-doc/examples/data/vtest.avi:opencv-doc"
  "/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib:gir1.2-gst-rtsp-server-1.0"
  "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstrtspclientsink.so:gstreamer1.0-rtsp"
  "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstrtp.so:gstreamer1.0-plugins-good"
  "/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvideoparsersbad.so:gstreamer1.0-plugins-bad"
  "/usr/lib/python3/dist-packages/gi/__init__.py:python3-gi"
)
for need in "${APT_FILES[@]}"; do
  file="${need%%:*}" pkg="${need#*:}"
  [ -e "$file" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup: run as root, or install these packages first: ${missing[*]}" >&2; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-fund --no-audit --loglevel=error
fi
