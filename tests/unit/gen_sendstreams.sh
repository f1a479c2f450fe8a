#!/bin/bash
# Regenerate the send-stream fixtures of tests/unit/test_sendstream.c.
#
# Needs root, btrfs-progs and a free loop device; run by hand (not by CI), the
# fixtures it writes are committed:
#
#     sudo bash tests/unit/gen_sendstreams.sh
#
# For every scenario: a subvolume gets a base tree, is snapshotted read-only (A),
# gets the scenario's changes, is snapshotted read-only again (B), and
# `btrfs send --no-data -p A B` is written to tests/unit/data/sendstream/<name>.stream.
# The classification we expect is written by hand next to it as <name>.expected, one
# change per line: "<change>\t<path>\t<old_path or ->\t<kind>", in the order the
# stream first touches the entry (the order was read off `btrfs receive --dump -f`,
# which is btrfs-progs' own decoder). It is the oracle of the test, so it is written
# from what the scenario does to the tree, never from our parser's output. Inode
# numbers, and so the stream's order, are deterministic for a fresh filesystem.
# It also refreshes the fuzz seeds made from these streams (tests/fuzz/corpus/diffcalc/).
# The image is unmounted and the loop device detached on every exit path (trap).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/data/sendstream
WORK=$(mktemp -d /tmp/ws-ckpt-sendstream.XXXXXX)
IMG=$WORK/fs.img
MNT=$WORK/mnt
LOOP=""

cleanup() {
	set +e
	if mountpoint -q "$MNT"; then umount "$MNT"; fi
	if [ -n "$LOOP" ]; then losetup -d "$LOOP"; fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "gen_sendstreams.sh: needs root" >&2; exit 1; }
mkdir -p "$OUT" "$MNT"
truncate -s 512M "$IMG"
mkfs.btrfs -q "$IMG"
LOOP=$(losetup --find --show "$IMG")
mount "$LOOP" "$MNT"

# Base tree shared by every scenario (deterministic contents).
base_tree() {
	local d=$1
	mkdir -p "$d/dir/sub" "$d/gone" "$d/olddir/inner" "$d/keep"
	echo alpha >"$d/a.txt"
	echo beta >"$d/b.txt"
	echo gamma >"$d/dir/c.txt"
	echo delta >"$d/dir/sub/d.txt"
	echo doomed >"$d/gone/x"
	echo doomed2 >"$d/gone/y"
	echo inner >"$d/olddir/inner/f"
	echo top >"$d/olddir/g"
	echo "will be replaced" >"$d/thing"
	echo keep >"$d/keep/k"
	head -c 200000 /dev/zero | tr '\0' 'z' >"$d/big.bin"
	ln -s a.txt "$d/link-to-a"
	chmod 0644 "$d"/*.txt
}

# scenario NAME PROTO: runs changes_NAME on the live subvolume between A and B.
scenario() {
	local name=$1 proto=${2:-1}
	local sv=$MNT/$name
	btrfs -q subvolume create "$sv"
	base_tree "$sv"
	sync
	btrfs -q subvolume snapshot -r "$sv" "$MNT/$name.A"
	(cd "$sv" && "changes_${name%%_v*}")
	sync
	btrfs -q subvolume snapshot -r "$sv" "$MNT/$name.B"
	btrfs -q send --no-data --proto "$proto" -p "$MNT/$name.A" "$MNT/$name.B" \
		-f "$OUT/$name.stream"
	chmod 0644 "$OUT/$name.stream"
	"expected_${name%%_v*}" >"$OUT/$name.expected"
	echo "  $name: $(stat -c %s "$OUT/$name.stream") bytes"
}

e() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }

# --- additions: file, symlink, hardlink to an existing file, new dir with files, fifo
changes_add() {
	echo new >new.txt
	ln -s dir/c.txt sym
	ln b.txt b-hardlink
	mkdir -p newdir/deeper
	echo 1 >newdir/one
	echo 2 >newdir/deeper/two
	mkfifo pipe
	cp --reflink=always big.bin big-copy
}
expected_add() {
	e added b-hardlink - hardlink
	e added new.txt - file
	e added sym - symlink
	e added newdir - directory
	e added newdir/deeper - directory
	e added newdir/one - file
	e added newdir/deeper/two - file
	e added pipe - other
	e added big-copy - file
}

# --- renames: a file, a directory with files inside, a file moved into a new dir
changes_rename() {
	mv a.txt a-renamed.txt
	mv olddir newname
	mkdir fresh
	mv dir/c.txt fresh/c-moved.txt
	echo made >fresh/made
	mv fresh/made fresh/made-renamed
}
expected_rename() {
	e renamed newname olddir directory
	e renamed a-renamed.txt a.txt file
	e added fresh - directory
	e renamed fresh/c-moved.txt dir/c.txt file
	e added fresh/made-renamed - file
}

# --- deletions: a file, a directory with files inside, a symlink
changes_delete() {
	rm b.txt
	rm -r gone
	rm link-to-a
}
expected_delete() {
	e deleted gone - directory
	e deleted b.txt - file
	e deleted gone/x - file
	e deleted gone/y - file
	e deleted link-to-a - file
}

# --- modifications: contents, append, chmod only, truncate, xattr, reflink-only clone
changes_modify() {
	echo "new contents" >a.txt
	echo more >>dir/sub/d.txt
	chmod 0600 b.txt
	truncate -s 100 keep/k
	setfattr -n user.test -v hello olddir/g 2>/dev/null || python3 -c \
		'import os; os.setxattr("olddir/g", "user.test", b"hello")'
	# Clone-only change: the data of an existing file replaced by a reflink of
	# another file of A (a CLONE command, no data written).
	cp --reflink=always big.bin olddir/inner/f
	chmod 0700 keep
}
expected_modify() {
	e modified keep - directory
	e modified a.txt - file
	e modified b.txt - file
	e modified dir/sub/d.txt - file
	e modified olddir/inner/f - file
	e modified olddir/g - file
	e modified keep/k - file
}

# --- names with spaces and unicode
changes_names() {
	echo s >"with space.txt"
	mkdir "dir with space"
	echo u >"dir with space/ünïcødé ✓.txt"
	mv b.txt "b renamed é.txt"
	echo m >>"dir/c.txt"
}
expected_names() {
	e renamed "b renamed é.txt" b.txt file
	e modified dir/c.txt - file
	e added "with space.txt" - file
	e added "dir with space" - directory
	e added "dir with space/ünïcødé ✓.txt" - file
}

# --- replace a file with a directory of the same name, and a directory with a file
changes_replace() {
	rm thing
	mkdir thing
	echo inside >thing/inside
	rm -r keep
	echo "now a file" >keep
}
expected_replace() {
	e added keep - file
	e added thing - directory
	e deleted keep/k - file
	e added thing/inside - file
}

# --- swaps: two files exchange names, a directory moved below a sibling and back-named
changes_swap() {
	mv a.txt tmp && mv b.txt a.txt && mv tmp b.txt
	mv dir/sub sub-up
	mv dir sub-up/dir-down
}
expected_swap() {
	e renamed sub-up dir/sub directory
	e renamed sub-up/dir-down dir directory
	e renamed a.txt b.txt file
	e renamed b.txt a.txt file
}

# --- tangles: an existing dir moved into a new dir and given a new file, a dir
# replaced by renaming another one over it, a new dir tree several levels deep
changes_tangle() {
	mkdir nd
	mv olddir nd/od
	echo f >nd/od/newfile
	rm -r keep
	mv gone keep
	mkdir -p n1/n2/n3
	echo deep >n1/n2/n3/leaf
	mv dir/sub/d.txt n1/n2/moved-d.txt
}
expected_tangle() {
	e renamed keep gone directory
	e added nd - directory
	e renamed nd/od olddir directory
	e added n1/n2 - directory
	e renamed n1/n2/moved-d.txt dir/sub/d.txt file
	e deleted keep/k - file
	e added nd/od/newfile - file
	e added n1 - directory
	e added n1/n2/n3 - directory
	e added n1/n2/n3/leaf - file
}

# --- editor-style saves: new contents written to a temp file renamed over the old
# one (a new inode at the old name). Per the precedence rule the old file's Deleted
# and the new file's Added on one path make one Added.
changes_editor() {
	echo "saved" >.a.txt.swp
	mv .a.txt.swp a.txt
	cp dir/c.txt dir/.c.tmp
	echo more >>dir/.c.tmp
	mv dir/.c.tmp dir/c.txt
}
expected_editor() {
	e added a.txt - file
	e added dir/c.txt - file
}

# --- everything at once (the issue's list), once as proto 1 and once as proto 2
changes_all() {
	changes_add
	mv a.txt a-renamed.txt
	mv olddir newname
	rm b.txt
	rm -r gone
	echo more >>dir/sub/d.txt
	chmod 0600 dir/c.txt
	mkdir fresh
	echo made >fresh/made
	mv fresh/made fresh/made-renamed
	echo s >"with space ü.txt"
	rm thing
	mkdir thing
	echo inside >thing/inside
}
expected_all() {
	e deleted gone - directory
	e renamed newname olddir directory
	e renamed a-renamed.txt a.txt file
	e renamed b-hardlink b.txt file
	e modified dir/c.txt - file
	e modified dir/sub/d.txt - file
	e deleted gone/x - file
	e deleted gone/y - file
	e added thing - directory
	e added new.txt - file
	e added sym - symlink
	e added newdir - directory
	e added newdir/deeper - directory
	e added newdir/one - file
	e added newdir/deeper/two - file
	e added pipe - other
	e added big-copy - file
	e added fresh - directory
	e added fresh/made-renamed - file
	e added "with space ü.txt" - file
	e added thing/inside - file
}

echo "generating fixtures in $OUT"
for s in add rename delete modify names replace swap tangle editor; do
	scenario "$s" 1
done
scenario all 1
scenario all_v2 2
# Seeds of tests/fuzz/fuzz_diffcalc.c: each stream behind a knob byte 0 (raw mode).
CORPUS=$HERE/../fuzz/corpus/diffcalc
mkdir -p "$CORPUS"
for f in "$OUT"/*.stream; do
	{ printf '\000'; cat "$f"; } >"$CORPUS/$(basename "$f" .stream)"
done
echo done
