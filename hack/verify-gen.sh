#!/usr/bin/env bash
# verify-gen.sh fails when `make manifests generate` changed tracked files
# or produced new ones: generated files must be committed up to date.
set -euo pipefail
paths=(api config/crd config/rbac)
if ! git diff --quiet -- "${paths[@]}" || [[ -n "$(git ls-files --others --exclude-standard -- "${paths[@]}")" ]]; then
  echo "Generated files are stale. Run 'make manifests generate' and commit the result:" >&2
  git status --short -- "${paths[@]}" >&2
  git diff --stat -- "${paths[@]}" >&2
  exit 1
fi
