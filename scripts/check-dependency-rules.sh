#!/usr/bin/env bash
# Checks the dependency rules of DESIGN.md §2, so a boundary cannot erode one
# convenient import at a time:
#   - qafila-domain and qafila-cards have no IO and no serialisation: no
#     rusqlite, tokio, reqwest, tauri, automerge, serde;
#   - only qafila-store sees rusqlite (and, above it, the crates that open a
#     store: app, sync, cli, e2e, desktop; and the relay, for its own
#     embedded SQLite database, which is not a device store);
#   - only the desktop shell sees tauri;
#   - the relay sees neither the store, the app façade nor Automerge.
# A rule about a crate that does not exist yet passes trivially.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0
packages=$(cargo tree --locked --workspace --depth 0 --prefix none --format '{p}' |
  awk '/^qafila/ {print $1}' | sort -u)

# Prints the names of every package in $1's normal (non-dev, non-build) tree.
tree_of() {
  cargo tree --locked -p "$1" -e normal --prefix none --format '{p}' 2>/dev/null |
    awk '{print $1}' | sort -u || true
}

# forbid PACKAGE DEPENDENCY... : fails if PACKAGE's tree holds any of them.
forbid() {
  local package=$1
  shift
  grep -qx "$package" <<<"$packages" || return 0
  local tree
  tree=$(tree_of "$package")
  for dep in "$@"; do
    if grep -qx "$dep" <<<"$tree"; then
      echo "dependency rule broken: $package must not depend on $dep (DESIGN.md §2)" >&2
      failed=1
    fi
  done
}

forbid qafila-domain rusqlite tokio reqwest tauri automerge serde
forbid qafila-cards rusqlite tokio reqwest tauri automerge serde
for package in $packages; do
  [ "$package" = qafila-store ] || [ "$package" = qafila-desktop ] || [ "$package" = qafila-app ] ||
    [ "$package" = qafila-cli ] || [ "$package" = qafila-e2e ] || [ "$package" = qafila-sync ] ||
    [ "$package" = qafila-relay ] ||
    forbid "$package" rusqlite
  [ "$package" = qafila-desktop ] || forbid "$package" tauri
done
forbid qafila-relay qafila-store qafila-app qafila-doc qafila-sync automerge
forbid qafila-proto qafila-store qafila-doc automerge rusqlite tokio

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "dependency rules hold for: $(echo $packages)"
