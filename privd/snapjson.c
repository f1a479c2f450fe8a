/* SnapshotEntry: {"id","workspace","meta":{message,metadata,pinned,created_at,missing}}. */
#include "privd/snapjson.h"

#include <cjson/cJSON.h>

struct cJSON *snapshot_entry_json(const struct workspace *w, const struct snapshot *s)
{
	cJSON *e = cJSON_CreateObject();
	cJSON *m;

	if (!e)
		return NULL;
	cJSON_AddStringToObject(e, "id", s->id);
	cJSON_AddStringToObject(e, "workspace", w->path);
	m = cJSON_AddObjectToObject(e, "meta");
	if (s->message)
		cJSON_AddStringToObject(m, "message", s->message);
	else
		cJSON_AddNullToObject(m, "message");
	if (s->metadata)
		cJSON_AddItemToObject(m, "metadata", cJSON_CreateRaw(s->metadata));
	else
		cJSON_AddNullToObject(m, "metadata");
	cJSON_AddBoolToObject(m, "pinned", s->pinned);
	cJSON_AddStringToObject(m, "created_at", s->created_at);
	cJSON_AddBoolToObject(m, "missing", s->missing);
	return e;
}
