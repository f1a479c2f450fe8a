/*
 * Named crash points for the crash-safety tests. Compiled in only for test builds
 * (-DWSCKPT_TEST_HOOKS, build/test/); release builds contain no trace of them.
 * With WSCKPT_CRASH_AT=<name> in the environment the process _exit()s at that point,
 * as abruptly as kill -9: no cleanup, lockfile left behind; <name>#K exits the K-th
 * time the process reaches it.
 */
#ifndef WSCKPT_CRASHPOINT_H
#define WSCKPT_CRASHPOINT_H

#ifdef WSCKPT_TEST_HOOKS
void crash_point(const char *name);
#else
#define crash_point(name) ((void)0)
#endif

#endif
