/* SPDX-License-Identifier: MIT */
/*
 * kg_hotplug: follows connector hotplug through a libudev monitor on the
 * drm subsystem (when built with udev). On each change event of our card it
 * re-probes the connectors and tells the server which ones changed.
 */
#ifndef KG_BROKER_HOTPLUG_H
#define KG_BROKER_HOTPLUG_H

#include "device.h"
#include "loop.h"
#include "server.h"

struct kg_hotplug;

/* Returns NULL when built without udev or when the monitor cannot start
 * (logged; the broker runs on without hotplug). */
struct kg_hotplug *kg_hotplug_create(struct kg_loop *loop, struct kg_device *dev,
				     struct kg_server *srv);
/* Accepts NULL. */
void kg_hotplug_destroy(struct kg_hotplug *hp);
/* Re-probes now and reports changes, as a udev event would. */
void kg_hotplug_reprobe(struct kg_hotplug *hp);

#endif
