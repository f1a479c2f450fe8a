/*
 * Incremental parser of the btrfs send stream (versions 1 to 3), the format privd's
 * BTRFS_IOC_SEND writes into the diff pipe. frontd parses it unprivileged.
 *
 * Layout (all integers little-endian, see the kernel's fs/btrfs/send.h):
 *   stream header:  "btrfs-stream\0" (13 bytes), le32 version
 *   command:        le32 len (payload bytes), le16 cmd, le32 crc32c, then len bytes of TLVs
 *   TLV:            le16 type, le16 len, len bytes of value
 *                   (v2+: BTRFS_SEND_A_DATA has no len; its value is the rest of the command)
 * The crc is crc32c (Castagnoli, seed 0, no final inversion, as the kernel computes it)
 * over the command header with the crc field zeroed, followed by the payload.
 *
 * Bytes are fed in arbitrary chunks as they come from a pipe. The parser keeps one
 * command at most (SS_CMD_MAX bytes): with NO_FILE_DATA no command is larger (v1's
 * send buffer is 64 KiB including the header), so anything larger is refused rather
 * than buffered. Each complete, crc-checked command is handed to a callback.
 */
#ifndef WSCKPT_FRONTD_SENDSTREAM_H
#define WSCKPT_FRONTD_SENDSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_MAGIC "btrfs-stream" /* followed by its NUL in the stream */
#define SS_MAGIC_LEN 13		/* including the NUL */
#define SS_STREAM_HDR_LEN 17	/* magic + le32 version */
#define SS_CMD_HDR_LEN 10	/* le32 len, le16 cmd, le32 crc */
#define SS_TLV_HDR_LEN 4
#define SS_CMD_MAX (64u * 1024u) /* a whole command, header included */
#define SS_VERSION_MAX 3

/* Command numbers (enum btrfs_send_cmd). */
enum ss_cmd_type {
	SS_C_UNSPEC = 0,
	SS_C_SUBVOL = 1,
	SS_C_SNAPSHOT = 2,
	SS_C_MKFILE = 3,
	SS_C_MKDIR = 4,
	SS_C_MKNOD = 5,
	SS_C_MKFIFO = 6,
	SS_C_MKSOCK = 7,
	SS_C_SYMLINK = 8,
	SS_C_RENAME = 9,
	SS_C_LINK = 10,
	SS_C_UNLINK = 11,
	SS_C_RMDIR = 12,
	SS_C_SET_XATTR = 13,
	SS_C_REMOVE_XATTR = 14,
	SS_C_WRITE = 15,
	SS_C_CLONE = 16,
	SS_C_TRUNCATE = 17,
	SS_C_CHMOD = 18,
	SS_C_CHOWN = 19,
	SS_C_UTIMES = 20,
	SS_C_END = 21,
	SS_C_UPDATE_EXTENT = 22,
	SS_C_MAX_V1 = 22,
	SS_C_FALLOCATE = 23, /* v2 */
	SS_C_FILEATTR = 24,
	SS_C_ENCODED_WRITE = 25,
	SS_C_MAX_V2 = 25,
	SS_C_ENABLE_VERITY = 26, /* v3 */
	SS_C_MAX_V3 = 26,
};

/* Attribute (TLV) types (BTRFS_SEND_A_*). */
enum ss_attr_type {
	SS_A_UNSPEC = 0,
	SS_A_UUID = 1,
	SS_A_CTRANSID = 2,
	SS_A_INO = 3,
	SS_A_SIZE = 4,
	SS_A_MODE = 5,
	SS_A_UID = 6,
	SS_A_GID = 7,
	SS_A_RDEV = 8,
	SS_A_CTIME = 9,
	SS_A_MTIME = 10,
	SS_A_ATIME = 11,
	SS_A_OTIME = 12,
	SS_A_XATTR_NAME = 13,
	SS_A_XATTR_DATA = 14,
	SS_A_PATH = 15,
	SS_A_PATH_TO = 16,
	SS_A_PATH_LINK = 17,
	SS_A_FILE_OFFSET = 18,
	SS_A_DATA = 19,
	SS_A_CLONE_UUID = 20,
	SS_A_CLONE_CTRANSID = 21,
	SS_A_CLONE_PATH = 22,
	SS_A_CLONE_OFFSET = 23,
	SS_A_CLONE_LEN = 24,
	SS_A_FALLOCATE_MODE = 25, /* v2 */
	SS_A_FILEATTR = 26,
	SS_A_UNENCODED_FILE_LEN = 27,
	SS_A_UNENCODED_LEN = 28,
	SS_A_UNENCODED_OFFSET = 29,
	SS_A_COMPRESSION = 30,
	SS_A_ENCRYPTION = 31,
	SS_A_VERITY_ALGORITHM = 32, /* v3 */
	SS_A_VERITY_BLOCK_SIZE = 33,
	SS_A_VERITY_SALT_DATA = 34,
	SS_A_VERITY_SIG_DATA = 35,
	SS_A_MAX = 35,
};

struct ss_attr {
	const uint8_t *val; /* into the parser's buffer: valid during the callback only */
	uint32_t len;
	bool present;
};

struct ss_cmd {
	uint16_t type;	  /* enum ss_cmd_type */
	uint32_t version; /* of the stream */
	uint64_t index;	  /* 0-based position in the stream, for messages */
	struct ss_attr attr[SS_A_MAX + 1];
};

/* Called once per command. Return 0 to go on, -1 (with a message in err) to stop. */
typedef int (*ss_cmd_fn)(void *arg, const struct ss_cmd *cmd, char *err, size_t errsz);

struct sendstream;

struct sendstream *sendstream_new(ss_cmd_fn fn, void *arg);
void sendstream_free(struct sendstream *ss);

/*
 * Feed len bytes. 0: consumed (commands completed by them were delivered). -1: the
 * stream is invalid (message in err); the error is sticky, later calls fail the same.
 */
int sendstream_feed(struct sendstream *ss, const void *buf, size_t len, char *err,
		    size_t errsz);

/* End of input: -1 unless a whole stream up to and including END was seen. */
int sendstream_finish(struct sendstream *ss, char *err, size_t errsz);

/* Helpers for callbacks. Each fails (-1, message in err) when the attribute is absent. */
int ss_attr_u64(const struct ss_cmd *cmd, int type, uint64_t *out, char *err, size_t errsz);
/* Copy a string attribute (no NUL inside) into out[outsz], NUL-terminated. */
int ss_attr_str(const struct ss_cmd *cmd, int type, char *out, size_t outsz, char *err,
		size_t errsz);

const char *ss_cmd_name(uint16_t type);
const char *ss_attr_name(int type);

/* crc32c as the send stream uses it: Castagnoli polynomial, no pre/post inversion. */
uint32_t ss_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
