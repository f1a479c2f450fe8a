/* Terminal output: colour decisions and safe rendering of untrusted text. */
#ifndef WSCKPT_CLI_OUTPUT_H
#define WSCKPT_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum out_style {
	OUT_PLAIN,
	OUT_GREEN,  /* success: ✓ */
	OUT_YELLOW, /* warning: ⚠ */
	OUT_RED,    /* error: ✗ / Error */
	OUT_BOLD,
};

/* Colour only when f is a terminal and NO_COLOR is unset or empty. */
bool out_colour_enabled(FILE *f);

/*
 * Print one line (the newline is added) in the given style. The formatted text is
 * sanitised (see text_put), so daemon-supplied strings cannot move the cursor or
 * inject escape sequences.
 */
void out_line(FILE *f, enum out_style st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Shortcuts (the caller writes the ✓/⚠/✗ mark): green on stdout, yellow on stderr, red on stderr. */
void out_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Silence out_warn/out_err/out_hint (for background requests whose failure is no news). */
bool out_mute_stderr(bool mute); /* returns the previous setting */
/* Called with each out_err message (formatted, unsanitised) while stderr is not muted. */
void out_set_err_hook(void (*hook)(const char *msg));
/* Plain line on stderr (hints under an error). */
void out_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Write s with C0/C1 control characters, DEL and bidi overrides replaced by a space
 * and bytes that are not valid UTF-8 replaced by '?'.
 */
void text_put(FILE *f, const char *s);
/* Terminal columns text_put(s) occupies (wide East Asian characters count 2). */
size_t text_width(const char *s);
/* text_put, then spaces up to width columns. */
void text_put_padded(FILE *f, const char *s, size_t width);

#endif
