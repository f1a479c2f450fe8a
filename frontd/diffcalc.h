/*
 * Classify an incremental btrfs send stream (NO_FILE_DATA, parent = the "from"
 * snapshot) into the changes `ws-ckpt diff` reports: one entry per path,
 * Added / Deleted / Modified / Renamed, in the order the stream first touches them.
 *
 * How (see diffcalc.c for the details):
 *  - The stream's paths name the receiving tree as it is *at that point of the
 *    stream*, with new inodes first created under temporary orphan names
 *    (o<ino>-<gen>-<seq>), possibly given children there, and renamed later. We
 *    replay the commands on a sparse model of the tree (only the entries the stream
 *    mentions), so every entry's original path and final path are the real ones,
 *    including children created under a temp-named directory.
 *  - A file rename arrives as `link new -> old` + `unlink old`; the pair is one rename.
 *  - Modified: write, update_extent, truncate, clone, fallocate, encoded_write,
 *    set_xattr, remove_xattr, chmod, chown, fileattr, enable_verity on an entry that
 *    existed before. Clone-only (reflink) and metadata-only changes ARE reported (the
 *    Rust ws-ckpt dropped them). utimes alone is NOT: the kernel sends it for every
 *    directory whose entries changed, so it would flag every parent of every change.
 *  - One entry per final path; when several changes land on one path the higher of
 *    Renamed > Added > Deleted > Modified wins, at the position of the first.
 *  - Kinds: entries the stream creates have their exact kind (hardlink = a new name
 *    for an inode that keeps another name). For entries that existed before, the
 *    stream does not carry the type; it is inferred (rmdir, a path below it, a
 *    directory-style rename → directory; data commands → file) and is "file" when
 *    nothing tells (e.g. a deleted symlink is reported as kind "file").
 *  - Paths are relative to the workspace root, without a leading slash; a change to
 *    the root directory itself (chmod, xattr) is reported as ".".
 *
 * Memory: one command buffer in the parser plus a node per path the stream mentions
 * (changed entries and their ancestors); the stream itself is never kept. A hard cap
 * on nodes (DIFFCALC_DEFAULT_MAX_NODES) turns a runaway stream into a clean error.
 */
#ifndef WSCKPT_FRONTD_DIFFCALC_H
#define WSCKPT_FRONTD_DIFFCALC_H

#include <stddef.h>

#define DIFFCALC_DEFAULT_MAX_NODES (4u * 1024u * 1024u)

enum diff_change {
	DIFF_ADDED,
	DIFF_DELETED,
	DIFF_MODIFIED,
	DIFF_RENAMED,
};

enum diff_kind {
	DIFF_KIND_FILE,
	DIFF_KIND_DIRECTORY,
	DIFF_KIND_SYMLINK,
	DIFF_KIND_HARDLINK,
	DIFF_KIND_OTHER, /* fifo, socket, device node */
};

struct diff_entry {
	enum diff_change change;
	char *path;	/* final path (the old one for DIFF_DELETED) */
	char *old_path; /* DIFF_RENAMED only, else NULL */
	enum diff_kind kind;
};

struct diffcalc;

struct diffcalc *diffcalc_new(void);
void diffcalc_free(struct diffcalc *dc);

/* Cap on tracked paths (default DIFFCALC_DEFAULT_MAX_NODES); set before feeding. */
void diffcalc_set_max_nodes(struct diffcalc *dc, size_t max_nodes);

/* Feed stream bytes in any chunking. 0 ok; -1 invalid stream (message in err, sticky). */
int diffcalc_feed(struct diffcalc *dc, const void *buf, size_t len, char *err, size_t errsz);

/* End of stream: checks it was complete and builds the entries. 0 ok, -1 error. */
int diffcalc_finish(struct diffcalc *dc, char *err, size_t errsz);

/* After a successful diffcalc_finish. */
size_t diffcalc_count(const struct diffcalc *dc);
const struct diff_entry *diffcalc_entry(const struct diffcalc *dc, size_t i);

/*
 * [{"change":"added","path":"a/b","kind":"file"},
 *  {"change":"renamed","path":"new","old_path":"old","kind":"directory"}, ...]
 * malloc'd (free with free()); NULL on allocation failure. Bytes of a path that are not
 * valid UTF-8 are replaced by U+FFFD, so the output is always valid JSON text.
 */
char *diffcalc_to_json(const struct diffcalc *dc);

const char *diff_change_name(enum diff_change c); /* "added", "deleted", ... */
const char *diff_kind_name(enum diff_kind k);	  /* "file", "directory", ... */

#endif
