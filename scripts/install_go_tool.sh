#!/usr/bin/env bash
# Build one Go command from the Go module proxy once and cache it (idempotent):
#   scripts/install_go_tool.sh NAME MODULE/cmd/path VERSION  →  $SHOTLINE_TOOLS (default ~/.cache/shotline)/bin/NAME
set -euo pipefail
NAME=$1 PKG=$2 VERSION=$3

TOOLS=${SHOTLINE_TOOLS:-$HOME/.cache/shotline}
BIN=$TOOLS/bin
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
mkdir -p "$BIN"

# `go install` embeds no release number (NAME --version says "dev"/"git"): a stamp records it.
stamp="$BIN/.$NAME-$VERSION"
if [ ! -x "$BIN/$NAME" ] || [ ! -f "$stamp" ]; then
  echo "==> $NAME $VERSION (a few minutes on 2 cores, once)"
  GOBIN=$BIN "$GO" install "$PKG@$VERSION"
  rm -f "$BIN/.$NAME-"*; touch "$stamp"
fi
echo "$NAME in $BIN"
