/*
 * The owner reads their snapshots through an ACL rather than ownership: an owner-owned
 * directory would let the owner rename snapshot subvolumes behind the index's back.
 * The ACL is written as the kernel's system.posix_acl_access xattr (no libacl needed).
 */
#include "privd/bucket.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "privd/fsutil.h"

#define ACL_XATTR_VERSION 2
#define ACL_UNDEFINED_ID 0xffffffffu

enum { TAG_USER_OBJ = 0x01, TAG_USER = 0x02, TAG_GROUP_OBJ = 0x04, TAG_MASK = 0x10, TAG_OTHER = 0x20 };

struct acl_entry_le {
	uint16_t tag, perm;
	uint32_t id;
} __attribute__((packed));

static struct acl_entry_le ent(uint16_t tag, uint16_t perm, uint32_t id)
{
	struct acl_entry_le e = { htole16(tag), htole16(perm), htole32(id) };
	return e;
}

static int set_owner_read_acl(int fd, uid_t owner)
{
	struct {
		uint32_t version;
		struct acl_entry_le e[5];
	} __attribute__((packed)) acl;

	/* Entries sorted by tag, as the kernel requires; mask r-x matches mode 0750. */
	acl.version = htole32(ACL_XATTR_VERSION);
	acl.e[0] = ent(TAG_USER_OBJ, 7, ACL_UNDEFINED_ID);
	acl.e[1] = ent(TAG_USER, 5, (uint32_t)owner);
	acl.e[2] = ent(TAG_GROUP_OBJ, 0, ACL_UNDEFINED_ID);
	acl.e[3] = ent(TAG_MASK, 5, ACL_UNDEFINED_ID);
	acl.e[4] = ent(TAG_OTHER, 0, ACL_UNDEFINED_ID);
	return fsetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0 ? -errno : 0;
}

int bucket_open(struct privd *pd, struct workspace *w)
{
	int fd;

	/* Owner, mode and ACL were set by an earlier call of this run: each change would
	 * dirty the bucket's inode and lengthen the commit every checkpoint waits for. */
	if (w->bucket_ready) {
		fd = open_beneath(pd->snapshots_fd, w->ws_id, O_RDONLY | O_DIRECTORY);
		if (fd >= 0 || fd != -ENOENT)
			return fd;
		w->bucket_ready = false;
	}
	fd = ensure_dir_at(pd->snapshots_fd, w->ws_id, 0750, 0, 0);
	if (fd < 0)
		return fd;
	/* Root-owned workspaces need no extra entry. */
	if (w->owner_uid != 0) {
		int rc = set_owner_read_acl(fd, w->owner_uid);

		if (rc < 0 && rc != -EOPNOTSUPP) {
			close(fd);
			return rc;
		}
	}
	w->bucket_ready = true;
	return fd;
}
