/* Chained adds to a cJSON object (see jsonbuild.h). */
#include "cli/jsonbuild.h"

/* item was made for obj: attach it, or free both. */
static cJSON *attach(cJSON *obj, const char *key, cJSON *item)
{
	if (!obj || !item || !cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

cJSON *jo_str(cJSON *obj, const char *key, const char *val)
{
	if (!obj)
		return NULL;
	return attach(obj, key, val ? cJSON_CreateString(val) : cJSON_CreateNull());
}

cJSON *jo_bool(cJSON *obj, const char *key, bool val)
{
	if (!obj)
		return NULL;
	return attach(obj, key, cJSON_CreateBool(val));
}

cJSON *jo_num(cJSON *obj, const char *key, double val)
{
	if (!obj)
		return NULL;
	return attach(obj, key, cJSON_CreateNumber(val));
}

cJSON *jo_dup(cJSON *obj, const char *key, const cJSON *item)
{
	if (!obj)
		return NULL;
	return attach(obj, key, item ? cJSON_Duplicate(item, 1) : cJSON_CreateNull());
}
