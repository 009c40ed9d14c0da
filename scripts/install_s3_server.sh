#!/usr/bin/env bash
# The S3-compatible server the blob-store tests run against: versitygw (Versity S3 Gateway,
# Apache-2.0), a single Go binary serving a directory over the S3 API. Built from the Go module
# proxy once and cached (idempotent): $SHOTLINE_TOOLS (default ~/.cache/shotline)/bin/versitygw.
set -euo pipefail

TOOLS=${SHOTLINE_TOOLS:-$HOME/.cache/shotline}
BIN=$TOOLS/bin
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
VERSITYGW_VERSION=v1.8.0
mkdir -p "$BIN"

# `go install` embeds no release number (versitygw --version says "git"): a stamp records it.
stamp="$BIN/.versitygw-$VERSITYGW_VERSION"
if [ ! -x "$BIN/versitygw" ] || [ ! -f "$stamp" ]; then
  echo "==> versitygw $VERSITYGW_VERSION (a few minutes on 2 cores, once)"
  GOBIN=$BIN "$GO" install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  rm -f "$BIN"/.versitygw-*; touch "$stamp"
fi
echo "versitygw in $BIN"
