#!/usr/bin/env bash
# install-tool.sh builds a Go-installable tool at a pinned version into a
# machine-level cache keyed by name and version (so a fresh clone, such as
# CI's, finds it at once) and links it into the project's bin/.
#
# Usage: hack/install-tool.sh BIN_DIR NAME PACKAGE VERSION [LDFLAGS]
set -euo pipefail

BIN_DIR=${1:?bin dir}
NAME=${2:?tool name}
PACKAGE=${3:?go package}
VERSION=${4:?version}
LDFLAGS=${5:-}
CACHE_ROOT=${REPORTD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reportd}
DIR="$CACHE_ROOT/tools/${NAME}-${VERSION}"

if [[ ! -x "$DIR/$NAME" ]]; then
  echo "[tools] building $NAME $VERSION (first time only)" >&2
  mkdir -p "$DIR"
  GOBIN="$DIR" go install -ldflags "$LDFLAGS" "${PACKAGE}@${VERSION}"
  built=$(basename "${PACKAGE%/v[0-9]*}")
  # go install names the binary after the package's last element.
  if [[ "$built" != "$NAME" && -x "$DIR/$built" ]]; then mv "$DIR/$built" "$DIR/$NAME"; fi
fi
mkdir -p "$BIN_DIR"
ln -sf "$DIR/$NAME" "$BIN_DIR/$NAME"
