/* Name validation shared by the CLI, frontd and privd (each checks independently). */
#include "common/validate.h"

#include <string.h>

static bool id_char_ok(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("._:@+-", c) != NULL;
}

bool snapshot_id_valid(const char *id)
{
	size_t i;

	if (!id || id[0] == '\0' || id[0] == '.' || id[0] == '-')
		return false;
	for (i = 0; id[i]; i++) {
		if (i >= SNAPSHOT_ID_MAX || !id_char_ok((unsigned char)id[i]))
			return false;
	}
	return true;
}

bool ws_id_valid(const char *id)
{
	size_t i;

	if (!id || strncmp(id, "ws-", 3) != 0 || strlen(id) != WS_ID_LEN)
		return false;
	for (i = 3; i < WS_ID_LEN; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

bool path_normalize(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = in;

	if (!in || in[0] != '/' || outsz < 2)
		return false;
	while (*p) {
		const char *start;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != '/') {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return false;
			p++;
		}
		len = (size_t)(p - start);
		if (len == 1 && start[0] == '.')
			continue;
		if (len == 2 && start[0] == '.' && start[1] == '.')
			return false;
		if (o + 1 + len + 1 > outsz)
			return false;
		out[o++] = '/';
		memcpy(out + o, start, len);
		o += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return true;
}

bool path_is_within(const char *path, const char *dir)
{
	size_t dl = strlen(dir);

	if (dl == 1 && dir[0] == '/')
		return path[0] == '/';
	if (strncmp(path, dir, dl) != 0)
		return false;
	return path[dl] == '\0' || path[dl] == '/';
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned int cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}
