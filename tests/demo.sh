#!/usr/bin/env bash
# `make demo`: a guided tour of ws-ckpt on a throw-away loop-backed btrfs.
#
# Run as root from the repository (sudo make demo). It installs missing
# packages, builds, starts ws-ckptd on a scratch directory under /tmp, then, as
# an unprivileged demo user: init -> checkpoint -> edit -> checkpoint -> list ->
# rollback -> status. Whatever happens, the EXIT trap stops the daemon, unmounts,
# detaches the loop device, deletes the demo user and removes the scratch dir.
# The system account and group `ws-ckpt` are created if missing and kept: a real
# installation needs them too.
set -euo pipefail

DEMO_USER=wsck-demo
SVC_USER=ws-ckpt   # frontd_user and socket_group defaults
SOCKET_WAIT_SECS=20

# Filled in as the demo goes; cleanup() copes with any of them still empty.
SCRATCH=""
DAEMON_PID=""
DEMO_HOME=""
LOG=""
MNT=""
IMG=""

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\ndemo: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
	local rc=$? dev i
	set +e
	trap - EXIT INT TERM
	if [[ $rc -ne 0 && -n $LOG && -s $LOG ]]; then
		printf '\n--- daemon log (%s) ---\n' "$LOG" >&2
		tail -n 60 "$LOG" >&2
		printf -- '--- end of daemon log ---\n' >&2
	fi
	say "Cleaning up"

	if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		note "stopping ws-ckptd (pid $DAEMON_PID) with SIGTERM"
		kill -TERM "$DAEMON_PID" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$DAEMON_PID" 2>/dev/null; then
			note "still running after 10 s: SIGKILL"
			kill -KILL "$DAEMON_PID" 2>/dev/null
		fi
		wait "$DAEMON_PID" 2>/dev/null
	fi

	# The workspace is now a symlink into the scratch mount; remove the link
	# itself (never what it points to).
	if [[ -n $DEMO_HOME && -L $DEMO_HOME/demo-ws ]]; then
		rm -f -- "$DEMO_HOME/demo-ws"
	fi

	# The daemon leaves its mount in place on shutdown, by design.
	if [[ -n $MNT ]]; then
		for ((i = 0; i < 5; i++)); do
			mountpoint -q -- "$MNT" 2>/dev/null || break
			note "unmounting $MNT"
			umount -- "$MNT" 2>/dev/null || umount -l -- "$MNT"
		done
	fi

	if [[ -n $IMG && -e $IMG ]]; then
		for dev in $(losetup -j "$IMG" 2>/dev/null | cut -d: -f1); do
			note "detaching $dev"
			losetup -d "$dev"
		done
	fi

	if getent passwd "$DEMO_USER" >/dev/null; then
		note "deleting user $DEMO_USER and its home"
		userdel -r "$DEMO_USER" 2>/dev/null || userdel "$DEMO_USER"
	fi

	if [[ -n $SCRATCH && -d $SCRATCH ]]; then
		if [[ -n $MNT ]] && mountpoint -q -- "$MNT" 2>/dev/null; then
			note "warning: $MNT is still mounted; leaving $SCRATCH in place"
			rc=1
		else
			rm -rf --one-file-system -- "$SCRATCH"
		fi
	fi

	if [[ -n $IMG ]] && losetup -a 2>/dev/null | grep -qF -- "$IMG"; then
		note "warning: a loop device still refers to $IMG:"
		losetup -a | grep -F -- "$IMG"
		rc=1
	fi
	if [[ $rc -eq 0 ]]; then
		note "done: no daemon, mount, loop device, demo user or scratch files left"
	else
		note "the demo failed (exit status $rc)"
	fi
	exit "$rc"
}

# Run a command line as the demo user in its home directory, with the scratch
# binaries first in PATH and WS_CKPT_SOCKET pointing at the demo daemon.
run_demo() {
	(cd "$DEMO_HOME" && runuser -u "$DEMO_USER" -- \
		env PATH="$SCRATCH/bin:/usr/local/bin:/usr/bin:/bin" \
		WS_CKPT_SOCKET="$SCRATCH/ws-ckpt.sock" \
		bash -c "$1")
}

# The same, showing the command first as the demo user would type it.
as_demo() {
	printf '%s$ %s\n' "$DEMO_USER" "$1"
	run_demo "$1"
}

[[ $EUID -eq 0 ]] || die "run as root: sudo make demo"
cd "$(dirname "$0")/.."

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Checking dependencies"
bash tools/deps.sh

say "Building"
make -s all

say "Preparing a scratch area"
SCRATCH=$(mktemp -d /tmp/ws-ckpt-demo.XXXXXX)
# The front process (user ws-ckpt) and the demo user must reach the binaries,
# the socket and the mount below it.
chmod 0755 "$SCRATCH"
MNT=$SCRATCH/mnt
IMG=$SCRATCH/state/btrfs-data.img
LOG=$SCRATCH/ws-ckptd.log
# Copies, so that no part of the source tree has to be readable by other users.
install -d -m 0755 "$SCRATCH/bin"
install -m 0755 build/ws-ckptd build/ws-ckpt-frontd build/ws-ckpt "$SCRATCH/bin/"
note "scratch directory: $SCRATCH"

if ! getent group "$SVC_USER" >/dev/null; then
	groupadd --system "$SVC_USER"
	note "created system group $SVC_USER (kept afterwards: a real install needs it)"
fi
if ! getent passwd "$SVC_USER" >/dev/null; then
	useradd --system -g "$SVC_USER" -M -d /nonexistent -s /usr/sbin/nologin "$SVC_USER"
	note "created system user $SVC_USER (kept afterwards: a real install needs it)"
fi
if getent passwd "$DEMO_USER" >/dev/null; then
	usermod -a -G "$SVC_USER" "$DEMO_USER"
	note "reusing existing user $DEMO_USER (deleted at the end)"
else
	useradd -m -G "$SVC_USER" -s /bin/bash "$DEMO_USER"
	note "created demo user $DEMO_USER in group $SVC_USER (deleted at the end)"
fi
DEMO_HOME=$(getent passwd "$DEMO_USER" | cut -d: -f6)
[[ -d $DEMO_HOME ]] || die "home directory $DEMO_HOME of $DEMO_USER is missing"

cat >"$SCRATCH/config.toml" <<CONF
# Written by tests/demo.sh; everything lives under $SCRATCH.
socket_path = "$SCRATCH/ws-ckpt.sock"
state_dir = "$SCRATCH/state"
frontd_path = "$SCRATCH/bin/ws-ckpt-frontd"

[backend]
type = "btrfs-loop"

[backend.btrfs-loop]
img_path = "$IMG"
img_size = 1
mount_path = "$MNT"
CONF
note "config: $SCRATCH/config.toml"

say "Starting the daemon: ws-ckptd -f -c $SCRATCH/config.toml"
"$SCRATCH/bin/ws-ckptd" -f -c "$SCRATCH/config.toml" >"$LOG" 2>&1 &
DAEMON_PID=$!
for ((i = 0; i < SOCKET_WAIT_SECS * 10; i++)); do
	[[ -S $SCRATCH/ws-ckpt.sock ]] && break
	kill -0 "$DAEMON_PID" 2>/dev/null || die "ws-ckptd exited during start-up"
	sleep 0.1
done
[[ -S $SCRATCH/ws-ckpt.sock ]] || die "no socket after ${SOCKET_WAIT_SECS} s"
note "ws-ckptd is running (pid $DAEMON_PID), log in $LOG"
note "btrfs image $IMG mounted on $MNT"

say "As the unprivileged user $DEMO_USER (member of group $SVC_USER)"
ORIGINAL="hello from the first version"
as_demo "mkdir ~/demo-ws && echo '$ORIGINAL' > ~/demo-ws/notes.txt"
as_demo "ws-ckpt init -w ~/demo-ws"
as_demo "ls -ld ~/demo-ws"
as_demo "ws-ckpt checkpoint -w ~/demo-ws -i v1 -m 'first'"
as_demo "echo 'an edit we will undo' > ~/demo-ws/notes.txt"
as_demo "ws-ckpt checkpoint -w ~/demo-ws -i v2"
as_demo "ws-ckpt list -w ~/demo-ws"
as_demo "ws-ckpt rollback -w ~/demo-ws -s v1"
printf '%s$ %s\n' "$DEMO_USER" "cat ~/demo-ws/notes.txt"
content=$(run_demo "cat ~/demo-ws/notes.txt")
printf '%s\n' "$content"
[[ $content == "$ORIGINAL" ]] || die "rollback did not restore notes.txt (got: $content)"
as_demo "ws-ckpt status -w ~/demo-ws"

say "The demo worked: notes.txt is back to its checkpointed content"
