/*
 * Line-based editing: the file is the admin's, so everything we do not change stays
 * byte for byte (comments, blank lines, order). Only lines the strict parser accepts
 * as "key = value" in the right section are candidates for replacement.
 */
#include "common/config_edit.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t ncap = (o->len + n + 1) * 2;
		char *nb = realloc(o->buf, ncap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Section named by a header line, or NULL if the line is not a header. */
static bool header_name(const char *line, size_t len, char *name, size_t namesz)
{
	size_t i = 0, n = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i] != '[')
		return false;
	for (i++; i < len && line[i] != ']'; i++) {
		if (line[i] == ' ' || line[i] == '\t')
			continue;
		if (n + 1 >= namesz)
			return false;
		name[n++] = line[i];
	}
	name[n] = '\0';
	return i < len;
}

/* Is the line "key = ..." (leading blanks allowed)? */
static bool is_key_line(const char *line, size_t len, const char *key)
{
	size_t i = 0, kl = strlen(key);

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < kl || strncmp(line + i, key, kl) != 0)
		return false;
	i += kl;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == '=';
}

/* Keep a trailing "# comment" of the replaced line (outside strings: '"' not counted). */
static const char *trailing_comment(const char *line, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '"' && (i == 0 || line[i - 1] != '\\'))
			in_str = !in_str;
		else if (line[i] == '#' && !in_str)
			return line + i;
	}
	return NULL;
}

static void put_setting(struct out *o, const char *key, const char *value, const char *comment,
			size_t comment_len)
{
	puts_(o, key);
	puts_(o, " = ");
	puts_(o, value);
	if (comment) {
		puts_(o, "  ");
		put(o, comment, comment_len);
	}
	puts_(o, "\n");
}

char *config_edit_set(const char *text, const char *section, const char *key, const char *value)
{
	struct out o = { 0 };
	char cur[128] = "";
	bool done = false, section_seen = section[0] == '\0';
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char name[128];

		if (header_name(p, len, name, sizeof(name))) {
			/* Leaving our section without having found the key: add it here. */
			if (!done && strcmp(cur, section) == 0 && section_seen) {
				put_setting(&o, key, value, NULL, 0);
				done = true;
			}
			snprintf(cur, sizeof(cur), "%s", name);
			if (strcmp(cur, section) == 0)
				section_seen = true;
		} else if (!done && strcmp(cur, section) == 0 && is_key_line(p, len, key)) {
			const char *c = trailing_comment(p, len);
			put_setting(&o, key, value, c, c ? len - (size_t)(c - p) : 0);
			done = true;
			p += len + (nl ? 1 : 0);
			continue;
		}
		put(&o, p, len);
		puts_(&o, "\n");
		p += len + (nl ? 1 : 0);
	}
	if (!done) {
		if (!section_seen) {
			puts_(&o, o.len && o.buf[o.len - 1] == '\n' ? "\n[" : "\n\n[");
			puts_(&o, section);
			puts_(&o, "]\n");
		}
		put_setting(&o, key, value, NULL, 0);
	}
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	if (!o.buf)
		o.buf = calloc(1, 1);
	return o.buf;
}
