#!/usr/bin/env bash
# install-deb.sh CHECK:PACKAGE...: installs, in one apt-get run, the
# Debian packages whose check fails. CHECK is a command that must be on PATH
# (the tests' chromium, exiftool) or, ending in .pc, a pkg-config module that
# must be installed (vips.pc: libvips-dev, which the build links against).
set -euo pipefail
missing=()
for pair in "$@"; do
  check=${pair%%:*}
  if [[ $check == *.pc ]]; then
    pkg-config --exists "${check%.pc}" 2>/dev/null || missing+=("${pair#*:}")
  else
    command -v "$check" >/dev/null || missing+=("${pair#*:}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deb: missing Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
