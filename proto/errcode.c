/* Error code names: the wire spelling of enum ws_err. */
#include "proto/errcode.h"

#include <string.h>

static const char *const names[WSE__COUNT] = {
	[WSE_OK] = "Ok",
	[WSE_WORKSPACE_NOT_FOUND] = "WorkspaceNotFound",
	[WSE_SNAPSHOT_NOT_FOUND] = "SnapshotNotFound",
	[WSE_ALREADY_INITIALIZED] = "AlreadyInitialized",
	[WSE_SNAPSHOT_EXISTS] = "SnapshotAlreadyExists",
	[WSE_INVALID_PATH] = "InvalidPath",
	[WSE_CONFIRMATION_REQUIRED] = "ConfirmationRequired",
	[WSE_CWD_OCCUPIED] = "CwdOccupied",
	[WSE_WRITE_LOCK_CONFLICT] = "WriteLockConflict",
	[WSE_DISK_SPACE] = "DiskSpaceInsufficient",
	[WSE_BTRFS] = "BtrfsError",
	[WSE_IO] = "IoError",
	[WSE_INTERNAL] = "InternalError",
	[WSE_PERMISSION_DENIED] = "PermissionDenied",
	[WSE_INVALID_ARGUMENT] = "InvalidArgument",
	[WSE_BUSY] = "Busy",
	[WSE_BACKEND_UNAVAILABLE] = "BackendUnavailable",
	[WSE_QUOTA_EXCEEDED] = "QuotaExceeded",
	[WSE_PROTOCOL] = "ProtocolError",
};

const char *ws_err_name(enum ws_err e)
{
	if ((unsigned)e >= WSE__COUNT)
		return "InternalError";
	return names[e];
}

enum ws_err ws_err_from_name(const char *name)
{
	/* Callers pass what a JSON reply held, which may be no string at all. */
	if (!name)
		return WSE__COUNT;
	for (int i = 0; i < WSE__COUNT; i++) {
		if (strcmp(names[i], name) == 0)
			return (enum ws_err)i;
	}
	return WSE__COUNT;
}
