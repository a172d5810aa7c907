#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser) when /usr/bin/chromium is
# missing. Idempotent: silent and successful when it is already installed.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
  echo "browser: $CHROMIUM is missing; as root, run: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: $CHROMIUM is missing and there is no apt-get; install Chromium so that it exists" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
updated=0
# A fresh image has no package lists at all: fetch them only when chromium is not offered.
if ! apt-cache show chromium >/dev/null 2>&1; then
  apt-get update -qq
  updated=1
fi
echo "browser: installing Debian's chromium" >&2
if ! apt-get install -y -qq chromium; then
  # Stale lists point at package versions the mirror no longer has: refresh them once.
  if [[ "$updated" -eq 1 ]]; then
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq chromium
fi
if [[ ! -x "$CHROMIUM" ]]; then
  echo "browser: chromium is installed but $CHROMIUM is missing" >&2
  exit 1
fi
