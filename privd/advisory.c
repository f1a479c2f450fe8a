/*
 * Computed when the answer is sent, so it sees what the request itself changed (the
 * checkpoint that crossed the limit). Costs one fstatvfs and a walk of the registry; the
 * CLI used to pay a whole second request for the same numbers.
 */
#include "privd/advisory.h"

#include "privd/fsutil.h"
#include "privd/peer.h"
#include "privd/registry.h"

void advisory_fill(const struct privd *pd, uint32_t session, struct ps_reply_end *e)
{
	const struct peer *p = peer_get(session);
	uint32_t over = 0;

	if (!p)
		return;
	for (size_t i = 0; i < pd->reg.n; i++) {
		const struct workspace *w = pd->reg.ws[i];

		if (w->nsnaps > ADVISORY_SNAPSHOT_LIMIT && peer_may_access(pd, p, w->owner_uid))
			over++;
	}
	e->has_advisory = 1;
	e->adv_over_limit = over;
	e->adv_snapshot_limit = ADVISORY_SNAPSHOT_LIMIT;
	(void)fs_usage(pd->data_root_fd, &e->adv_fs_total_bytes, &e->adv_fs_used_bytes);
}
