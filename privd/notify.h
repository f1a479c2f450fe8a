/* systemd readiness notification (sd_notify protocol), without libsystemd. */
#ifndef WSCKPT_NOTIFY_H
#define WSCKPT_NOTIFY_H

/* Connect to $NOTIFY_SOCKET if set (before any sandboxing); a no-op otherwise. */
void notify_init(void);
/* Send one state string ("READY=1", "STOPPING=1", ...); errors only logged. */
void notify_send(const char *state);

#endif
