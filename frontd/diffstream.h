/* Reading a btrfs send stream from privd's pipe into a change list, without blocking. */
#ifndef WSCKPT_DIFFSTREAM_H
#define WSCKPT_DIFFSTREAM_H

/* Called once: result is the JSON result object text (malloc'd, caller frees), or NULL
 * with err set when the stream could not be read or parsed. */
typedef void (*diffstream_done_fn)(void *arg, char *result, const char *err);

struct diffstream;

/* Takes ownership of fd. NULL on allocation failure (fd closed). */
struct diffstream *diffstream_start(int fd, diffstream_done_fn done, void *arg);
/* Stop reading (closing the pipe makes the sender fail with EPIPE) and free. */
void diffstream_free(struct diffstream *ds);

#endif
