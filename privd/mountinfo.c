/* A strict reader of /proc/self/mountinfo (octal escapes decoded). */
#include "privd/mountinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

static void unescape(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

static int parse_line(char *line, const char *path, struct mount_entry *out)
{
	char *save = NULL, *f[10] = { 0 };
	char *tok, *sep;
	unsigned int maj, min;
	int i = 0;

	sep = strstr(line, " - ");
	if (!sep)
		return 0;
	*sep = '\0';
	for (tok = strtok_r(line, " ", &save); tok && i < 10; tok = strtok_r(NULL, " ", &save))
		f[i++] = tok;
	if (i < 6 || !f[4])
		return 0;
	unescape(f[4]);
	if (strcmp(f[4], path) != 0)
		return 0;
	if (sscanf(f[2], "%u:%u", &maj, &min) != 2)
		return 0;
	out->dev = makedev(maj, min);
	out->readonly = strncmp(f[5], "ro", 2) == 0 && (f[5][2] == '\0' || f[5][2] == ',');
	save = NULL;
	tok = strtok_r(sep + 3, " ", &save);
	snprintf(out->fstype, sizeof(out->fstype), "%s", tok ? tok : "");
	tok = strtok_r(NULL, " ", &save);
	snprintf(out->source, sizeof(out->source), "%s", tok ? tok : "");
	unescape(out->source);
	return 1;
}

int mountinfo_lookup(const char *path, struct mount_entry *out)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -1;
	/* Later lines are mounted on top of earlier ones: keep the last match. */
	while (getline(&line, &cap, f) > 0) {
		struct mount_entry e;
		line[strcspn(line, "\n")] = '\0';
		memset(&e, 0, sizeof(e));
		if (parse_line(line, path, &e)) {
			*out = e;
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}

static int parse_base_candidate(char *line, char *mp, size_t sz)
{
	char *save = NULL, *f[10] = { 0 };
	char *sep = strstr(line, " - "), *tok, *fstype, *source;
	int i = 0;

	if (!sep)
		return 0;
	*sep = '\0';
	for (tok = strtok_r(line, " ", &save); tok && i < 10; tok = strtok_r(NULL, " ", &save))
		f[i++] = tok;
	if (i < 6)
		return 0;
	save = NULL;
	fstype = strtok_r(sep + 3, " ", &save);
	source = strtok_r(NULL, " ", &save);
	if (!fstype || !source || strcmp(fstype, "btrfs") != 0)
		return 0;
	if (strncmp(source, "/dev/", 5) != 0 || strncmp(source, "/dev/loop", 9) == 0)
		return 0;
	if (strncmp(f[5], "ro", 2) == 0 && (f[5][2] == '\0' || f[5][2] == ','))
		return 0;
	unescape(f[4]);
	snprintf(mp, sz, "%s", f[4]);
	return 1;
}

int mountinfo_find_btrfs_base(char *mount_point, size_t sz)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -1;
	while (!found && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		found = parse_base_candidate(line, mount_point, sz);
	}
	free(line);
	fclose(f);
	return found;
}
