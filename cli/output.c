/* Colour and sanitised text for everything the CLI prints. */
#include "cli/output.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const style_on[] = {
	[OUT_PLAIN] = "",
	[OUT_GREEN] = "\x1b[32m",
	[OUT_YELLOW] = "\x1b[33m",
	[OUT_RED] = "\x1b[31m",
	[OUT_BOLD] = "\x1b[1m",
};
#define STYLE_OFF "\x1b[0m"

bool out_colour_enabled(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	int fd = fileno(f);

	if (nc && nc[0] != '\0')
		return false;
	return fd >= 0 && isatty(fd) == 1;
}

/* ---- UTF-8 scanning ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters that must not reach a terminal verbatim. */
static bool cp_is_control(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

static bool cp_is_wide(uint32_t c)
{
	static const uint32_t wide[][2] = {
		{0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},
		{0x3400, 0x4dbf},   {0x4e00, 0x9fff},   {0xa000, 0xa4cf},
		{0xac00, 0xd7a3},   {0xf900, 0xfaff},   {0xfe30, 0xfe4f},
		{0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
		{0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
	};

	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		if (c >= wide[i][0] && c <= wide[i][1])
			return true;
	}
	return false;
}

/*
 * One display unit at s: returns bytes consumed; *rep is the replacement character
 * (0 = keep the bytes) and *cols its width.
 */
static size_t text_unit(const unsigned char *s, char *rep, size_t *cols)
{
	uint32_t cp;
	size_t n = utf8_decode(s, &cp);

	*cols = 1;
	*rep = 0;
	if (n == 0) {
		*rep = '?';
		return 1;
	}
	if (cp_is_control(cp))
		*rep = ' ';
	else if (cp_is_wide(cp))
		*cols = 2;
	return n;
}

void text_put(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		char rep;
		size_t cols, n = text_unit(p, &rep, &cols);

		if (rep)
			fputc(rep, f);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
}

size_t text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	while (*p) {
		char rep;
		size_t cols;

		p += text_unit(p, &rep, &cols);
		w += cols;
	}
	return w;
}

void text_put_padded(FILE *f, const char *s, size_t width)
{
	size_t w = text_width(s);

	text_put(f, s);
	for (; w < width; w++)
		fputc(' ', f);
}

/* ---- lines ---------------------------------------------------------------- */

static void out_vline(FILE *f, enum out_style st, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void out_vline(FILE *f, enum out_style st, const char *fmt, va_list ap)
{
	bool colour = st != OUT_PLAIN && out_colour_enabled(f);
	char small[512], *heap = NULL;
	const char *text = small;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= 0 && (size_t)n >= sizeof(small)) {
		heap = malloc((size_t)n + 1);
		/* Out of memory: the truncated text in small is still worth showing. */
		if (heap && vsnprintf(heap, (size_t)n + 1, fmt, ap2) >= 0)
			text = heap;
	}
	va_end(ap2);
	if (n < 0) {
		free(heap);
		return;
	}
	if (colour)
		fputs(style_on[st], f);
	text_put(f, text);
	if (colour)
		fputs(STYLE_OFF, f);
	fputc('\n', f);
	free(heap);
}

void out_line(FILE *f, enum out_style st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vline(f, st, fmt, ap);
	va_end(ap);
}

/* While muted, the stderr shortcuts print nothing (see out_mute_stderr). */
static bool stderr_muted;

bool out_mute_stderr(bool mute)
{
	bool was = stderr_muted;

	stderr_muted = mute;
	return was;
}

#define OUT_SHORTCUT(name, stream, style)                  \
	void name(const char *fmt, ...)                    \
	{                                                  \
		va_list ap;                                \
		if (stream == stderr && stderr_muted)      \
			return;                            \
		va_start(ap, fmt);                         \
		out_vline(stream, style, fmt, ap);         \
		va_end(ap);                                \
	}

OUT_SHORTCUT(out_ok, stdout, OUT_GREEN)
OUT_SHORTCUT(out_warn, stderr, OUT_YELLOW)
OUT_SHORTCUT(out_hint, stderr, OUT_PLAIN)

static void (*err_hook)(const char *msg);

void out_set_err_hook(void (*hook)(const char *msg))
{
	err_hook = hook;
}

void out_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (stderr_muted)
		return;
	if (err_hook) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		err_hook(msg);
	}
	va_start(ap, fmt);
	out_vline(stderr, OUT_RED, fmt, ap);
	va_end(ap);
}
