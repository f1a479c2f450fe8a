/* A linear pre-scan so cJSON's recursion never sees deeper input than we allow. */
#include "common/jsonlimits.h"

#include <string.h>

bool json_depth_ok(const char *text, size_t len, int max_depth)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

bool json_has_nul_escape(const char *text, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			in_str = text[i] == '"';
			continue;
		}
		if (text[i] == '"') {
			in_str = false;
		} else if (text[i] == '\\') {
			if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0)
				return true;
			i++; /* skip the escaped character */
		}
	}
	return false;
}
