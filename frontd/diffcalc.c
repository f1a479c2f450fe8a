/*
 * Send-stream change classifier (see diffcalc.h for the rules).
 *
 * Model. The stream's paths name the receiving tree as it is at that point of the
 * stream, starting from the parent snapshot ("old"). We keep a sparse copy of that
 * tree: a node per directory entry the stream mentions, found through a hash table
 * keyed by (parent node, name). An entry of the old snapshot the stream has not
 * mentioned yet is not in the table; the first command that names it creates it
 * ("implicit" node), and since nothing moved it before, its old location is its
 * current parent + name. Each node remembers that old location (oparent, oname), so
 * after any sequence of renames through temp names both its old and its final path
 * are exact, also for children of a renamed or temp-named directory.
 *
 * Keys an entry left are marked absent: a removed node stays at its key until
 * something new takes it, and a rename leaves a negative ("NEG") node behind, so a
 * later command naming that path is not mistaken for an untouched old entry. Orphan
 * temp names (o<ino>-<gen>-<seq>) in the root are the exception: the kernel picks them
 * so that they exist in neither snapshot's root, so they need no marker (and a
 * 100k-file diff leaves no 100k markers behind).
 *
 * Node slots are never reused except NEG ones (a NEG node is never anybody's parent),
 * so indices held in parent/oparent/ino/pair always stay valid.
 */
#include "frontd/diffcalc.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontd/sendstream.h"

#define NONE UINT32_MAX
#define ROOT 0u
#define NAME_MAX_BYTES 255 /* btrfs name limit */
#define PATH_BUF 4096	   /* PATH_MAX: longest path attribute + NUL */

enum node_state { N_NEG, N_LIVE, N_REMOVED };
enum node_origin { O_OLD, O_NEW }; /* existed in the parent snapshot / created by the stream */
enum node_kind { K_UNKNOWN, K_FILE, K_DIR, K_SYMLINK, K_OTHER };

#define NF_MODIFIED 0x01 /* old entry whose data or metadata changed */
#define NF_LINK 0x02	 /* created by LINK: a new name of an inode that had one */
#define NF_PAIRED 0x04	 /* removed old name whose inode lives on under an NF_LINK name */
#define NF_PROMOTED 0x08 /* NF_LINK name that replaces its inode's removed first name */

struct node {
	char *name;	  /* current name; with parent, the table key */
	char *oname;	  /* name in the old snapshot (O_OLD), may be the same pointer */
	uint32_t parent;  /* current parent, NONE for the root */
	uint32_t oparent; /* parent in the old snapshot (O_OLD) */
	uint32_t ino;	  /* first node of its inode once a link shares it, else NONE */
	uint32_t pair;	  /* NF_LINK: the old name it replaces; NEG nodes: free-list link */
	uint32_t nlive;	  /* live children */
	uint32_t hash;	  /* of (parent, name) */
	uint64_t seq;	  /* first change (0: unchanged) */
	uint64_t rmseq;	  /* when removed */
	uint16_t nlen;	  /* strlen(name) */
	uint8_t state, origin, kind, flags;
};

struct diffcalc {
	struct sendstream *ss;
	struct node *nodes;
	uint32_t nnodes, cap, free_neg, max_nodes;
	uint32_t *table; /* node indices, NONE = empty; linear probing */
	uint32_t tcap, tused;
	uint64_t seq;
	bool started, full, finished, failed;
	struct diff_entry *entries;
	size_t nentries;
	char p1[PATH_BUF], p2[PATH_BUF];
};

/* ---- errors ----------------------------------------------------------------------- */

/* A path for a message: bounded, non-printable bytes shown as '?'. */
static const char *shown(const char *path, char *buf, size_t bufsz)
{
	size_t i, n = 0;

	for (i = 0; path[i] && n + 4 < bufsz; i++)
		buf[n++] = ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) ? '?' : path[i];
	if (path[i]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static int cmd_fail(const struct ss_cmd *c, char *err, size_t errsz, const char *path,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int cmd_fail(const struct ss_cmd *c, char *err, size_t errsz, const char *path,
		    const char *fmt, ...)
{
	char what[256], pbuf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errsz, "send stream: command %llu (%s) '%s': %s",
		 (unsigned long long)c->index, ss_cmd_name(c->type), shown(path, pbuf, sizeof(pbuf)),
		 what);
	return -1;
}

/* ---- names ----------------------------------------------------------------------- */

/* o<digits>-<digits>-<digits>: the orphan names btrfs send gives new/unlinked inodes. */
static bool is_orphan_name(const char *s, size_t len)
{
	size_t i = 1;

	if (len < 6 || s[0] != 'o')
		return false;
	for (int field = 0; field < 3; field++) {
		size_t start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
		if (field < 2) {
			if (i >= len || s[i] != '-')
				return false;
			i++;
		}
	}
	return i == len;
}

static int check_component(const struct ss_cmd *c, const char *path, const char *s, size_t len,
			   char *err, size_t errsz)
{
	if (len == 0)
		return cmd_fail(c, err, errsz, path, "empty path component");
	if (len > NAME_MAX_BYTES)
		return cmd_fail(c, err, errsz, path, "path component longer than %d bytes",
				NAME_MAX_BYTES);
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return cmd_fail(c, err, errsz, path, "'.' or '..' path component");
	return 0;
}

/* Every component of a non-empty path, without resolving anything. */
static int check_components(const struct ss_cmd *c, const char *path, char *err, size_t errsz)
{
	const char *s = path;

	for (;;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (check_component(c, path, s, len, err, errsz) < 0)
			return -1;
		if (!slash)
			return 0;
		s = slash + 1;
	}
}

/* ---- node table ---------------------------------------------------------------------- */

static uint32_t key_hash(uint32_t parent, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ ((uint64_t)parent * 0x9E3779B97F4A7C15ull);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t table_find(const struct diffcalc *dc, uint32_t parent, const char *name,
			   size_t len, uint32_t h)
{
	uint32_t mask = dc->tcap - 1;

	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t x = dc->table[i];
		const struct node *n;

		if (x == NONE)
			return NONE;
		n = &dc->nodes[x];
		if (n->hash == h && n->parent == parent && n->nlen == len &&
		    memcmp(n->name, name, len) == 0)
			return x;
	}
}

static void table_put(struct diffcalc *dc, uint32_t idx)
{
	uint32_t mask = dc->tcap - 1, i = dc->nodes[idx].hash & mask;

	while (dc->table[i] != NONE)
		i = (i + 1) & mask;
	dc->table[i] = idx;
	dc->tused++;
}

/* Keep the load under 1/2 so probes stay short. */
static int table_grow(struct diffcalc *dc)
{
	uint32_t *old = dc->table, ocap = dc->tcap;

	if ((uint64_t)(dc->tused + 1) * 2 <= dc->tcap)
		return 0;
	if (dc->tcap > UINT32_MAX / 4)
		return -1;
	dc->table = malloc(sizeof(uint32_t) * (size_t)ocap * 2);
	if (!dc->table) {
		dc->table = old;
		return -1;
	}
	dc->tcap = ocap * 2;
	dc->tused = 0;
	memset(dc->table, 0xff, sizeof(uint32_t) * dc->tcap);
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i] != NONE)
			table_put(dc, old[i]);
	}
	free(old);
	return 0;
}

static int table_insert(struct diffcalc *dc, uint32_t idx)
{
	if (table_grow(dc) < 0)
		return -1;
	table_put(dc, idx);
	return 0;
}

/* Backward-shift deletion: no tombstones, so probe chains never degrade. */
static void table_remove(struct diffcalc *dc, uint32_t idx)
{
	uint32_t mask = dc->tcap - 1, i = dc->nodes[idx].hash & mask;

	while (dc->table[i] != idx) {
		if (dc->table[i] == NONE)
			return; /* not in the table */
		i = (i + 1) & mask;
	}
	for (uint32_t j = (i + 1) & mask; dc->table[j] != NONE; j = (j + 1) & mask) {
		uint32_t home = dc->nodes[dc->table[j]].hash & mask;

		/* Move j back into the hole i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			dc->table[i] = dc->table[j];
			i = j;
		}
	}
	dc->table[i] = NONE;
	dc->tused--;
}

/* ---- nodes ----------------------------------------------------------------------------- */

/* A zeroed node slot (a recycled NEG one if any). Invalidates node pointers. */
static uint32_t node_alloc(struct diffcalc *dc)
{
	uint32_t idx;

	if (dc->free_neg != NONE) {
		idx = dc->free_neg;
		dc->free_neg = dc->nodes[idx].pair;
	} else {
		if (dc->nnodes >= dc->max_nodes)
			return NONE;
		if (dc->nnodes == dc->cap) {
			uint32_t ncap = dc->cap ? dc->cap * 2 : 1024;
			struct node *nn;

			if (ncap > dc->max_nodes)
				ncap = dc->max_nodes;
			nn = realloc(dc->nodes, sizeof(*nn) * ncap);
			if (!nn)
				return NONE;
			dc->nodes = nn;
			dc->cap = ncap;
		}
		idx = dc->nnodes++;
	}
	memset(&dc->nodes[idx], 0, sizeof(dc->nodes[idx]));
	dc->nodes[idx].parent = dc->nodes[idx].oparent = NONE;
	dc->nodes[idx].ino = dc->nodes[idx].pair = NONE;
	return idx;
}

static void neg_free(struct diffcalc *dc, uint32_t idx)
{
	struct node *n = &dc->nodes[idx];

	free(n->name);
	n->name = NULL;
	n->pair = dc->free_neg;
	dc->free_neg = idx;
}

static char *dup_name(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* Node at (parent, name) in state st; inserted in the table. NONE on exhaustion. */
static uint32_t node_add(struct diffcalc *dc, uint32_t parent, const char *name, size_t len,
			 uint8_t st, uint8_t origin)
{
	uint32_t idx = node_alloc(dc);
	struct node *n;

	if (idx == NONE)
		return NONE;
	n = &dc->nodes[idx];
	n->name = dup_name(name, len);
	if (!n->name) {
		n->pair = dc->free_neg;
		dc->free_neg = idx;
		return NONE;
	}
	n->nlen = (uint16_t)len;
	n->parent = parent;
	n->hash = key_hash(parent, name, len);
	n->state = st;
	n->origin = origin;
	if (origin == O_OLD) {
		n->oparent = parent;
		n->oname = n->name;
	}
	if (table_insert(dc, idx) < 0) {
		neg_free(dc, idx);
		return NONE;
	}
	if (st == N_LIVE)
		dc->nodes[parent].nlive++;
	return idx;
}

static void mark_changed(struct diffcalc *dc, uint32_t idx)
{
	if (dc->nodes[idx].seq == 0)
		dc->nodes[idx].seq = ++dc->seq;
}

static void mark_removed(struct diffcalc *dc, uint32_t idx)
{
	struct node *n = &dc->nodes[idx];

	n->state = N_REMOVED;
	n->rmseq = ++dc->seq;
	if (n->seq == 0)
		n->seq = n->rmseq;
	dc->nodes[n->parent].nlive--;
}

static int out_of_nodes(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
			char *err, size_t errsz)
{
	if (dc->nnodes >= dc->max_nodes)
		return cmd_fail(c, err, errsz, path, "too many changed paths (limit %u)",
				dc->max_nodes);
	return cmd_fail(c, err, errsz, path, "out of memory");
}

/* ---- path resolution --------------------------------------------------------------------- */

/*
 * The live entry `name` in directory `parent`, creating the implicit node of an
 * old-snapshot entry the stream mentions for the first time.
 */
static int get_existing(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
			uint32_t parent, const char *name, size_t len, uint32_t *out, char *err,
			size_t errsz)
{
	uint32_t h = key_hash(parent, name, len), x = table_find(dc, parent, name, len, h);

	if (x != NONE) {
		if (dc->nodes[x].state != N_LIVE)
			return cmd_fail(c, err, errsz, path, "no such entry (removed earlier)");
		*out = x;
		return 0;
	}
	/* Not mentioned yet: only an untouched entry of the old snapshot can be there. */
	if (dc->full)
		return cmd_fail(c, err, errsz, path, "no such entry (full stream)");
	if (dc->nodes[parent].origin == O_NEW)
		return cmd_fail(c, err, errsz, path, "no such entry in a new directory");
	x = node_add(dc, parent, name, len, N_LIVE, O_OLD);
	if (x == NONE)
		return out_of_nodes(dc, c, path, err, errsz);
	*out = x;
	return 0;
}

/* An entry a path goes through must be a directory; it also tells us its kind. */
static int as_directory(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
			uint32_t idx, char *err, size_t errsz)
{
	struct node *n = &dc->nodes[idx];

	if (n->kind != K_UNKNOWN && n->kind != K_DIR)
		return cmd_fail(c, err, errsz, path, "path goes through a non-directory");
	n->kind = K_DIR;
	return 0;
}

/* Resolve all components but the last; the last one (validated) goes to leaf, leaflen. */
static int walk_parent(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		       uint32_t *parent, const char **leaf, size_t *leaflen, char *err,
		       size_t errsz)
{
	const char *s = path, *slash;
	uint32_t cur = ROOT;

	if (*path == '\0')
		return cmd_fail(c, err, errsz, path, "empty path");
	while ((slash = strchr(s, '/')) != NULL) {
		size_t len = (size_t)(slash - s);

		if (check_component(c, path, s, len, err, errsz) < 0 ||
		    get_existing(dc, c, path, cur, s, len, &cur, err, errsz) < 0 ||
		    as_directory(dc, c, path, cur, err, errsz) < 0)
			return -1;
		s = slash + 1;
	}
	if (check_component(c, path, s, strlen(s), err, errsz) < 0)
		return -1;
	*parent = cur;
	*leaf = s;
	*leaflen = strlen(s);
	return 0;
}

/* The live entry at path; the empty path is the root (only if allow_root). */
static int resolve(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		   bool allow_root, uint32_t *out, char *err, size_t errsz)
{
	uint32_t parent;
	const char *leaf;
	size_t len;

	if (*path == '\0') {
		if (!allow_root)
			return cmd_fail(c, err, errsz, path, "not allowed on the root");
		*out = ROOT;
		return 0;
	}
	if (walk_parent(dc, c, path, &parent, &leaf, &len, err, errsz) < 0)
		return -1;
	return get_existing(dc, c, path, parent, leaf, len, out, err, errsz);
}

/*
 * Make (parent, name) free for a new entry: a removed node leaves the table (it is
 * kept for the report), a NEG marker is recycled, a live entry is an error.
 */
static int take_key(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		    uint32_t parent, const char *name, size_t len, char *err, size_t errsz)
{
	uint32_t x = table_find(dc, parent, name, len, key_hash(parent, name, len));

	if (x == NONE)
		return 0;
	if (dc->nodes[x].state == N_LIVE)
		return cmd_fail(c, err, errsz, path, "entry already exists");
	table_remove(dc, x);
	if (dc->nodes[x].state == N_NEG)
		neg_free(dc, x);
	return 0;
}

/* ---- commands ------------------------------------------------------------------------------ */

/* mkfile, mkdir, mknod, mkfifo, mksock, symlink, and link (target != NONE). */
static int op_create(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		     uint8_t kind, uint32_t target, char *err, size_t errsz)
{
	uint32_t parent, idx;
	const char *leaf;
	size_t len;

	if (walk_parent(dc, c, path, &parent, &leaf, &len, err, errsz) < 0)
		return -1;
	if (dc->nodes[parent].kind != K_DIR)
		return cmd_fail(c, err, errsz, path, "parent is not a directory");
	if (take_key(dc, c, path, parent, leaf, len, err, errsz) < 0)
		return -1;
	idx = node_add(dc, parent, leaf, len, N_LIVE, O_NEW);
	if (idx == NONE)
		return out_of_nodes(dc, c, path, err, errsz);
	dc->nodes[idx].kind = kind;
	mark_changed(dc, idx);
	if (target != NONE) {
		/* The inode's group is named after its first node. */
		if (dc->nodes[target].ino == NONE)
			dc->nodes[target].ino = target;
		dc->nodes[idx].ino = dc->nodes[target].ino;
		dc->nodes[idx].flags |= NF_LINK;
	}
	return 0;
}

static int op_link(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		   const char *target_path, char *err, size_t errsz)
{
	uint32_t t;

	if (resolve(dc, c, target_path, false, &t, err, errsz) < 0)
		return -1;
	if (dc->nodes[t].kind == K_DIR)
		return cmd_fail(c, err, errsz, target_path, "hard link to a directory");
	return op_create(dc, c, path, K_UNKNOWN, t, err, errsz);
}

static int op_remove(struct diffcalc *dc, const struct ss_cmd *c, const char *path, bool dir,
		     char *err, size_t errsz)
{
	uint32_t idx;
	struct node *n;

	if (resolve(dc, c, path, false, &idx, err, errsz) < 0)
		return -1;
	n = &dc->nodes[idx];
	if (dir) {
		if (n->kind != K_UNKNOWN && n->kind != K_DIR)
			return cmd_fail(c, err, errsz, path, "rmdir of a non-directory");
		if (n->nlive)
			return cmd_fail(c, err, errsz, path, "rmdir of a non-empty directory");
		n->kind = K_DIR;
	} else if (n->kind == K_DIR) {
		return cmd_fail(c, err, errsz, path, "unlink of a directory");
	}
	mark_removed(dc, idx);
	return 0;
}

/* rename(2) onto an existing entry replaces it: it counts as removed. */
static int rename_displace(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
			   uint32_t d, char *err, size_t errsz)
{
	struct node *n = &dc->nodes[d];

	if (n->state == N_LIVE) {
		if (n->nlive)
			return cmd_fail(c, err, errsz, path, "rename over a non-empty directory");
		mark_removed(dc, d);
	}
	table_remove(dc, d);
	if (dc->nodes[d].state == N_NEG)
		neg_free(dc, d);
	return 0;
}

/* Leave a NEG marker at the key node idx is leaving (see the file comment). */
static int leave_key(struct diffcalc *dc, uint32_t idx)
{
	struct node *n = &dc->nodes[idx];
	uint32_t parent = n->parent, neg;
	char name[NAME_MAX_BYTES + 1];
	size_t len = n->nlen;

	if (parent == ROOT && is_orphan_name(n->name, len))
		return 0;
	memcpy(name, n->name, len);
	neg = node_add(dc, parent, name, len, N_NEG, O_NEW);
	return neg == NONE ? -1 : 0;
}

static int set_name(struct node *n, const char *name, size_t len)
{
	char *p = dup_name(name, len);

	if (!p)
		return -1;
	if (n->name != n->oname)
		free(n->name);
	n->name = p;
	n->nlen = (uint16_t)len;
	return 0;
}

/* Re-key node idx to (parent, leaf): the table, the NEG marker left behind, counts. */
static int move_node(struct diffcalc *dc, uint32_t idx, uint32_t parent, const char *leaf,
		     size_t len)
{
	uint32_t oldparent = dc->nodes[idx].parent;

	table_remove(dc, idx);
	if (leave_key(dc, idx) < 0 || set_name(&dc->nodes[idx], leaf, len) < 0)
		return -1;
	dc->nodes[oldparent].nlive--;
	dc->nodes[parent].nlive++;
	dc->nodes[idx].parent = parent;
	dc->nodes[idx].hash = key_hash(parent, leaf, len);
	return table_insert(dc, idx);
}

static int op_rename(struct diffcalc *dc, const struct ss_cmd *c, const char *from,
		     const char *to, char *err, size_t errsz)
{
	uint32_t idx, parent, d;
	const char *leaf;
	size_t len;
	bool real_names;

	if (resolve(dc, c, from, false, &idx, err, errsz) < 0 ||
	    walk_parent(dc, c, to, &parent, &leaf, &len, err, errsz) < 0)
		return -1;
	if (dc->nodes[parent].kind != K_DIR)
		return cmd_fail(c, err, errsz, to, "parent is not a directory");
	/* A directory cannot move below itself; this also keeps the parent chains acyclic. */
	for (uint32_t x = parent; x != NONE; x = dc->nodes[x].parent) {
		if (x == idx)
			return cmd_fail(c, err, errsz, to, "moves a directory into itself");
	}
	d = table_find(dc, parent, leaf, len, key_hash(parent, leaf, len));
	if (d == idx)
		return 0;
	if (d != NONE && rename_displace(dc, c, to, d, err, errsz) < 0)
		return -1;
	real_names = !is_orphan_name(dc->nodes[idx].name, dc->nodes[idx].nlen) &&
		     !is_orphan_name(leaf, len);
	if (move_node(dc, idx, parent, leaf, len) < 0)
		return out_of_nodes(dc, c, to, err, errsz);
	if (dc->nodes[idx].origin == O_NEW)
		return 0;
	/* Only directories move by rename between real names; files use link + unlink. */
	if (real_names && dc->nodes[idx].kind == K_UNKNOWN)
		dc->nodes[idx].kind = K_DIR;
	mark_changed(dc, idx);
	return 0;
}

/* Data (file_hint) or metadata change of an existing entry. */
static int op_modify(struct diffcalc *dc, const struct ss_cmd *c, const char *path,
		     bool file_hint, char *err, size_t errsz)
{
	uint32_t idx;
	struct node *n;

	if (resolve(dc, c, path, true, &idx, err, errsz) < 0)
		return -1;
	n = &dc->nodes[idx];
	if (file_hint) {
		if (n->kind != K_UNKNOWN && n->kind != K_FILE)
			return cmd_fail(c, err, errsz, path, "file data change on a non-file");
		n->kind = K_FILE;
	}
	if (n->origin == O_OLD) {
		n->flags |= NF_MODIFIED;
		mark_changed(dc, idx);
	}
	return 0;
}

/*
 * utimes changes nothing we report: only check that the path can exist, without
 * creating nodes (the kernel sends it for every touched directory).
 */
static int op_touch(struct diffcalc *dc, const struct ss_cmd *c, const char *path, char *err,
		    size_t errsz)
{
	const char *s = path;
	uint32_t cur = ROOT;

	/* All of it, also below the first entry we know nothing about. */
	if (*path && check_components(c, path, err, errsz) < 0)
		return -1;
	while (*path) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		uint32_t x;

		if (dc->nodes[cur].kind != K_UNKNOWN && dc->nodes[cur].kind != K_DIR)
			return cmd_fail(c, err, errsz, path, "path goes through a non-directory");
		x = table_find(dc, cur, s, len, key_hash(cur, s, len));
		if (x == NONE) {
			if (dc->full || dc->nodes[cur].origin == O_NEW)
				return cmd_fail(c, err, errsz, path, "no such entry");
			return 0; /* an old entry the stream did not otherwise touch */
		}
		if (dc->nodes[x].state != N_LIVE)
			return cmd_fail(c, err, errsz, path, "no such entry (removed earlier)");
		cur = x;
		if (!slash)
			break;
		s = slash + 1;
	}
	return 0;
}

static int op_start(struct diffcalc *dc, const struct ss_cmd *c, char *err, size_t errsz)
{
	if (dc->started)
		return cmd_fail(c, err, errsz, "", "a second subvolume in one stream");
	dc->started = true;
	dc->full = c->type == SS_C_SUBVOL;
	return 0;
}

static uint8_t created_kind(uint16_t type)
{
	switch (type) {
	case SS_C_MKFILE:
		return K_FILE;
	case SS_C_MKDIR:
		return K_DIR;
	case SS_C_SYMLINK:
		return K_SYMLINK;
	default:
		return K_OTHER; /* mknod, mkfifo, mksock */
	}
}

static int dispatch(struct diffcalc *dc, const struct ss_cmd *c, char *err, size_t errsz)
{
	switch (c->type) {
	case SS_C_MKFILE:
	case SS_C_MKDIR:
	case SS_C_MKNOD:
	case SS_C_MKFIFO:
	case SS_C_MKSOCK:
	case SS_C_SYMLINK:
		return op_create(dc, c, dc->p1, created_kind(c->type), NONE, err, errsz);
	case SS_C_RENAME:
		if (ss_attr_str(c, SS_A_PATH_TO, dc->p2, sizeof(dc->p2), err, errsz) < 0)
			return -1;
		return op_rename(dc, c, dc->p1, dc->p2, err, errsz);
	case SS_C_LINK:
		if (ss_attr_str(c, SS_A_PATH_LINK, dc->p2, sizeof(dc->p2), err, errsz) < 0)
			return -1;
		return op_link(dc, c, dc->p1, dc->p2, err, errsz);
	case SS_C_UNLINK:
		return op_remove(dc, c, dc->p1, false, err, errsz);
	case SS_C_RMDIR:
		return op_remove(dc, c, dc->p1, true, err, errsz);
	case SS_C_WRITE:
	case SS_C_CLONE:
	case SS_C_TRUNCATE:
	case SS_C_UPDATE_EXTENT:
	case SS_C_FALLOCATE:
	case SS_C_ENCODED_WRITE:
	case SS_C_ENABLE_VERITY:
		return op_modify(dc, c, dc->p1, true, err, errsz);
	case SS_C_SET_XATTR:
	case SS_C_REMOVE_XATTR:
	case SS_C_CHMOD:
	case SS_C_CHOWN:
	case SS_C_FILEATTR:
		return op_modify(dc, c, dc->p1, false, err, errsz);
	case SS_C_UTIMES:
		return op_touch(dc, c, dc->p1, err, errsz);
	default:
		return cmd_fail(c, err, errsz, "", "unsupported command");
	}
}

/* The parser's callback: one verified command. */
static int on_cmd(void *arg, const struct ss_cmd *c, char *err, size_t errsz)
{
	struct diffcalc *dc = arg;

	if (c->type == SS_C_SUBVOL || c->type == SS_C_SNAPSHOT)
		return op_start(dc, c, err, errsz);
	if (!dc->started)
		return cmd_fail(c, err, errsz, "", "stream does not start with subvol/snapshot");
	if (c->type == SS_C_END)
		return 0;
	if (ss_attr_str(c, SS_A_PATH, dc->p1, sizeof(dc->p1), err, errsz) < 0)
		return -1;
	return dispatch(dc, c, err, errsz);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

struct diffcalc *diffcalc_new(void)
{
	struct diffcalc *dc = calloc(1, sizeof(*dc));
	uint32_t root;

	if (!dc)
		return NULL;
	dc->free_neg = NONE;
	dc->max_nodes = DIFFCALC_DEFAULT_MAX_NODES;
	dc->tcap = 1024;
	dc->table = malloc(sizeof(uint32_t) * dc->tcap);
	dc->ss = sendstream_new(on_cmd, dc);
	if (!dc->table || !dc->ss)
		goto fail;
	memset(dc->table, 0xff, sizeof(uint32_t) * dc->tcap);
	/* The root: an old directory that is nobody's child (never in the table). */
	root = node_alloc(dc);
	if (root != ROOT)
		goto fail;
	dc->nodes[root].state = N_LIVE;
	dc->nodes[root].origin = O_OLD;
	dc->nodes[root].kind = K_DIR;
	dc->nodes[root].oparent = NONE;
	return dc;
fail:
	diffcalc_free(dc);
	return NULL;
}

static void free_entries(struct diff_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].path);
		free(e[i].old_path);
	}
	free(e);
}

void diffcalc_free(struct diffcalc *dc)
{
	if (!dc)
		return;
	for (uint32_t i = 0; i < dc->nnodes; i++) {
		struct node *n = &dc->nodes[i];

		if (n->oname && n->oname != n->name)
			free(n->oname);
		free(n->name);
	}
	free(dc->nodes);
	free(dc->table);
	sendstream_free(dc->ss);
	free_entries(dc->entries, dc->nentries);
	free(dc);
}

void diffcalc_set_max_nodes(struct diffcalc *dc, size_t max_nodes)
{
	if (max_nodes < 2)
		max_nodes = 2;
	if (max_nodes > UINT32_MAX / 4)
		max_nodes = UINT32_MAX / 4;
	if (max_nodes < dc->nnodes)
		max_nodes = dc->nnodes;
	dc->max_nodes = (uint32_t)max_nodes;
}

int diffcalc_feed(struct diffcalc *dc, const void *buf, size_t len, char *err, size_t errsz)
{
	if (dc->finished) {
		snprintf(err, errsz, "send stream: data after finish");
		return -1;
	}
	if (sendstream_feed(dc->ss, buf, len, err, errsz) < 0) {
		dc->failed = true;
		return -1;
	}
	return 0;
}

/* ---- results ---------------------------------------------------------------------------------- */

/* "a/b/c" from the current (orig=false) or old (orig=true) chain; "." for the root. */
static char *node_path(const struct diffcalc *dc, uint32_t idx, bool orig)
{
	size_t total = 0, pos;
	uint32_t x;
	char *p;

	if (idx == ROOT)
		return strdup(".");
	for (x = idx; x != ROOT; x = orig ? dc->nodes[x].oparent : dc->nodes[x].parent)
		total += strlen(orig ? dc->nodes[x].oname : dc->nodes[x].name) + 1;
	p = malloc(total);
	if (!p)
		return NULL;
	pos = total - 1;
	p[pos] = '\0';
	for (x = idx; x != ROOT; x = orig ? dc->nodes[x].oparent : dc->nodes[x].parent) {
		const char *name = orig ? dc->nodes[x].oname : dc->nodes[x].name;
		size_t len = strlen(name);

		pos -= len;
		memcpy(p + pos, name, len);
		if (pos > 0)
			p[--pos] = '/';
	}
	return p;
}

static enum diff_kind public_kind(uint8_t k)
{
	switch (k) {
	case K_DIR:
		return DIFF_KIND_DIRECTORY;
	case K_SYMLINK:
		return DIFF_KIND_SYMLINK;
	case K_OTHER:
		return DIFF_KIND_OTHER;
	default:
		return DIFF_KIND_FILE; /* K_FILE, and K_UNKNOWN: see diffcalc.h */
	}
}

/* ---- link/unlink pairing ---- */

struct pair_ev {
	uint32_t ino, node;
	uint64_t when;
};

static int ev_cmp(const void *a, const void *b)
{
	const struct pair_ev *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->when < y->when ? -1 : x->when > y->when;
}

/*
 * Per inode, the names it lost (in removal order) against the NF_LINK names it gained
 * and kept (in creation order): the i-th of each are one rename. A lost name of the
 * old snapshot makes the link a Renamed; a lost name the stream had created (the
 * inode's first name, e.g. its temp name) makes the link the inode's plain Added name.
 */
static int pair_links(struct diffcalc *dc)
{
	struct pair_ev *rm = NULL, *ln = NULL;
	size_t nrm = 0, nln = 0, i = 0, j = 0;

	for (uint32_t k = 1; k < dc->nnodes; k++) {
		const struct node *n = &dc->nodes[k];

		if (n->ino == NONE || n->state == N_NEG)
			continue;
		if (n->state == N_REMOVED && !(n->flags & NF_LINK))
			nrm++;
		else if (n->state == N_LIVE && (n->flags & NF_LINK))
			nln++;
	}
	if (nrm == 0 || nln == 0)
		return 0;
	rm = malloc(sizeof(*rm) * nrm);
	ln = malloc(sizeof(*ln) * nln);
	if (!rm || !ln)
		goto fail;
	nrm = nln = 0;
	for (uint32_t k = 1; k < dc->nnodes; k++) {
		const struct node *n = &dc->nodes[k];

		if (n->ino == NONE || n->state == N_NEG)
			continue;
		if (n->state == N_REMOVED && !(n->flags & NF_LINK))
			rm[nrm++] = (struct pair_ev){ n->ino, k, n->rmseq };
		else if (n->state == N_LIVE && (n->flags & NF_LINK))
			ln[nln++] = (struct pair_ev){ n->ino, k, n->seq };
	}
	qsort(rm, nrm, sizeof(*rm), ev_cmp);
	qsort(ln, nln, sizeof(*ln), ev_cmp);
	while (i < nrm && j < nln) {
		if (rm[i].ino != ln[j].ino) {
			if (rm[i].ino < ln[j].ino)
				i++;
			else
				j++;
			continue;
		}
		if (dc->nodes[rm[i].node].origin == O_OLD) {
			dc->nodes[ln[j].node].pair = rm[i].node;
			dc->nodes[rm[i].node].flags |= NF_PAIRED;
		} else {
			dc->nodes[ln[j].node].flags |= NF_PROMOTED;
		}
		i++;
		j++;
	}
	free(rm);
	free(ln);
	return 0;
fail:
	free(rm);
	free(ln);
	return -1;
}

/* ---- entries ---- */

struct raw_entry {
	uint64_t order;
	struct diff_entry e;
};

struct raw_list {
	struct raw_entry *v;
	size_t n, cap;
};

static int raw_cmp(const void *a, const void *b)
{
	const struct raw_entry *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* Takes ownership of path/old_path (freed on failure). */
static int raw_add(struct raw_list *l, uint64_t order, enum diff_change ch, char *path,
		   char *old_path, enum diff_kind kind)
{
	if (!path || (ch == DIFF_RENAMED && !old_path))
		goto fail;
	/* Renamed onto the same path (e.g. out of a replaced directory): not a rename. */
	if (ch == DIFF_RENAMED && strcmp(path, old_path) == 0) {
		free(path);
		free(old_path);
		return 0;
	}
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct raw_entry *nv = realloc(l->v, sizeof(*nv) * ncap);

		if (!nv)
			goto fail;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = (struct raw_entry){ order, { ch, path, old_path, kind } };
	return 0;
fail:
	free(path);
	free(old_path);
	return -1;
}

static enum diff_kind group_kind(const struct diffcalc *dc, const struct node *n)
{
	return public_kind(dc->nodes[n->ino].kind);
}

static int node_entry_new(const struct diffcalc *dc, struct raw_list *l, uint32_t k)
{
	const struct node *n = &dc->nodes[k];

	if (!(n->flags & NF_LINK))
		return raw_add(l, n->seq, DIFF_ADDED, node_path(dc, k, false), NULL,
			       public_kind(n->kind));
	if (n->pair != NONE) {
		const struct node *old = &dc->nodes[n->pair];
		uint64_t order = old->seq < n->seq ? old->seq : n->seq;

		return raw_add(l, order, DIFF_RENAMED, node_path(dc, k, false),
			       node_path(dc, n->pair, true), group_kind(dc, n));
	}
	return raw_add(l, n->seq, DIFF_ADDED, node_path(dc, k, false), NULL,
		       (n->flags & NF_PROMOTED) ? group_kind(dc, n) : DIFF_KIND_HARDLINK);
}

static int node_entry_old(const struct diffcalc *dc, struct raw_list *l, uint32_t k)
{
	const struct node *n = &dc->nodes[k];
	enum diff_kind kind = public_kind(n->kind);
	bool moved;

	if (n->state == N_REMOVED) {
		if (n->flags & NF_PAIRED)
			return 0; /* reported as the rename to its link */
		return raw_add(l, n->seq, DIFF_DELETED, node_path(dc, k, true), NULL, kind);
	}
	/* The root has no name and never moves. */
	moved = k != ROOT && (n->parent != n->oparent || strcmp(n->name, n->oname) != 0);
	if (moved) {
		char *path = node_path(dc, k, false), *old = node_path(dc, k, true);

		if (path && old && strcmp(path, old) == 0) {
			/* Same path through a different directory node: not a rename. */
			free(old);
			if (!(n->flags & NF_MODIFIED)) {
				free(path);
				return 0;
			}
			return raw_add(l, n->seq, DIFF_MODIFIED, path, NULL, kind);
		}
		return raw_add(l, n->seq, DIFF_RENAMED, path, old, kind);
	}
	if (n->flags & NF_MODIFIED)
		return raw_add(l, n->seq, DIFF_MODIFIED, node_path(dc, k, false), NULL, kind);
	return 0;
}

static int collect(const struct diffcalc *dc, struct raw_list *l)
{
	for (uint32_t k = 0; k < dc->nnodes; k++) {
		const struct node *n = &dc->nodes[k];
		int rc = 0;

		if (n->state == N_NEG || n->seq == 0)
			continue;
		if (n->origin == O_NEW && n->state == N_LIVE)
			rc = node_entry_new(dc, l, k);
		else if (n->origin == O_OLD)
			rc = node_entry_old(dc, l, k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- one entry per path ---- */

static int precedence(enum diff_change c)
{
	switch (c) {
	case DIFF_RENAMED:
		return 3;
	case DIFF_ADDED:
		return 2;
	case DIFF_DELETED:
		return 1;
	default:
		return 0;
	}
}

static uint32_t str_hash(const char *s)
{
	return key_hash(0, s, strlen(s));
}

/* In order; a path seen before keeps its position and takes the higher change. */
static int dedup(struct diffcalc *dc, struct raw_list *l)
{
	size_t cap = 16, n = 0;
	size_t *slots;

	while (cap < l->n * 2)
		cap *= 2;
	slots = malloc(sizeof(*slots) * cap);
	dc->entries = malloc(sizeof(*dc->entries) * (l->n ? l->n : 1));
	if (!slots || !dc->entries) {
		free(slots);
		free(dc->entries);
		dc->entries = NULL;
		return -1;
	}
	for (size_t i = 0; i < cap; i++)
		slots[i] = SIZE_MAX;
	for (size_t i = 0; i < l->n; i++) {
		struct diff_entry *e = &l->v[i].e;
		size_t s = str_hash(e->path) & (cap - 1);

		while (slots[s] != SIZE_MAX && strcmp(dc->entries[slots[s]].path, e->path) != 0)
			s = (s + 1) & (cap - 1);
		if (slots[s] == SIZE_MAX) {
			slots[s] = n;
			dc->entries[n++] = *e;
		} else {
			struct diff_entry *have = &dc->entries[slots[s]];

			if (precedence(e->change) > precedence(have->change)) {
				free(have->old_path);
				have->change = e->change;
				have->kind = e->kind;
				have->old_path = e->old_path;
				e->old_path = NULL;
			}
			free(e->path);
			free(e->old_path);
		}
		e->path = e->old_path = NULL;
	}
	dc->nentries = n;
	free(slots);
	return 0;
}

int diffcalc_finish(struct diffcalc *dc, char *err, size_t errsz)
{
	struct raw_list l = { NULL, 0, 0 };

	if (dc->finished)
		return 0;
	if (sendstream_finish(dc->ss, err, errsz) < 0) {
		dc->failed = true;
		return -1;
	}
	if (dc->failed) {
		/* Only an allocation failure of an earlier finish gets here. */
		snprintf(err, errsz, "send stream: out of memory building the diff");
		return -1;
	}
	if (pair_links(dc) < 0 || collect(dc, &l) < 0)
		goto nomem;
	/* Orders are unique (one counter), so the unstable qsort is deterministic. */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), raw_cmp);
	if (dedup(dc, &l) < 0)
		goto nomem;
	free(l.v);
	dc->finished = true;
	return 0;
nomem:
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i].e.path);
		free(l.v[i].e.old_path);
	}
	free(l.v);
	dc->failed = true;
	snprintf(err, errsz, "send stream: out of memory building the diff");
	return -1;
}

size_t diffcalc_count(const struct diffcalc *dc)
{
	return dc->finished ? dc->nentries : 0;
}

const struct diff_entry *diffcalc_entry(const struct diffcalc *dc, size_t i)
{
	return dc->finished && i < dc->nentries ? &dc->entries[i] : NULL;
}

const char *diff_change_name(enum diff_change c)
{
	switch (c) {
	case DIFF_ADDED:
		return "added";
	case DIFF_DELETED:
		return "deleted";
	case DIFF_MODIFIED:
		return "modified";
	case DIFF_RENAMED:
		return "renamed";
	}
	return "unknown";
}

const char *diff_kind_name(enum diff_kind k)
{
	switch (k) {
	case DIFF_KIND_FILE:
		return "file";
	case DIFF_KIND_DIRECTORY:
		return "directory";
	case DIFF_KIND_SYMLINK:
		return "symlink";
	case DIFF_KIND_HARDLINK:
		return "hardlink";
	case DIFF_KIND_OTHER:
		return "other";
	}
	return "unknown";
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (strict: no overlongs/surrogates), 0 if none. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
			       (s[3] & 0xc0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

/* A copy with each byte that is not part of valid UTF-8 replaced by U+FFFD. */
static char *utf8_clean(const char *in)
{
	size_t len = strlen(in), o = 0;
	char *out = malloc(len * 3 + 1);
	const unsigned char *s = (const unsigned char *)in;

	if (!out)
		return NULL;
	while (*s) {
		size_t n = utf8_seq(s); /* never reads past the NUL: it fails the checks */

		if (n) {
			memcpy(out + o, s, n);
			o += n;
			s += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
		}
	}
	out[o] = '\0';
	return out;
}

static int add_clean_string(cJSON *obj, const char *key, const char *val)
{
	char *clean = utf8_clean(val);
	cJSON *s;

	if (!clean)
		return -1;
	s = cJSON_AddStringToObject(obj, key, clean);
	free(clean);
	return s ? 0 : -1;
}

static int entry_json(cJSON *arr, const struct diff_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -1;
	if (!cJSON_AddItemToArray(arr, o))
		goto fail;
	if (!cJSON_AddStringToObject(o, "change", diff_change_name(e->change)) ||
	    add_clean_string(o, "path", e->path) < 0 ||
	    (e->old_path && add_clean_string(o, "old_path", e->old_path) < 0) ||
	    !cJSON_AddStringToObject(o, "kind", diff_kind_name(e->kind)))
		return -1;
	return 0;
fail:
	cJSON_Delete(o);
	return -1;
}

char *diffcalc_to_json(const struct diffcalc *dc)
{
	cJSON *arr = cJSON_CreateArray();
	char *out = NULL;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < diffcalc_count(dc); i++) {
		if (entry_json(arr, &dc->entries[i]) < 0)
			goto done;
	}
	out = cJSON_PrintUnformatted(arr);
done:
	cJSON_Delete(arr);
	return out;
}
