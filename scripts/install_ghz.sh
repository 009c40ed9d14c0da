#!/usr/bin/env bash
# The gRPC load generator of the hot-path benchmark (bench/hot_path.py): ghz (Apache-2.0), a Go
# binary that offers a fixed request rate open-loop (--rps) over many streams.
exec bash "$(dirname "$0")/install_go_tool.sh" ghz github.com/bojand/ghz/cmd/ghz v0.120.0
