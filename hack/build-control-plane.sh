#!/usr/bin/env bash
# build-control-plane.sh builds kube-apiserver, kube-controller-manager and
# etcd from their Go modules into a machine-level cache directory keyed by
# version, so every clone of the repository (CI clones afresh) finds them.
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
STAMP="$OUT/.complete"

if [[ -f "$STAMP" ]]; then
  echo "$OUT"
  exit 0
fi

log() { echo "[control-plane] $*" >&2; }
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The staging minor version (k8s.io/api v0.37.2 for kubernetes v1.37.2).
STAGING_VERSION="v0${K8S_VERSION#v1}"
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)

log "building kube-apiserver, kube-controller-manager ${K8S_VERSION} and etcd ${ETCD_VERSION} into $OUT (first time only, 8-10 minutes on 2 cores)"

# --- kubernetes: a wrapper module replacing each staging module -------------
KMOD="$WORK/k8s"
mkdir -p "$KMOD"
GOMOD_FILE=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module reportd.local/controlplane"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "tool ("
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
  echo ")"
  echo
  # Every k8s.io module kubernetes requires at v0.0.0 is a staging module it
  # replaces with a local directory; point each at its published version.
  grep -E '^\s+k8s\.io/[^ ]+ v0\.0\.0$' "$GOMOD_FILE" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
} > "$KMOD/go.mod"
log "resolving kubernetes modules (about 40 s)"
(cd "$KMOD" && go mod tidy >&2)
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${MINOR}"
log "compiling kube-apiserver"
(cd "$KMOD" && go build -ldflags "$LDFLAGS" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
log "compiling kube-controller-manager"
(cd "$KMOD" && go build -ldflags "$LDFLAGS" -o "$OUT/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager)

# --- etcd: the server module has a main package at its root ---------------
EMOD="$WORK/etcd"
mkdir -p "$EMOD"
cat > "$EMOD/go.mod" <<GOMOD
module reportd.local/etcd

go 1.26.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}

tool go.etcd.io/etcd/server/v3
GOMOD
log "compiling etcd"
(cd "$EMOD" && go mod tidy >&2 && go build -o "$OUT/etcd" go.etcd.io/etcd/server/v3)

"$OUT/kube-apiserver" --version >&2
touch "$STAMP"
log "done"
echo "$OUT"
