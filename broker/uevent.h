/* SPDX-License-Identifier: MIT */
/*
 * Which "change" uevents of our card are worth a connector re-probe. The
 * kernel sends HOTPLUG=1 (with CONNECTOR= and PROPERTY= when it knows which)
 * when connectors may have changed, and LEASE=1 alone each time a lease ends
 * or is revoked (drm_sysfs_lease_event): one per client release, which says
 * nothing about connectors. Re-probing every connector on those made each
 * release cost O(connectors) and N clients' cycles O(N x connectors)
 * (bench/scale, docs/performance.md "Scale"). Anything else still re-probes.
 */
#ifndef KG_BROKER_UEVENT_H
#define KG_BROKER_UEVENT_H

#include <stdbool.h>
#include <string.h>

/* hotplug, lease: the event's HOTPLUG and LEASE properties, NULL if absent. */
static inline bool kg_uevent_wants_reprobe(const char *hotplug, const char *lease)
{
	return hotplug || !lease || strcmp(lease, "1") != 0;
}

#endif
