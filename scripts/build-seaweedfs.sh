#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (Apache-2.0) from its Go module into
# .cache/seaweedfs/weed: the storage tests run it as a real S3-compatible
# server. `go install` refuses the module (its go.mod has replace
# directives), so the module is copied out of the module cache and built
# in place. Skips the build when the binary exists.
set -euo pipefail
version=v0.0.0-20261109003541-7506e5f91cd6
cd "$(dirname "$0")/.."
bin=.cache/seaweedfs/weed
src=.cache/seaweedfs-src

if [ -x "$bin" ]; then
  exit 0
fi
echo "build-seaweedfs: building weed $version (a few minutes the first time)"
# Outside our module, so that go.mod and go.sum stay as they are.
dir=$(cd / && go mod download -json "github.com/seaweedfs/seaweedfs@$version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
rm -rf "$src"
mkdir -p .cache # a fresh clone has none yet
cp -r "$dir" "$src"
chmod -R u+w "$src"
mkdir -p "$(dirname "$bin")"
# Built under another name first, so an interrupted build leaves no binary
# that the Taskfile's status check would take for a finished one.
(cd "$src" && go build -o "../seaweedfs/weed.tmp" ./weed)
mv .cache/seaweedfs/weed.tmp "$bin"
echo "build-seaweedfs: installed $bin"
