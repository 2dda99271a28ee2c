/* SPDX-License-Identifier: MIT */
/*
 * kg_gcfg: kmsgate-vgpu's per-guest settings (vgpu.conf, kmsgate-vgpu.conf(5))
 * and how a back-end that libvirt started finds its guest.
 *
 *   [defaults]                    ; optional: for every guest
 *   log-file = /var/log/kmsgate/vgpu.log
 *
 *   [guest NAME]                  ; one section per guest: the libvirt domain name
 *   output = kms                  ; every key is the long option of that name
 *   broker = /run/kmsgate/broker.sock
 *   pipeline = HDMI-A-1
 *   fifo = yes                    ; an option without a value: yes or no
 *
 * libvirt starts the back-end with --fd N (and --virgl, --render-node) and
 * nothing that names the guest. What names it is the pidfile libvirt leaves
 * open in the back-end (qemuExtVhostUserGPUStart, virExec: "pidfilefd is
 * intentionally leaked"): <state dir>/<id>-<name>-<alias>-vhost-user-gpu.pid,
 * where libvirt cut <name> to 20 characters (virDomainDefGetShortName).
 * kg_gcfg_libvirt_stem() finds it; kg_gcfg_find_libvirt() matches it to a
 * section.
 */
#ifndef KG_GUEST_CONFIG_H
#define KG_GUEST_CONFIG_H

#include <stddef.h>

/* libvirt's cut of a domain name in its file names (VIR_DOMAIN_SHORT_NAME_MAX). */
#define KG_GCFG_LIBVIRT_SHORT_NAME 20

struct kg_gcfg;
struct kg_gcfg_guest;

/* Parses INI text. Returns 0 and a config, or -EINVAL with "line N: what"
 * in err (the first error found), or -ENOMEM. */
int kg_gcfg_parse(const char *text, struct kg_gcfg **out, char *err, size_t errlen);
/* Reads and parses a file (at most 1 MiB). Errors as above, plus -errno
 * from opening or reading it (err says which). */
int kg_gcfg_load(const char *path, struct kg_gcfg **out, char *err, size_t errlen);
/* Accepts NULL. */
void kg_gcfg_destroy(struct kg_gcfg *cfg);

/* The section [guest NAME], or NULL. */
const struct kg_gcfg_guest *kg_gcfg_find(const struct kg_gcfg *cfg, const char *name);
/*
 * The section of the domain whose libvirt pidfile stem ("<id>-<name>-<alias>",
 * kg_gcfg_libvirt_stem) this is. Returns 0, -ENOENT when no section matches,
 * or -EINVAL when the stem is not libvirt's or two sections match (names
 * alike in their first 20 characters); err says which.
 */
int kg_gcfg_find_libvirt(const struct kg_gcfg *cfg, const char *stem,
			 const struct kg_gcfg_guest **out, char *err, size_t errlen);
const char *kg_gcfg_guest_name(const struct kg_gcfg_guest *guest);

/*
 * The settings for guest as long options ("--output=kms", "--fifo"):
 * [defaults]' first, then the guest's, each in file order, so that a parser
 * that lets the last one win gives the guest's. guest may be NULL
 * ([defaults] only). Stores at most max pointers (valid while cfg lives) and
 * returns how many there are.
 */
size_t kg_gcfg_args(const struct kg_gcfg *cfg, const struct kg_gcfg_guest *guest, const char **args,
		    size_t max);

/*
 * libvirt's pidfile among the open fds listed in fd_dir ("/proc/self/fd"):
 * writes its stem ("1-win10-video0" of ".../1-win10-video0-vhost-user-gpu.pid")
 * to stem and, when path is not NULL, its full path. Returns 0, -ENOENT when
 * there is none (not started by libvirt), -E2BIG when more than one, or
 * -errno from reading fd_dir.
 *
 * It only reads the links: the fd must stay open and nothing else may open
 * and close that file, or the process loses libvirt's lock on it (POSIX
 * record locks go with any close of the file), and libvirt then takes the
 * back-end for dead and stops killing it with the domain.
 */
int kg_gcfg_libvirt_stem(const char *fd_dir, char *stem, size_t len, char *path, size_t path_len);

#endif
