#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library from the onnxruntime-node npm package
# (the CPU build ships inside the tarball), checks its sha256 and caches it.
# The version and its sha256 are pinned in config/ort.env, which the app's
# default ORT_LIB and the Taskfile read too.
set -euo pipefail
. "$(dirname "$0")/../config/ort.env"
version=$ORT_VERSION
want=$ORT_SHA256
dest=${1:-.cache/onnxruntime/$version}
lib="$dest/libonnxruntime.so.1"

if [ -f "$lib" ] && echo "$want  $lib" | sha256sum -c --status; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-ort: npm is needed to fetch onnxruntime-node@$version" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack downloads the tarball without running its install script.
(cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
tar -xzf "$tmp"/onnxruntime-node-"$version".tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
got=$(sha256sum "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "fetch-ort: sha256 mismatch for libonnxruntime.so.1: got $got, want $want" >&2
  exit 1
fi
mkdir -p "$dest"
mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib"
echo "fetch-ort: installed $lib"
