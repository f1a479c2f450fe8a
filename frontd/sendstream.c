/*
 * btrfs send stream parser. Everything that arrives is untrusted: each length is
 * checked against what is buffered before it is used, every command's crc is
 * verified, and memory is one command buffer (SS_CMD_MAX) whatever the stream size.
 */
#include "frontd/sendstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ss_state {
	SS_ST_HEADER, /* collecting the 17-byte stream header */
	SS_ST_CMD,    /* collecting a command header, then its payload */
	SS_ST_DONE,   /* END seen: nothing may follow */
	SS_ST_ERROR,  /* sticky */
};

struct sendstream {
	ss_cmd_fn fn;
	void *arg;
	enum ss_state state;
	uint32_t version;
	uint64_t ncmds;
	size_t have; /* bytes of the current unit (header or command) in buf */
	size_t need; /* bytes the current unit has in all (known once its header is in) */
	bool hdr_done; /* the current command's header was checked; its payload is coming */
	char errmsg[256];
	/* The command being delivered; only the attributes in set[] are cleared after it
	 * (clearing all of it per command costs more than parsing it). */
	struct ss_cmd cmd;
	uint8_t set[SS_A_MAX + 1];
	unsigned nset;
	uint8_t buf[SS_CMD_MAX];
};

/* ---- crc32c ---------------------------------------------------------------- */

/*
 * Slicing-by-8: every byte of the stream goes through here, and the bytewise loop
 * was the largest cost of a 100k-file diff. crc_table[0] is the classic bytewise
 * table of the reflected Castagnoli polynomial; crc_table[k] advances k more bytes.
 */
static uint32_t crc_table[8][256];
/* frontd is single-threaded, and its seccomp filter has no futex (pthread_once uses it). */
static bool crc_ready;

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = crc_table[t - 1][i];

			crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
	}
}

uint32_t ss_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_ready) {
		crc_table_init();
		crc_ready = true;
	}
	while (len >= 8) {
		/* Byte-wise assembly keeps it endian-neutral; compilers make it one load. */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* ---- little-endian access ----------------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- names, for messages -------------------------------------------------------- */

static const char *const cmd_names[] = {
	[SS_C_UNSPEC] = "unspec",	  [SS_C_SUBVOL] = "subvol",
	[SS_C_SNAPSHOT] = "snapshot",	  [SS_C_MKFILE] = "mkfile",
	[SS_C_MKDIR] = "mkdir",		  [SS_C_MKNOD] = "mknod",
	[SS_C_MKFIFO] = "mkfifo",	  [SS_C_MKSOCK] = "mksock",
	[SS_C_SYMLINK] = "symlink",	  [SS_C_RENAME] = "rename",
	[SS_C_LINK] = "link",		  [SS_C_UNLINK] = "unlink",
	[SS_C_RMDIR] = "rmdir",		  [SS_C_SET_XATTR] = "set_xattr",
	[SS_C_REMOVE_XATTR] = "remove_xattr", [SS_C_WRITE] = "write",
	[SS_C_CLONE] = "clone",		  [SS_C_TRUNCATE] = "truncate",
	[SS_C_CHMOD] = "chmod",		  [SS_C_CHOWN] = "chown",
	[SS_C_UTIMES] = "utimes",	  [SS_C_END] = "end",
	[SS_C_UPDATE_EXTENT] = "update_extent", [SS_C_FALLOCATE] = "fallocate",
	[SS_C_FILEATTR] = "fileattr",	  [SS_C_ENCODED_WRITE] = "encoded_write",
	[SS_C_ENABLE_VERITY] = "enable_verity",
};

static const char *const attr_names[] = {
	[SS_A_UNSPEC] = "unspec",
	[SS_A_UUID] = "uuid",
	[SS_A_CTRANSID] = "ctransid",
	[SS_A_INO] = "ino",
	[SS_A_SIZE] = "size",
	[SS_A_MODE] = "mode",
	[SS_A_UID] = "uid",
	[SS_A_GID] = "gid",
	[SS_A_RDEV] = "rdev",
	[SS_A_CTIME] = "ctime",
	[SS_A_MTIME] = "mtime",
	[SS_A_ATIME] = "atime",
	[SS_A_OTIME] = "otime",
	[SS_A_XATTR_NAME] = "xattr_name",
	[SS_A_XATTR_DATA] = "xattr_data",
	[SS_A_PATH] = "path",
	[SS_A_PATH_TO] = "path_to",
	[SS_A_PATH_LINK] = "path_link",
	[SS_A_FILE_OFFSET] = "file_offset",
	[SS_A_DATA] = "data",
	[SS_A_CLONE_UUID] = "clone_uuid",
	[SS_A_CLONE_CTRANSID] = "clone_ctransid",
	[SS_A_CLONE_PATH] = "clone_path",
	[SS_A_CLONE_OFFSET] = "clone_offset",
	[SS_A_CLONE_LEN] = "clone_len",
	[SS_A_FALLOCATE_MODE] = "fallocate_mode",
	[SS_A_FILEATTR] = "fileattr",
	[SS_A_UNENCODED_FILE_LEN] = "unencoded_file_len",
	[SS_A_UNENCODED_LEN] = "unencoded_len",
	[SS_A_UNENCODED_OFFSET] = "unencoded_offset",
	[SS_A_COMPRESSION] = "compression",
	[SS_A_ENCRYPTION] = "encryption",
	[SS_A_VERITY_ALGORITHM] = "verity_algorithm",
	[SS_A_VERITY_BLOCK_SIZE] = "verity_block_size",
	[SS_A_VERITY_SALT_DATA] = "verity_salt_data",
	[SS_A_VERITY_SIG_DATA] = "verity_sig_data",
};

const char *ss_cmd_name(uint16_t type)
{
	if (type < sizeof(cmd_names) / sizeof(cmd_names[0]) && cmd_names[type])
		return cmd_names[type];
	return "unknown";
}

const char *ss_attr_name(int type)
{
	if (type >= 0 && type <= SS_A_MAX && attr_names[type])
		return attr_names[type];
	return "unknown";
}

/* ---- errors ----------------------------------------------------------------------- */

/* Record the first error; later calls report the same one. */
static int fail(struct sendstream *ss, char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct sendstream *ss, char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ss->errmsg, sizeof(ss->errmsg), fmt, ap);
	va_end(ap);
	ss->state = SS_ST_ERROR;
	if (err && errsz)
		snprintf(err, errsz, "%s", ss->errmsg);
	return -1;
}

/* ---- lifecycle -------------------------------------------------------------------- */

struct sendstream *sendstream_new(ss_cmd_fn fn, void *arg)
{
	struct sendstream *ss = malloc(sizeof(*ss));

	if (!ss)
		return NULL;
	/* buf needs no clearing; the command and its attribute table do. */
	memset(&ss->cmd, 0, sizeof(ss->cmd));
	ss->nset = 0;
	ss->fn = fn;
	ss->arg = arg;
	ss->state = SS_ST_HEADER;
	ss->version = 0;
	ss->ncmds = 0;
	ss->have = 0;
	ss->need = SS_STREAM_HDR_LEN;
	ss->hdr_done = false;
	ss->errmsg[0] = '\0';
	return ss;
}

void sendstream_free(struct sendstream *ss)
{
	free(ss);
}

/* ---- parsing ------------------------------------------------------------------------ */

static int parse_stream_header(struct sendstream *ss, char *err, size_t errsz)
{
	uint32_t v;

	if (memcmp(ss->buf, SS_MAGIC, SS_MAGIC_LEN) != 0)
		return fail(ss, err, errsz, "send stream: bad magic (not a btrfs send stream)");
	v = le32(ss->buf + SS_MAGIC_LEN);
	if (v < 1 || v > SS_VERSION_MAX)
		return fail(ss, err, errsz, "send stream: unsupported version %u", v);
	ss->version = v;
	ss->state = SS_ST_CMD;
	ss->have = 0;
	ss->need = SS_CMD_HDR_LEN;
	return 0;
}

static uint16_t max_cmd_for_version(uint32_t version)
{
	if (version == 1)
		return SS_C_MAX_V1;
	if (version == 2)
		return SS_C_MAX_V2;
	return SS_C_MAX_V3;
}

/* The command header is in: learn how much payload follows, refuse what cannot be ours. */
static int parse_cmd_header(struct sendstream *ss, char *err, size_t errsz)
{
	uint32_t len = le32(ss->buf);
	uint16_t cmd = le16(ss->buf + 4);

	if (len > SS_CMD_MAX - SS_CMD_HDR_LEN)
		return fail(ss, err, errsz,
			    "send stream: command %llu: length %u exceeds the %u-byte limit",
			    (unsigned long long)ss->ncmds, len, SS_CMD_MAX - SS_CMD_HDR_LEN);
	if (cmd == SS_C_UNSPEC || cmd > max_cmd_for_version(ss->version))
		return fail(ss, err, errsz,
			    "send stream: command %llu: unknown command %u for version %u",
			    (unsigned long long)ss->ncmds, cmd, ss->version);
	ss->need = SS_CMD_HDR_LEN + len;
	ss->hdr_done = true;
	return 0;
}

/* One TLV at payload[*pos]; advances *pos. */
static int parse_tlv(struct sendstream *ss, struct ss_cmd *c, const uint8_t *payload,
		     size_t plen, size_t *pos, char *err, size_t errsz)
{
	size_t left = plen - *pos;
	uint16_t type;
	size_t vlen, hlen = SS_TLV_HDR_LEN;

	if (left < 2)
		return fail(ss, err, errsz, "send stream: command %llu: truncated attribute",
			    (unsigned long long)ss->ncmds);
	type = le16(payload + *pos);
	if (type == SS_A_DATA && ss->version >= 2) {
		/* v2+: the data attribute has no length; it runs to the end. */
		hlen = 2;
		vlen = left - 2;
	} else {
		if (left < SS_TLV_HDR_LEN)
			return fail(ss, err, errsz,
				    "send stream: command %llu: truncated attribute header",
				    (unsigned long long)ss->ncmds);
		vlen = le16(payload + *pos + 2);
		if (vlen > left - SS_TLV_HDR_LEN)
			return fail(ss, err, errsz,
				    "send stream: command %llu: attribute %s overruns the command",
				    (unsigned long long)ss->ncmds, ss_attr_name(type));
	}
	if (type == SS_A_UNSPEC)
		return fail(ss, err, errsz, "send stream: command %llu: attribute type 0",
			    (unsigned long long)ss->ncmds);
	/* Types newer than this parser are skipped by their length, like btrfs receive. */
	if (type <= SS_A_MAX) {
		if (c->attr[type].present)
			return fail(ss, err, errsz,
				    "send stream: command %llu: duplicate attribute %s",
				    (unsigned long long)ss->ncmds, ss_attr_name(type));
		c->attr[type].present = true;
		c->attr[type].val = payload + *pos + hlen;
		c->attr[type].len = (uint32_t)vlen;
		ss->set[ss->nset++] = (uint8_t)type; /* at most once per type: fits */
	}
	*pos += hlen + vlen;
	return 0;
}

/* Forget the previous command's attributes. */
static void cmd_reset(struct sendstream *ss)
{
	for (unsigned i = 0; i < ss->nset; i++)
		memset(&ss->cmd.attr[ss->set[i]], 0, sizeof(ss->cmd.attr[0]));
	ss->nset = 0;
}

/* A whole command is in buf: check it and hand it over. */
static int process_cmd(struct sendstream *ss, char *err, size_t errsz)
{
	struct ss_cmd *c = &ss->cmd;
	const uint8_t *payload = ss->buf + SS_CMD_HDR_LEN;
	size_t plen = ss->need - SS_CMD_HDR_LEN, pos = 0;
	uint32_t crc = le32(ss->buf + 6);
	int rc = 0;

	/* The crc covers the header with its crc field zeroed. */
	memset(ss->buf + 6, 0, 4);
	if (ss_crc32c(0, ss->buf, ss->need) != crc)
		return fail(ss, err, errsz, "send stream: command %llu (%s): crc mismatch",
			    (unsigned long long)ss->ncmds, ss_cmd_name(le16(ss->buf + 4)));
	cmd_reset(ss);
	c->type = le16(ss->buf + 4);
	c->version = ss->version;
	c->index = ss->ncmds;
	while (pos < plen) {
		if (parse_tlv(ss, c, payload, plen, &pos, err, errsz) < 0)
			return -1;
	}
	ss->ncmds++;
	ss->have = 0;
	ss->need = SS_CMD_HDR_LEN;
	ss->hdr_done = false;
	if (c->type == SS_C_END)
		ss->state = SS_ST_DONE;
	if (ss->fn)
		rc = ss->fn(ss->arg, c, ss->errmsg, sizeof(ss->errmsg));
	if (rc < 0) {
		ss->state = SS_ST_ERROR;
		if (err && errsz)
			snprintf(err, errsz, "%s", ss->errmsg);
		return -1;
	}
	return 0;
}

/* buf holds `need` bytes of the current unit: act on it. */
static int unit_complete(struct sendstream *ss, char *err, size_t errsz)
{
	if (ss->state == SS_ST_HEADER)
		return parse_stream_header(ss, err, errsz);
	if (!ss->hdr_done) {
		if (parse_cmd_header(ss, err, errsz) < 0)
			return -1;
		if (ss->need > ss->have)
			return 0; /* payload follows */
	}
	return process_cmd(ss, err, errsz);
}

int sendstream_feed(struct sendstream *ss, const void *buf, size_t len, char *err,
		    size_t errsz)
{
	const uint8_t *p = buf;

	if (ss->state == SS_ST_ERROR) {
		if (err && errsz)
			snprintf(err, errsz, "%s", ss->errmsg);
		return -1;
	}
	while (len > 0) {
		size_t n;

		if (ss->state == SS_ST_DONE)
			return fail(ss, err, errsz, "send stream: data after the end command");
		/* need <= sizeof(buf) always: parse_cmd_header bounded it. */
		n = ss->need - ss->have;
		if (n > len)
			n = len;
		memcpy(ss->buf + ss->have, p, n);
		ss->have += n;
		p += n;
		len -= n;
		if (ss->have == ss->need && unit_complete(ss, err, errsz) < 0)
			return -1;
	}
	return 0;
}

int sendstream_finish(struct sendstream *ss, char *err, size_t errsz)
{
	switch (ss->state) {
	case SS_ST_ERROR:
		if (err && errsz)
			snprintf(err, errsz, "%s", ss->errmsg);
		return -1;
	case SS_ST_DONE:
		return 0;
	case SS_ST_HEADER:
		return fail(ss, err, errsz, ss->have ? "send stream: truncated stream header"
						     : "send stream: empty stream");
	case SS_ST_CMD:
		if (ss->have)
			return fail(ss, err, errsz, "send stream: truncated in command %llu",
				    (unsigned long long)ss->ncmds);
		return fail(ss, err, errsz, "send stream: truncated (no end command after %llu commands)",
			    (unsigned long long)ss->ncmds);
	}
	return fail(ss, err, errsz, "send stream: bad parser state");
}

/* ---- attribute helpers ----------------------------------------------------------------- */

static const struct ss_attr *need_attr(const struct ss_cmd *cmd, int type, char *err,
				       size_t errsz)
{
	if (type <= 0 || type > SS_A_MAX || !cmd->attr[type].present) {
		snprintf(err, errsz, "send stream: command %llu (%s): missing attribute %s",
			 (unsigned long long)cmd->index, ss_cmd_name(cmd->type), ss_attr_name(type));
		return NULL;
	}
	return &cmd->attr[type];
}

int ss_attr_u64(const struct ss_cmd *cmd, int type, uint64_t *out, char *err, size_t errsz)
{
	const struct ss_attr *a = need_attr(cmd, type, err, errsz);

	if (!a)
		return -1;
	if (a->len != 8) {
		snprintf(err, errsz, "send stream: command %llu (%s): attribute %s is %u bytes, not 8",
			 (unsigned long long)cmd->index, ss_cmd_name(cmd->type), ss_attr_name(type),
			 a->len);
		return -1;
	}
	*out = le64(a->val);
	return 0;
}

int ss_attr_str(const struct ss_cmd *cmd, int type, char *out, size_t outsz, char *err,
		size_t errsz)
{
	const struct ss_attr *a = need_attr(cmd, type, err, errsz);

	if (!a)
		return -1;
	if (a->len >= outsz) {
		snprintf(err, errsz, "send stream: command %llu (%s): attribute %s too long (%u bytes)",
			 (unsigned long long)cmd->index, ss_cmd_name(cmd->type), ss_attr_name(type),
			 a->len);
		return -1;
	}
	if (memchr(a->val, '\0', a->len)) {
		snprintf(err, errsz, "send stream: command %llu (%s): attribute %s contains NUL",
			 (unsigned long long)cmd->index, ss_cmd_name(cmd->type), ss_attr_name(type));
		return -1;
	}
	memcpy(out, a->val, a->len);
	out[a->len] = '\0';
	return 0;
}
