#!/usr/bin/env bash
# The gRPC load generator of the hot-path benchmark (bench/hot_path.py): ghz (Apache-2.0), a Go
# binary that offers a fixed request rate open-loop (--rps) over many streams. Built from the Go
# module proxy once and cached (idempotent): $SHOTLINE_TOOLS (default ~/.cache/shotline)/bin/ghz.
set -euo pipefail

TOOLS=${SHOTLINE_TOOLS:-$HOME/.cache/shotline}
BIN=$TOOLS/bin
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
GHZ_VERSION=v0.120.0
mkdir -p "$BIN"

# `go install` embeds no release number (ghz --version says "dev"): a stamp records it.
stamp="$BIN/.ghz-$GHZ_VERSION"
if [ ! -x "$BIN/ghz" ] || [ ! -f "$stamp" ]; then
  echo "==> ghz $GHZ_VERSION (a few minutes on 2 cores, once)"
  GOBIN=$BIN "$GO" install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
  rm -f "$BIN"/.ghz-*; touch "$stamp"
fi
echo "ghz in $BIN"
