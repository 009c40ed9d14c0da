#!/usr/bin/env bash
# Installs the Debian packages whose stills make the category evaluation videos
# (research/data/category_eval_set.json; rendered by research/category_footage.py). Idempotent.
set -euo pipefail
PACKAGES="tuxpaint-stamps-default gcompris-qt-data palapeli-data mate-backgrounds lomiri-wallpapers-16.04"
missing=()
for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]} (footage for the category evaluation set)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
