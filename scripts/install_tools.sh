#!/usr/bin/env bash
# Tools the deploy tests need, built from the Go module proxy and cached (idempotent):
#   kustomize (renders the overlays), the KEDA and Prometheus Operator CRDs (validation
#   schemas), and promtool (Prometheus's own rule checker; optional, see below).
# Output: $SHOTLINE_TOOLS (default ~/.cache/shotline)/bin and /crds.
set -euo pipefail

TOOLS=${SHOTLINE_TOOLS:-$HOME/.cache/shotline}
BIN=$TOOLS/bin
CRDS=$TOOLS/crds
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
KUSTOMIZE_VERSION=v5.8.1          # v5.8.3 needs Go >= 1.27
KEDA_VERSION=v2.20.2
PROM_OPERATOR_VERSION=v0.85.0
PROMETHEUS_VERSION=v0.305.1       # Prometheus 3.5 LTS; newer ones need deps the proxy lacks
mkdir -p "$BIN" "$CRDS"

if [ ! -x "$BIN/kustomize" ] || ! "$BIN/kustomize" version | grep -q "$KUSTOMIZE_VERSION"; then
  echo "==> kustomize $KUSTOMIZE_VERSION"
  GOBIN=$BIN "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi

moddir() { "$GO" mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }

stamp="$CRDS/.keda-$KEDA_VERSION-promop-$PROM_OPERATOR_VERSION"
if [ ! -f "$stamp" ]; then
  echo "==> CRDs: KEDA $KEDA_VERSION, Prometheus Operator $PROM_OPERATOR_VERSION"
  keda=$(moddir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  promop=$(moddir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")
  rm -f "$CRDS"/*.yaml "$CRDS"/.keda-*
  install -m 644 "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" "$CRDS/"
  for k in servicemonitors podmonitors prometheusrules; do
    install -m 644 "$promop/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml" "$CRDS/"
  done
  touch "$stamp"
fi

# promtool pulls in all of Prometheus (a few minutes on 2 cores, once). Built inside the module
# directory because its go.mod has replace directives, which `go install pkg@version` refuses.
if [ ! -x "$BIN/promtool" ] && [ "${SHOTLINE_SKIP_PROMTOOL:-0}" != 1 ]; then
  echo "==> promtool (Prometheus $PROMETHEUS_VERSION)"
  src=$(moddir "github.com/prometheus/prometheus@$PROMETHEUS_VERSION")
  (cd "$src" && "$GO" build -o "$BIN/promtool" ./cmd/promtool) \
    || echo "warning: promtool did not build; rule syntax is still checked by promql-parser" >&2
fi
echo "tools in $BIN, CRDs in $CRDS"
