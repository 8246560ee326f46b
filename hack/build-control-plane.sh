#!/usr/bin/env bash
# build-control-plane.sh builds kube-apiserver, kube-controller-manager,
# kubectl and etcd from their Go modules into a machine-level cache directory
# keyed by version, so every clone of the repository (CI clones afresh)
# finds them at once.
#
# setup-envtest cannot download binaries on these machines; see
# docs/design/2026-11-29-control-plane-from-source.md for why this works.
#
# Usage: hack/build-control-plane.sh K8S_VERSION ETCD_VERSION
# Prints the directory holding the binaries (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

K8S_VERSION=${1:?kubernetes version, e.g. v1.37.2}
ETCD_VERSION=${2:?etcd version, e.g. v3.7.3}
CACHE_ROOT=${REPORTD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reportd}
OUT="$CACHE_ROOT/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
K8S_TOOLS=(kube-apiserver kube-controller-manager kubectl)

missing=()
for tool in "${K8S_TOOLS[@]}" etcd; do
  [[ -x "$OUT/$tool" ]] || missing+=("$tool")
done
if (( ${#missing[@]} == 0 )); then
  echo "$OUT"
  exit 0
fi

log() { echo "[control-plane] $(date -u +%H:%M:%S) $*" >&2; }
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log "building ${missing[*]} (kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}) into $OUT; the first build takes 8-12 minutes on 2 cores, later clones reuse it"

# The staging modules' version (k8s.io/api v0.37.2 for kubernetes v1.37.2).
STAGING_VERSION="v0${K8S_VERSION#v1}"
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)

build_kubernetes_tools() {
  local kmod="$WORK/k8s" gomod_file
  mkdir -p "$kmod"
  gomod_file=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module reportd.local/controlplane"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "tool ("
    for tool in "${K8S_TOOLS[@]}"; do echo "	k8s.io/kubernetes/cmd/$tool"; done
    echo ")"
    echo
    # kubernetes requires its staging modules at v0.0.0 and replaces them with
    # local directories; point each at its published version instead.
    grep -E '^\s+k8s\.io/[^ ]+ v0\.0\.0$' "$gomod_file" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } > "$kmod/go.mod"
  log "resolving kubernetes modules (about 40 s)"
  (cd "$kmod" && go mod tidy >&2)
  # Stamp the version, or the binaries report v0.0.0-master. No -trimpath:
  # without it the project's test build reuses these compiled packages.
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${MINOR}"
  for tool in "${K8S_TOOLS[@]}"; do
    if [[ ! -x "$OUT/$tool" ]]; then
      log "compiling $tool"
      (cd "$kmod" && go build -ldflags "$ldflags" -o "$OUT/$tool.tmp" "k8s.io/kubernetes/cmd/$tool" && mv "$OUT/$tool.tmp" "$OUT/$tool")
    fi
  done
}

build_etcd() {
  local emod="$WORK/etcd"
  mkdir -p "$emod"
  cat > "$emod/go.mod" <<GOMOD
module reportd.local/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}

tool go.etcd.io/etcd/server/v3
GOMOD
  log "compiling etcd"
  (cd "$emod" && go mod tidy >&2 && go build -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3 && mv "$OUT/etcd.tmp" "$OUT/etcd")
}

if [[ " ${missing[*]} " == *" kube"* ]]; then build_kubernetes_tools; fi
if [[ ! -x "$OUT/etcd" ]]; then build_etcd; fi
"$OUT/kube-apiserver" --version >&2
log "done"
echo "$OUT"
