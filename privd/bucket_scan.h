/*
 * One readdir of a workspace's snapshot bucket, sorted by name, so reconcile can tell
 * which recorded snapshots are on disk and which subvolumes are unrecorded in
 * O(n log n) and without a syscall per snapshot (110,000 snapshots must start in < 1 s).
 */
#ifndef WSCKPT_BUCKET_SCAN_H
#define WSCKPT_BUCKET_SCAN_H

#include <stdbool.h>
#include <stddef.h>

struct bucket_entry {
	char *name;
	bool matched; /* a recorded snapshot (or delete intent) has this name */
};

struct bucket_scan {
	struct bucket_entry *e;
	size_t n;
};

/* The directories in the bucket open at fd (fd itself stays open and untouched).
 * 0, or -errno. */
int bucket_scan(int fd, struct bucket_scan *out);
struct bucket_entry *bucket_scan_find(const struct bucket_scan *s, const char *name);
void bucket_scan_free(struct bucket_scan *s);

#endif
