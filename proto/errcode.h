/* Stable error codes of the client protocol (names kept from the Rust ws-ckpt). */
#ifndef WSCKPT_ERRCODE_H
#define WSCKPT_ERRCODE_H

enum ws_err {
	WSE_OK = 0,
	WSE_WORKSPACE_NOT_FOUND,
	WSE_SNAPSHOT_NOT_FOUND,
	WSE_ALREADY_INITIALIZED,
	WSE_SNAPSHOT_EXISTS,
	WSE_INVALID_PATH,
	WSE_CONFIRMATION_REQUIRED,
	WSE_CWD_OCCUPIED,
	WSE_WRITE_LOCK_CONFLICT,
	WSE_DISK_SPACE,
	WSE_BTRFS,
	WSE_IO,
	WSE_INTERNAL,
	WSE_PERMISSION_DENIED,
	WSE_INVALID_ARGUMENT,
	WSE_BUSY,
	WSE_BACKEND_UNAVAILABLE,
	WSE_QUOTA_EXCEEDED,
	WSE_PROTOCOL,
	WSE__COUNT
};

const char *ws_err_name(enum ws_err e);
/* Returns WSE__COUNT when name is unknown. */
enum ws_err ws_err_from_name(const char *name);

#endif
