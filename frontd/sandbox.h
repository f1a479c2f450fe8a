/*
 * frontd's confinement: chroot into the empty directory privd prepared, drop every
 * capability (bounding and ambient sets too), no_new_privs, then a seccomp allow-list
 * that leaves only what serving sockets needs. See SECURITY.md, "Least privilege".
 */
#ifndef WSCKPT_FRONTD_SANDBOX_H
#define WSCKPT_FRONTD_SANDBOX_H

/* Early, while the host's files are still visible: load what libc reads lazily. */
void sandbox_prepare(void);

/*
 * After every descriptor and event is set up, before the first client byte is read.
 * root_fd: the empty directory (closed here). 0, or -1 with a message logged.
 */
int sandbox_enter(int root_fd);

#endif
