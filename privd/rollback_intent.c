/*
 * A rollback is answered once its exchange is done and this record is durable in the
 * index, not after a btrfs commit of its own: the record lets the next start redo an
 * exchange a power cut undid (privd/rollback_finish.c).
 */
#include "privd/rollback_intent.h"

#include <stdio.h>
#include <string.h>

#include "common/validate.h"
#include "privd/state_store.h"

/* btrfs gives subvolumes ids from 256 (BTRFS_FIRST_FREE_OBJECTID) up. */
#define SUBVOL_ID_MIN 256ULL

cJSON *rollback_intent_json(const struct rollback_intent *rb)
{
	cJSON *j;

	if (!rb->active)
		return cJSON_CreateNull();
	j = cJSON_CreateObject();
	if (j && cJSON_AddStringToObject(j, "target", rb->target) &&
	    cJSON_AddStringToObject(j, "keep_as", rb->keep_as) &&
	    cJSON_AddNumberToObject(j, "tmp_subvol", (double)rb->tmp_subvol) &&
	    cJSON_AddNumberToObject(j, "live_subvol", (double)rb->live_subvol) &&
	    cJSON_AddBoolToObject(j, "head_moved", rb->head_moved))
		return j;
	cJSON_Delete(j);
	return NULL;
}

int rollback_intent_load(struct rollback_intent *rb, const cJSON *j)
{
	const cJSON *target = cJSON_GetObjectItemCaseSensitive(j, "target");
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(j, "keep_as");
	const cJSON *moved = cJSON_GetObjectItemCaseSensitive(j, "head_moved");
	unsigned long long tmp = journal_seq_value(cJSON_GetObjectItemCaseSensitive(j, "tmp_subvol"));
	unsigned long long live = journal_seq_value(cJSON_GetObjectItemCaseSensitive(j, "live_subvol"));

	if (!j || cJSON_IsNull(j)) {
		memset(rb, 0, sizeof(*rb));
		return 0;
	}
	/* The copy of the target is created after the subvolume it replaces: newer id; 0 when
	 * the record was written before the copy existed. */
	if (!cJSON_IsObject(j) || !cJSON_IsString(target) || !snapshot_id_valid(target->valuestring) ||
	    !cJSON_IsString(keep) || (keep->valuestring[0] && !snapshot_id_valid(keep->valuestring)) ||
	    live < SUBVOL_ID_MIN || (tmp != 0 && tmp <= live) || (moved && !cJSON_IsBool(moved)))
		return -1;
	memset(rb, 0, sizeof(*rb));
	rb->active = true;
	snprintf(rb->target, sizeof(rb->target), "%s", target->valuestring);
	snprintf(rb->keep_as, sizeof(rb->keep_as), "%s", keep->valuestring);
	rb->tmp_subvol = tmp;
	rb->live_subvol = live;
	/* Records from before the field were written after the head moved. */
	rb->head_moved = !moved || cJSON_IsTrue(moved);
	return 0;
}
