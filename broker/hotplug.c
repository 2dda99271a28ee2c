// SPDX-License-Identifier: MIT
#include "hotplug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h" /* the build's: HAVE_UDEV */
#include "log.h"
#include "uevent.h"

#ifdef HAVE_UDEV
#include <libudev.h>
#endif

struct kg_hotplug {
	struct kg_device *dev;
	struct kg_server *srv;
#ifdef HAVE_UDEV
	struct udev *udev;
	struct udev_monitor *mon;
	struct kg_source *src;
#endif
	dev_t devnum; /* our card: events of other cards are ignored */
};

void kg_hotplug_reprobe(struct kg_hotplug *hp)
{
	size_t n = kg_device_desc(hp->dev)->n_connectors;
	bool *changed = calloc(n + 1, sizeof(*changed));
	int ret;

	if (!changed)
		return;
	ret = kg_device_reprobe(hp->dev, changed);
	if (ret < 0)
		kg_warn("re-probing connectors failed: %s", strerror(-ret));
	else if (ret > 0)
		kg_server_connectors_changed(hp->srv, changed);
	free(changed);
}

#ifdef HAVE_UDEV
static void on_udev(void *data, int fd, uint32_t events)
{
	struct kg_hotplug *hp = data;
	struct udev_device *ud = udev_monitor_receive_device(hp->mon);
	const char *action;

	if (!ud)
		return;
	action = udev_device_get_action(ud);
	/* Hotplug comes as "change" of the card (HOTPLUG=1); any change of
	 * our card but a lease's end (uevent.h) is worth a re-probe, which
	 * reports only real differences. */
	if (udev_device_get_devnum(ud) == hp->devnum && action && strcmp(action, "change") == 0) {
		const char *hotplug = udev_device_get_property_value(ud, "HOTPLUG");
		const char *lease = udev_device_get_property_value(ud, "LEASE");

		kg_dbg("change event on %s (HOTPLUG=%s LEASE=%s)", udev_device_get_devnode(ud),
		       hotplug ? hotplug : "-", lease ? lease : "-");
		if (kg_uevent_wants_reprobe(hotplug, lease))
			kg_hotplug_reprobe(hp);
	}
	udev_device_unref(ud);
}

static int monitor_start(struct kg_hotplug *hp, struct kg_loop *loop)
{
	hp->udev = udev_new();
	if (!hp->udev)
		return -ENOMEM;
	/* Without udevd (small boards, our test VM) the kernel's own uevents
	 * carry the same HOTPLUG=1. */
	hp->mon = udev_monitor_new_from_netlink(
		hp->udev, access("/run/udev/control", F_OK) == 0 ? "udev" : "kernel");
	if (!hp->mon)
		return -ENODEV;
	if (udev_monitor_filter_add_match_subsystem_devtype(hp->mon, "drm", NULL) < 0 ||
	    udev_monitor_enable_receiving(hp->mon) < 0)
		return -EIO;
	hp->src = kg_loop_add_fd(loop, udev_monitor_get_fd(hp->mon), EPOLLIN, on_udev, hp);
	return hp->src ? 0 : -errno;
}
#endif

struct kg_hotplug *kg_hotplug_create(struct kg_loop *loop, struct kg_device *dev,
				     struct kg_server *srv)
{
#ifdef HAVE_UDEV
	struct kg_hotplug *hp = calloc(1, sizeof(*hp));
	struct stat st;
	int ret;

	if (!hp)
		return NULL;
	hp->dev = dev;
	hp->srv = srv;
	if (fstat(kg_device_fd(dev), &st) == 0)
		hp->devnum = st.st_rdev;
	ret = monitor_start(hp, loop);
	if (ret < 0) {
		kg_warn("no hotplug: cannot start a udev monitor (%s); is udevd running?",
			strerror(-ret));
		kg_hotplug_destroy(hp);
		return NULL;
	}
	return hp;
#else
	(void)loop;
	(void)dev;
	(void)srv;
	kg_info("built without udev: connector hotplug is not followed");
	return NULL;
#endif
}

void kg_hotplug_destroy(struct kg_hotplug *hp)
{
	if (!hp)
		return;
#ifdef HAVE_UDEV
	kg_loop_remove(hp->src);
	udev_monitor_unref(hp->mon);
	udev_unref(hp->udev);
#endif
	free(hp);
}
