/* SPDX-License-Identifier: MIT */
/*
 * kg_loop: a small epoll event loop shared by the broker and the backend.
 *
 * Each watched fd has one callback. Callbacks may add and remove sources,
 * including their own, while the loop dispatches. Timers are timerfds, so
 * they are just sources too.
 */
#ifndef KG_LOOP_H
#define KG_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct kg_loop;
struct kg_source;

/* events is a mask of EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as reported by epoll. */
typedef void (*kg_loop_fd_cb)(void *data, int fd, uint32_t events);
typedef void (*kg_loop_timer_cb)(void *data);

/* Returns NULL with errno set. */
struct kg_loop *kg_loop_create(void);
/* Frees every remaining source; closes no fd it was given. Accepts NULL. */
void kg_loop_destroy(struct kg_loop *loop);

/* Watches fd for events (EPOLLIN and/or EPOLLOUT). The fd stays owned by the
 * caller and must outlive the source. Returns NULL with errno set. */
struct kg_source *kg_loop_add_fd(struct kg_loop *loop, int fd, uint32_t events, kg_loop_fd_cb cb,
				 void *data);
/* Changes the watched events of an fd source. Returns 0 or -errno. */
int kg_loop_update_fd(struct kg_source *src, uint32_t events);

/* A timer that first fires after first_ms and then every interval_ms (0: once).
 * Returns NULL with errno set. */
struct kg_source *kg_loop_add_timer(struct kg_loop *loop, uint32_t first_ms, uint32_t interval_ms,
				    kg_loop_timer_cb cb, void *data);
/* Re-arms a timer source (first_ms 0 disarms it). Returns 0 or -errno. */
int kg_loop_timer_arm(struct kg_source *src, uint32_t first_ms, uint32_t interval_ms);

/* Arms a timer source to fire once at at_ns, CLOCK_MONOTONIC, absolute
 * (0 disarms it): what a deadline computed from kernel timestamps needs,
 * to the nanosecond. Returns 0 or -errno. */
int kg_loop_timer_arm_at(struct kg_source *src, uint64_t at_ns);

/*
 * A timer that runs every interval_ms (> 0) only while the loop has other
 * work: when it expires and no other source's callback ran since its last
 * run, it is disarmed without running (nothing woke the loop, so nothing
 * can have changed) and armed again, interval_ms ahead, as soon as another
 * source's callback runs. Its first expiry runs it. For periodic work that
 * only follows changes (writing statistics): an idle loop sleeps. Do not
 * re-arm it with kg_loop_timer_arm. Returns NULL with errno set.
 */
struct kg_source *kg_loop_add_busy_timer(struct kg_loop *loop, uint32_t interval_ms,
					 kg_loop_timer_cb cb, void *data);

/* Stops watching; safe from inside any callback. Accepts NULL. */
void kg_loop_remove(struct kg_source *src);

/* Dispatches until kg_loop_quit() or an error. timeout_ms -1 waits forever
 * per iteration. Returns 0 after quit, -errno on an epoll failure. */
int kg_loop_run(struct kg_loop *loop);
/* Dispatches one batch of ready events, waiting at most timeout_ms.
 * Returns the number of events dispatched or -errno. */
int kg_loop_dispatch(struct kg_loop *loop, int timeout_ms);
void kg_loop_quit(struct kg_loop *loop);

#endif
