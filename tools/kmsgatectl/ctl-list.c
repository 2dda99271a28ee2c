// SPDX-License-Identifier: MIT
/* kmsgatectl list / show / revoke. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <xf86drmMode.h>

#include "ctl.h"
#include "log.h"

static const char *state_name(uint32_t s)
{
	switch (s) {
	case KMSGATE_STATE_FREE:
		return "free";
	case KMSGATE_STATE_LEASED:
		return "leased";
	case KMSGATE_STATE_UNAVAILABLE:
		return "unavailable";
	}
	return "?";
}

static const char *status_name(uint32_t s)
{
	switch (s) {
	case KMSGATE_CONNECTED:
		return "connected";
	case KMSGATE_DISCONNECTED:
		return "disconnected";
	}
	return "unknown";
}

static const char *plane_type_name(uint32_t t)
{
	switch (t) {
	case KMSGATE_PLANE_PRIMARY:
		return "primary";
	case KMSGATE_PLANE_CURSOR:
		return "cursor";
	case KMSGATE_PLANE_OVERLAY:
		return "overlay";
	}
	return "?";
}

static const char *conn_type_name(uint32_t type)
{
	const char *n = drmModeGetConnectorTypeName(type);

	return n ? n : "unknown";
}

static void mode_str(const struct kmsgate_mode *m, char *buf, size_t n)
{
	snprintf(buf, n, "%ux%u@%u", m->hdisplay, m->vdisplay, m->vrefresh);
}

/* "1P+2O+1C": planes by type, primary, overlay, cursor. */
static void planes_str(const struct kmsgate_pipeline *p, char *buf, size_t n)
{
	unsigned count[3] = { 0 };

	for (size_t i = 0; i < kmsgate_pipeline_plane_count(p); i++) {
		uint32_t t = kmsgate_pipeline_plane(p, i)->type;
		if (t < 3)
			count[t]++;
	}
	snprintf(buf, n, "%uP+%uO+%uC", count[KMSGATE_PLANE_PRIMARY], count[KMSGATE_PLANE_OVERLAY],
		 count[KMSGATE_PLANE_CURSOR]);
}

static void print_table(const struct kmsgate_list *l)
{
	printf("%-16s %-12s %-14s %-13s %-10s %-16s %-9s %s\n", "NAME", "STATE", "CONNECTOR",
	       "STATUS", "SIZE(mm)", "MODE", "PLANES", "LESSEE");
	for (size_t i = 0; i < kmsgate_list_count(l); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(l, i);
		struct kmsgate_mode m;
		char mode[32] = "-", planes[32], size[24], state[24];
		uint32_t w, h;

		if (kmsgate_pipeline_preferred_mode(p, &m) == 0)
			mode_str(&m, mode, sizeof(mode));
		planes_str(p, planes, sizeof(planes));
		kmsgate_pipeline_size_mm(p, &w, &h);
		snprintf(size, sizeof(size), "%ux%u", w, h);
		/* "!": you may not acquire it; "*": it is yours. */
		snprintf(state, sizeof(state), "%s%s", state_name(kmsgate_pipeline_state(p)),
			 kmsgate_pipeline_mine(p) ? "*" : (kmsgate_pipeline_allowed(p) ? "" : "!"));
		printf("%-16s %-12s %-14s %-13s %-10s %-16s %-9s ", kmsgate_pipeline_name(p), state,
		       kmsgate_pipeline_connector_name(p),
		       status_name(kmsgate_pipeline_connector_status(p)), size, mode, planes);
		if (kmsgate_pipeline_state(p) == KMSGATE_STATE_LEASED)
			printf("pid %d uid %u (%s)\n", (int)kmsgate_pipeline_lessee_pid(p),
			       (unsigned)kmsgate_pipeline_lessee_uid(p),
			       kmsgate_pipeline_lessee_name(p));
		else
			printf("-\n");
	}
}

/* Strings from the broker are printable ASCII already; escape for JSON. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

static void json_mode(const char *key, int have, const struct kmsgate_mode *m)
{
	printf("\"%s\": ", key);
	if (!have) {
		printf("null");
		return;
	}
	printf("{\"name\": ");
	json_str(m->name);
	printf(", \"clock\": %u, \"hdisplay\": %u, \"hsync_start\": %u, \"hsync_end\": %u, "
	       "\"htotal\": %u, \"hskew\": %u, \"vdisplay\": %u, \"vsync_start\": %u, "
	       "\"vsync_end\": %u, \"vtotal\": %u, \"vscan\": %u, \"vrefresh\": %u, "
	       "\"flags\": %u, \"type\": %u}",
	       m->clock, m->hdisplay, m->hsync_start, m->hsync_end, m->htotal, m->hskew,
	       m->vdisplay, m->vsync_start, m->vsync_end, m->vtotal, m->vscan, m->vrefresh,
	       m->flags, m->type);
}

static void json_pipeline(const struct kmsgate_pipeline *p)
{
	struct kmsgate_mode m;
	uint32_t w, h;
	int have;

	kmsgate_pipeline_size_mm(p, &w, &h);
	printf("{\"name\": ");
	json_str(kmsgate_pipeline_name(p));
	printf(", \"state\": \"%s\", \"allowed\": %s, \"mine\": %s, ",
	       state_name(kmsgate_pipeline_state(p)),
	       kmsgate_pipeline_allowed(p) ? "true" : "false",
	       kmsgate_pipeline_mine(p) ? "true" : "false");
	printf("\"connector\": {\"name\": ");
	json_str(kmsgate_pipeline_connector_name(p));
	printf(", \"id\": %u, \"type\": %u, \"type_name\": \"%s\", \"status\": \"%s\", "
	       "\"mm_width\": %u, \"mm_height\": %u}, \"crtc_id\": %u, ",
	       kmsgate_pipeline_connector_id(p), kmsgate_pipeline_connector_type(p),
	       conn_type_name(kmsgate_pipeline_connector_type(p)),
	       status_name(kmsgate_pipeline_connector_status(p)), w, h,
	       kmsgate_pipeline_crtc_id(p));
	have = kmsgate_pipeline_current_mode(p, &m) == 0;
	json_mode("current_mode", have, &m);
	printf(", ");
	have = kmsgate_pipeline_preferred_mode(p, &m) == 0;
	json_mode("preferred_mode", have, &m);
	printf(", \"planes\": [");
	for (size_t i = 0; i < kmsgate_pipeline_plane_count(p); i++) {
		const struct kmsgate_plane *pl = kmsgate_pipeline_plane(p, i);
		printf("%s{\"id\": %u, \"type\": \"%s\"}", i ? ", " : "", pl->id,
		       plane_type_name(pl->type));
	}
	printf("], \"lessee\": ");
	if (kmsgate_pipeline_state(p) == KMSGATE_STATE_LEASED) {
		printf("{\"pid\": %d, \"uid\": %u, \"name\": ", (int)kmsgate_pipeline_lessee_pid(p),
		       (unsigned)kmsgate_pipeline_lessee_uid(p));
		json_str(kmsgate_pipeline_lessee_name(p));
		printf("}");
	} else {
		printf("null");
	}
	printf("}");
}

static void print_json(const struct kmsgate_list *l)
{
	printf("[");
	for (size_t i = 0; i < kmsgate_list_count(l); i++) {
		printf(i ? ",\n " : "\n ");
		json_pipeline(kmsgate_list_get(l, i));
	}
	printf("\n]\n");
}

/* Connects and lists; returns the exit status, *out on success. */
static int fetch(const struct ctl_opts *o, struct kmsgate_client **c, struct kmsgate_list **out)
{
	int r;

	*c = ctl_connect(o);
	if (!*c)
		return CTL_EXIT_FAIL;
	r = kmsgate_list(*c, out);
	if (r < 0) {
		ctl_fail(*c, "list", -r);
		kmsgate_close(*c);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int ctl_list(const struct ctl_opts *o, int argc, char **argv)
{
	struct kmsgate_client *c;
	struct kmsgate_list *l;
	int json = 0, r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		kg_err("list: unknown argument '%s' (usage: list [--json])", argv[i]);
		return CTL_EXIT_USAGE;
	}
	r = fetch(o, &c, &l);
	if (r)
		return r;
	if (json)
		print_json(l);
	else
		print_table(l);
	kmsgate_list_free(l);
	kmsgate_close(c);
	return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

static void show_pipeline(const struct kmsgate_pipeline *p)
{
	struct kmsgate_mode m;
	char buf[32];
	uint32_t w, h;

	kmsgate_pipeline_size_mm(p, &w, &h);
	printf("pipeline   %s\n", kmsgate_pipeline_name(p));
	printf("state      %s%s%s\n", state_name(kmsgate_pipeline_state(p)),
	       kmsgate_pipeline_mine(p) ? " (this connection)" : "",
	       kmsgate_pipeline_allowed(p) ? "" : " (you may not acquire it)");
	printf("connector  %s (id %u, %s, %s, %ux%u mm)\n", kmsgate_pipeline_connector_name(p),
	       kmsgate_pipeline_connector_id(p), conn_type_name(kmsgate_pipeline_connector_type(p)),
	       status_name(kmsgate_pipeline_connector_status(p)), w, h);
	printf("crtc       %u\n", kmsgate_pipeline_crtc_id(p));
	if (kmsgate_pipeline_current_mode(p, &m) == 0) {
		mode_str(&m, buf, sizeof(buf));
		printf("current    %s (\"%s\", %u kHz)\n", buf, m.name, m.clock);
	} else {
		printf("current    off\n");
	}
	if (kmsgate_pipeline_preferred_mode(p, &m) == 0) {
		mode_str(&m, buf, sizeof(buf));
		printf("mode       %s (\"%s\", %u kHz)\n", buf, m.name, m.clock);
	} else {
		printf("mode       none (the lessee picks one)\n");
	}
	for (size_t i = 0; i < kmsgate_pipeline_plane_count(p); i++) {
		const struct kmsgate_plane *pl = kmsgate_pipeline_plane(p, i);
		printf("plane      %u (%s)\n", pl->id, plane_type_name(pl->type));
	}
	if (kmsgate_pipeline_state(p) == KMSGATE_STATE_LEASED)
		printf("lessee     pid %d uid %u (%s)\n", (int)kmsgate_pipeline_lessee_pid(p),
		       (unsigned)kmsgate_pipeline_lessee_uid(p), kmsgate_pipeline_lessee_name(p));
}

int ctl_show(const struct ctl_opts *o, int argc, char **argv)
{
	struct kmsgate_client *c;
	struct kmsgate_list *l;
	int r, found = 0;

	if (argc != 2) {
		kg_err("show: usage: show NAME");
		return CTL_EXIT_USAGE;
	}
	r = fetch(o, &c, &l);
	if (r)
		return r;
	for (size_t i = 0; i < kmsgate_list_count(l); i++) {
		const struct kmsgate_pipeline *p = kmsgate_list_get(l, i);
		if (strcmp(kmsgate_pipeline_name(p), argv[1]) == 0) {
			show_pipeline(p);
			found = 1;
		}
	}
	if (!found)
		kg_err("show: no pipeline named '%s' ('kmsgatectl list' shows them)", argv[1]);
	kmsgate_list_free(l);
	kmsgate_close(c);
	return found ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

int ctl_revoke(const struct ctl_opts *o, int argc, char **argv)
{
	struct kmsgate_client *c;
	int r;

	if (argc != 2) {
		kg_err("revoke: usage: revoke NAME");
		return CTL_EXIT_USAGE;
	}
	c = ctl_connect(o);
	if (!c)
		return CTL_EXIT_FAIL;
	r = kmsgate_revoke(c, argv[1]);
	if (r < 0)
		ctl_fail(c, "revoke", -r);
	kmsgate_close(c);
	return r < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
