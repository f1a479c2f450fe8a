/*
 * Pretty JSON printer. cJSON_Print indents with tabs; the Rust ws-ckpt (and scripts
 * comparing against it) use serde_json's two-space style, so we print it ourselves.
 */
#include "cli/jsonout.h"

#include <math.h>
#include <stdlib.h>

static void put_indent(FILE *f, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", f);
}

/*
 * Characters other than the mandatory escapes. DEL, C1 controls and bidi overrides are
 * valid raw in JSON but can drive a terminal, so they are written as \\u escapes
 * (same value for any JSON reader). Returns the extra bytes consumed after *p.
 */
static size_t put_other(FILE *f, const unsigned char *p)
{
	if (p[0] < 0x20 || p[0] == 0x7f) {
		fprintf(f, "\\u%04x", p[0]);
		return 0;
	}
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
		fprintf(f, "\\u%04x", p[1]);
		return 1;
	}
	if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
			     (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
		fprintf(f, "\\u%04x", 0x2000u | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu));
		return 2;
	}
	fputc(p[0], f);
	return 0;
}

static void put_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			p += put_other(f, p);
		}
	}
	fputc('"', f);
}

static void put_number(FILE *f, double d)
{
	char buf[32];

	if (!isfinite(d)) {
		fputs("null", f);
		return;
	}
	if (d < 9007199254740992.0 && d > -9007199254740992.0 &&
	    (double)(long long)d == d) {
		fprintf(f, "%lld", (long long)d);
		return;
	}
	/* Shortest of 15 or 17 significant digits that reads back exactly. */
	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof(buf), "%.17g", d);
	fputs(buf, f);
}

static void put_value(FILE *f, const cJSON *it, int depth);

static void put_container(FILE *f, const cJSON *it, int depth, char open, char close)
{
	const cJSON *child = it->child;

	fputc(open, f);
	if (!child) {
		fputc(close, f);
		return;
	}
	fputc('\n', f);
	for (; child; child = child->next) {
		put_indent(f, depth + 1);
		if (open == '{') {
			put_string(f, child->string ? child->string : "");
			fputs(": ", f);
		}
		put_value(f, child, depth + 1);
		if (child->next)
			fputc(',', f);
		fputc('\n', f);
	}
	put_indent(f, depth);
	fputc(close, f);
}

static void put_value(FILE *f, const cJSON *it, int depth)
{
	if (cJSON_IsObject(it))
		put_container(f, it, depth, '{', '}');
	else if (cJSON_IsArray(it))
		put_container(f, it, depth, '[', ']');
	else if (cJSON_IsString(it))
		put_string(f, it->valuestring);
	else if (cJSON_IsNumber(it))
		put_number(f, it->valuedouble);
	else if (cJSON_IsTrue(it))
		fputs("true", f);
	else if (cJSON_IsFalse(it))
		fputs("false", f);
	else
		fputs("null", f);
}

void json_print_pretty(FILE *f, const cJSON *item)
{
	put_value(f, item, 0);
	fputc('\n', f);
}
