#!/bin/bash
# ws-ckpt benchmark driver (issue 7): `sudo make bench` / `make bench BENCH_QUICK=1`.
# Builds the bench helpers, makes a private temp dir, runs bench/bench.py in it, and always
# cleans up (trap): stop any daemon of that dir, unmount everything under it, detach its loop
# devices, remove it. bench.py cleans up too; this trap is the net for a killed python.
set -u
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "bench: needs root (loop devices, mounts): sudo make bench" >&2
    exit 1
fi
QUICK=${BENCH_QUICK:-}
TMP=$(mktemp -d /tmp/wsbench-XXXXXX) || exit 1
chmod 755 "$TMP"
PY=

cleanup() {
    trap - EXIT INT TERM HUP
    [ -n "$PY" ] && kill -TERM "$PY" 2>/dev/null && wait "$PY" 2>/dev/null
    # daemons (privd, frontd, workers) whose command line or cwd names our dir
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        case "$exe" in
        */build/ws-ckptd|*/build/ws-ckpt-frontd)
            if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$TMP" ||
               ls -l "$p/fd" 2>/dev/null | grep -q "$TMP"; then
                kill -KILL "$pid" 2>/dev/null
            fi ;;
        esac
    done
    for i in 1 2 3 4 5; do
        mps=$(awk -v t="$TMP" '$2 == t || index($2, t "/") == 1 { print $2 }' /proc/mounts | sort -r)
        [ -z "$mps" ] && break
        for m in $mps; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    done
    losetup --list --noheadings --raw -O NAME,BACK-FILE 2>/dev/null |
        while read -r dev back; do
            case "$back" in "$TMP"/*) losetup -d "$dev" 2>/dev/null ;; esac
        done
    if awk -v t="$TMP" '$2 == t || index($2, t "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        echo "bench: WARNING: $TMP still mounted; left in place" >&2
    else
        rm -rf --one-file-system "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

python3 -B bench/bench.py "$TMP" ${QUICK:+--quick} ${BENCH_PROFILE:+--profile} &
PY=$!
wait "$PY"
rc=$?
PY=
exit $rc
