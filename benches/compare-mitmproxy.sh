#!/usr/bin/env bash
# The same load through mitmproxy (mitmdump --mode reverse) as through wiretape record, in the
# same run, so the README can state the ratio honestly.
#
#   benches/compare-mitmproxy.sh            # about 2 minutes on 2 cores, after the build
#
# Installs mitmproxy with pip into .venv-mitmproxy/ (git ignored; .ci/install-mitmproxy.sh, the
# install the tests use too), then runs the benchmark
# harness's relay and mitmproxy sections: direct, through wiretape record, and through
# mitmdump, against the same echo upstream, with TLS on every leg. Prints markdown tables and
# writes target/bench/mitmproxy.json.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-mitmproxy
.ci/install-mitmproxy.sh
"$VENV/bin/mitmdump" --version | head -n 1

cargo bench --bench wiretape -- --only mitmproxy --mitmdump "$VENV/bin/mitmdump" \
    --out target/bench/mitmproxy.json "$@"
