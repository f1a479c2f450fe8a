/*
 * SnapshotEntry: {"id","workspace","meta":{message,metadata,pinned,created_at,missing}},
 * written as text: a list of every snapshot is the largest reply privd makes.
 */
#include "privd/snapjson.h"

void snapshot_entry_write(struct jsonbuf *b, const struct workspace *w, const struct snapshot *s)
{
	jb_lit(b, "{\"id\":");
	jb_str(b, s->id);
	jb_lit(b, ",\"workspace\":");
	jb_str(b, w->path);
	jb_lit(b, ",\"meta\":{\"message\":");
	jb_str(b, s->message);
	jb_lit(b, ",\"metadata\":");
	/* metadata is cJSON's canonical print of the value the caller gave (dispatch.c) */
	if (s->metadata)
		jb_lit(b, s->metadata);
	else
		jb_lit(b, "null");
	jb_lit(b, ",\"pinned\":");
	jb_bool(b, s->pinned);
	jb_lit(b, ",\"created_at\":");
	jb_str(b, s->created_at);
	jb_lit(b, ",\"missing\":");
	jb_bool(b, s->missing);
	jb_lit(b, "}}");
}
