#!/usr/bin/env bash
# Installs mitmproxy, pinned, into .venv-mitmproxy/ (git ignored, never global): the one install
# used by .ci/run, by the tests (tests/harness/mitmproxy.rs runs this script when mitmdump is
# missing) and by benches/compare-mitmproxy.sh. Does nothing when that version is there.
set -euo pipefail
cd "$(dirname "$0")/.."

MITMPROXY_VERSION=11.0.2
VENV=.venv-mitmproxy

if [[ -x "$VENV/bin/mitmdump" ]] \
    && "$VENV/bin/mitmdump" --version 2>/dev/null | grep -q "^Mitmproxy: $MITMPROXY_VERSION\$"; then
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "mitmproxy==$MITMPROXY_VERSION"
"$VENV/bin/mitmdump" --version | head -n 1
