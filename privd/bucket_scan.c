/* Sorted listing of a snapshot bucket (see bucket_scan.h). */
#include "privd/bucket_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct bucket_entry *)a)->name, ((const struct bucket_entry *)b)->name);
}

static int push(struct bucket_scan *s, size_t *cap, const char *name)
{
	if (s->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct bucket_entry *ne = realloc(s->e, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		s->e = ne;
		*cap = ncap;
	}
	s->e[s->n].name = strdup(name);
	if (!s->e[s->n].name)
		return -ENOMEM;
	s->e[s->n++].matched = false;
	return 0;
}

int bucket_scan(int fd, struct bucket_scan *out)
{
	/* fdopendir takes the fd over and readdir moves its offset: use a fresh one. */
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while (rc == 0) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		/* Only privd creates entries in a bucket (root-owned, owner r-x by ACL), all of
		 * them snapshot subvolumes; a directory entry is taken as one. */
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = push(out, &cap, de->d_name);
	}
	closedir(d);
	if (rc < 0) {
		bucket_scan_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->e, out->n, sizeof(*out->e), cmp_entry);
	return 0;
}

struct bucket_entry *bucket_scan_find(const struct bucket_scan *s, const char *name)
{
	struct bucket_entry key = { .name = (char *)name };

	if (!s->n)
		return NULL;
	return bsearch(&key, s->e, s->n, sizeof(*s->e), cmp_entry);
}

void bucket_scan_free(struct bucket_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	memset(s, 0, sizeof(*s));
}
