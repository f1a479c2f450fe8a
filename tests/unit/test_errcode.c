/* Unit tests for proto/errcode.c: the wire names of the client error codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/errcode.h"

static void test_errcode_roundtrip(void **state)
{
	for (int i = 0; i < WSE__COUNT; i++) {
		const char *name = ws_err_name((enum ws_err)i);
		assert_non_null(name);
		assert_true(strlen(name) > 0);
		assert_int_equal(ws_err_from_name(name), i);
		/* names are unique */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(name, ws_err_name((enum ws_err)j));
	}
}

static void test_errcode_wire_names(void **state)
{
	/* The spellings of the Rust ws-ckpt are part of the protocol. */
	static const struct {
		enum ws_err e;
		const char *name;
	} tab[] = {
		{ WSE_WORKSPACE_NOT_FOUND, "WorkspaceNotFound" },
		{ WSE_SNAPSHOT_NOT_FOUND, "SnapshotNotFound" },
		{ WSE_ALREADY_INITIALIZED, "AlreadyInitialized" },
		{ WSE_SNAPSHOT_EXISTS, "SnapshotAlreadyExists" },
		{ WSE_INVALID_PATH, "InvalidPath" },
		{ WSE_CONFIRMATION_REQUIRED, "ConfirmationRequired" },
		{ WSE_CWD_OCCUPIED, "CwdOccupied" },
		{ WSE_WRITE_LOCK_CONFLICT, "WriteLockConflict" },
		{ WSE_DISK_SPACE, "DiskSpaceInsufficient" },
		{ WSE_BTRFS, "BtrfsError" },
		{ WSE_IO, "IoError" },
		{ WSE_INTERNAL, "InternalError" },
		{ WSE_PERMISSION_DENIED, "PermissionDenied" },
		{ WSE_INVALID_ARGUMENT, "InvalidArgument" },
		{ WSE_BUSY, "Busy" },
		{ WSE_BACKEND_UNAVAILABLE, "BackendUnavailable" },
		{ WSE_QUOTA_EXCEEDED, "QuotaExceeded" },
		{ WSE_PROTOCOL, "ProtocolError" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		assert_string_equal(ws_err_name(tab[i].e), tab[i].name);
}

static void test_errcode_unknown(void **state)
{
	assert_int_equal(ws_err_from_name("NoSuchError"), WSE__COUNT);
	assert_int_equal(ws_err_from_name(""), WSE__COUNT);
	assert_int_equal(ws_err_from_name(NULL), WSE__COUNT);
	assert_int_equal(ws_err_from_name("Ok "), WSE__COUNT);
	assert_int_equal(ws_err_from_name("snapshotnotfound"), WSE__COUNT); /* case matters */
	assert_string_equal(ws_err_name(WSE__COUNT), "InternalError");
	assert_string_equal(ws_err_name((enum ws_err)-1), "InternalError");
	assert_string_equal(ws_err_name((enum ws_err)1000), "InternalError");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errcode_roundtrip),
		cmocka_unit_test(test_errcode_wire_names),
		cmocka_unit_test(test_errcode_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
