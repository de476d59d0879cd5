#!/usr/bin/env bash
# WebSocket conformance of `wiretape record`: the Autobahn TestSuite's case files, played by
# kosoku (PyPI; ws:// only), against a plain echo server directly and through
# `wiretape record --plain` in front of the same echo server, then the verdicts side by side.
#
#   conformance/run.sh                 # all 517 cases (about 30 s on 2 cores, after the build)
#   conformance/run.sh -i '1.*' -i '5.*'   # only some cases (kosoku's -i/-x globs)
#
# Needs python3 (3.10+) with venv, and cargo. Installs kosoku into .venv-conformance/ (git
# ignored). Writes kosoku's reports to target/conformance/{direct,proxy}/ (index.html).
# Exit code: 0 when, case by case, the verdicts through `wiretape record` equal the direct ones
# or differ only because the echo server dropped TCP and wiretape sent its documented 1011,
# and the verdicts through `wiretape record --mirror-drops` equal the direct ones exactly;
# 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

KOSOKU_VERSION=0.1.0
VENV=.venv-conformance
OUT=target/conformance

if [[ ! -x "$VENV/bin/kosoku" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "kosoku==$KOSOKU_VERSION"
fi
cargo build --quiet --release --bin wiretape --example echo_server

rm -rf "$OUT"
mkdir -p "$OUT"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Starts a server in the background; its first stdout line is `listening on ws://ADDR`.
# Sets ADDR.
start() {
    local name=$1
    shift
    "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
    pids+=($!)
    for _ in $(seq 100); do
        if [[ -s "$OUT/$name.out" ]] && read -r line <"$OUT/$name.out" &&
            [[ $line == "listening on ws://"* ]]; then
            ADDR=${line#listening on ws://}
            return
        fi
        sleep 0.1
    done
    echo "conformance: $name did not start:" >&2
    cat "$OUT/$name.err" >&2
    exit 2
}

start echo target/release/examples/echo_server 127.0.0.1:0
ECHO=$ADDR
# Recording on, as users run it; the cassettes go to a temporary directory.
RECORDINGS=$(mktemp -d)
start record target/release/wiretape record --plain --quiet --listen 127.0.0.1:0 \
    --upstream "ws://$ECHO" --out "$RECORDINGS"
PROXY=$ADDR
# The same with --mirror-drops: a drop of the upstream is passed on as a drop.
start mirror target/release/wiretape record --plain --quiet --listen 127.0.0.1:0 \
    --upstream "ws://$ECHO" --out "$RECORDINGS" --mirror-drops
MIRROR=$ADDR
echo "echo server ws://$ECHO; wiretape record ws://$PROXY (and --mirror-drops ws://$MIRROR) in front of it"

for run in direct proxy mirror; do
    target=$ECHO
    [[ $run == proxy ]] && target=$PROXY
    [[ $run == mirror ]] && target=$MIRROR
    echo "== kosoku against the $run connection ($target)"
    start=$(date +%s)
    # kosoku exits 1 when any case fails; the comparison below is what decides.
    "$VENV/bin/kosoku" -o "$OUT/$run" "$@" "$target" >"$OUT/$run.log" 2>&1 || true
    echo "   $(tail -n 1 "$OUT/$run.log") in $(($(date +%s) - start)) s"
done
echo "cassettes recorded: $(find "$RECORDINGS" -name '*.jsonl' | wc -l) ($(du -sh "$RECORDINGS" | cut -f1))"
rm -rf "$RECORDINGS"

echo
echo "== direct vs wiretape record (default: a drop of the upstream becomes close 1011)"
status=0
"$VENV/bin/python" conformance/compare.py "$OUT/direct/index.json" "$OUT/proxy/index.json" || status=1
echo
echo "== direct vs wiretape record --mirror-drops (must be identical)"
"$VENV/bin/python" conformance/compare.py --identical "$OUT/direct/index.json" "$OUT/mirror/index.json" || status=1
exit $status
