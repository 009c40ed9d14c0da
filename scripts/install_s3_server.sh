#!/usr/bin/env bash
# The S3-compatible server the blob-store tests run against: versitygw (Versity S3 Gateway,
# Apache-2.0), a single Go binary serving a directory over the S3 API.
exec bash "$(dirname "$0")/install_go_tool.sh" versitygw github.com/versity/versitygw/cmd/versitygw v1.8.0
