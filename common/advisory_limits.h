/* The storage advisory's thresholds: privd's health check and reply advisory and the
 * CLI's warning must agree on them. */
#ifndef WSCKPT_COMMON_ADVISORY_LIMITS_H
#define WSCKPT_COMMON_ADVISORY_LIMITS_H

/* A workspace holding more snapshots than this is worth a warning (no hard limit). */
#define ADVISORY_SNAPSHOT_LIMIT 1000
/* A backend fuller than this (percent, as df counts it) is worth a warning. */
#define ADVISORY_USAGE_PERCENT 90.0

#endif
