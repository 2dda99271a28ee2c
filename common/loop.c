// SPDX-License-Identifier: MIT
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 32

struct kg_source {
	struct kg_loop *loop;
	int fd;
	bool is_timer; /* the source owns its timerfd */
	bool removed;  /* unlinked from epoll; freed after dispatch */
	/* kg_loop_add_busy_timer: its period, whether it is parked (disarmed
	 * while the loop idles), and the loop's count at its last run. */
	uint32_t busy_ms;
	bool parked;
	uint64_t seen;
	struct kg_source *next_busy; /* link in kg_loop.busy */
	kg_loop_fd_cb fd_cb;
	kg_loop_timer_cb timer_cb;
	void *data;
	struct kg_source *next_dead; /* link in kg_loop.dead */
};

struct kg_loop {
	int epfd;
	bool quit;
	int dispatching;	/* nesting depth of kg_loop_dispatch() */
	struct kg_source *dead; /* removed while dispatching: freed afterwards */
	struct kg_source *busy; /* busy timers (kg_loop_add_busy_timer) */
	uint64_t dispatched;	/* callbacks run, busy timers' not counted */
};

struct kg_loop *kg_loop_create(void)
{
	struct kg_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = errno;
		free(loop);
		errno = err;
		return NULL;
	}
	return loop;
}

static void free_dead(struct kg_loop *loop)
{
	while (loop->dead) {
		struct kg_source *src = loop->dead;
		loop->dead = src->next_dead;
		free(src);
	}
}

void kg_loop_destroy(struct kg_loop *loop)
{
	if (!loop)
		return;
	/* Sources still registered belong to their owners, who must remove
	 * them; what was removed already is freed here. */
	free_dead(loop);
	close(loop->epfd);
	free(loop);
}

static struct kg_source *add_source(struct kg_loop *loop, int fd, uint32_t events)
{
	struct kg_source *src = calloc(1, sizeof(*src));
	struct epoll_event ev = { .events = events };

	if (!src)
		return NULL;
	src->loop = loop;
	src->fd = fd;
	ev.data.ptr = src;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;
		free(src);
		errno = err;
		return NULL;
	}
	return src;
}

struct kg_source *kg_loop_add_fd(struct kg_loop *loop, int fd, uint32_t events, kg_loop_fd_cb cb,
				 void *data)
{
	struct kg_source *src = add_source(loop, fd, events);

	if (src) {
		src->fd_cb = cb;
		src->data = data;
	}
	return src;
}

int kg_loop_update_fd(struct kg_source *src, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = src };

	if (epoll_ctl(src->loop->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0)
		return -errno;
	return 0;
}

int kg_loop_timer_arm(struct kg_source *src, uint32_t first_ms, uint32_t interval_ms)
{
	struct itimerspec its = {
		.it_value = { first_ms / 1000, (long)(first_ms % 1000) * 1000000 },
		.it_interval = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000 },
	};

	if (timerfd_settime(src->fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

int kg_loop_timer_arm_at(struct kg_source *src, uint64_t at_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(at_ns / 1000000000u), (long)(at_ns % 1000000000u) },
	};

	if (timerfd_settime(src->fd, at_ns ? TFD_TIMER_ABSTIME : 0, &its, NULL) < 0)
		return -errno;
	return 0;
}

struct kg_source *kg_loop_add_timer(struct kg_loop *loop, uint32_t first_ms, uint32_t interval_ms,
				    kg_loop_timer_cb cb, void *data)
{
	struct kg_source *src;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0)
		return NULL;
	src = add_source(loop, fd, EPOLLIN);
	if (!src)
		goto err_close;
	src->is_timer = true;
	src->timer_cb = cb;
	src->data = data;
	if (first_ms && kg_loop_timer_arm(src, first_ms, interval_ms) < 0)
		goto err_remove;
	return src;

err_remove:
	kg_loop_remove(src);
	return NULL;
err_close:
	close(fd);
	return NULL;
}

struct kg_source *kg_loop_add_busy_timer(struct kg_loop *loop, uint32_t interval_ms,
					 kg_loop_timer_cb cb, void *data)
{
	struct kg_source *src;

	if (!interval_ms) {
		errno = EINVAL;
		return NULL;
	}
	src = kg_loop_add_timer(loop, interval_ms, interval_ms, cb, data);
	if (!src)
		return NULL;
	src->busy_ms = interval_ms;
	src->seen = loop->dispatched - 1; /* its first expiry runs it */
	src->next_busy = loop->busy;
	loop->busy = src;
	return src;
}

void kg_loop_remove(struct kg_source *src)
{
	struct kg_loop *loop;

	if (!src || src->removed)
		return;
	loop = src->loop;
	if (src->busy_ms) {
		struct kg_source **p = &loop->busy;

		while (*p && *p != src)
			p = &(*p)->next_busy;
		if (*p)
			*p = src->next_busy;
	}
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	if (src->is_timer)
		close(src->fd);
	src->removed = true;
	if (loop->dispatching) {
		/* An event for it may still sit in the current batch. */
		src->next_dead = loop->dead;
		loop->dead = src;
	} else {
		free(src);
	}
}

/* A busy timer's expiry: run it if the loop did anything since its last
 * run, else park it until something happens. */
static void busy_expired(struct kg_loop *loop, struct kg_source *src)
{
	if (loop->dispatched == src->seen) {
		if (kg_loop_timer_arm(src, 0, 0) == 0)
			src->parked = true;
		return;
	}
	src->seen = loop->dispatched;
	src->timer_cb(src->data);
}

/* Something ran: parked busy timers run again a period from now. */
static void unpark_busy(struct kg_loop *loop)
{
	for (struct kg_source *src = loop->busy; src; src = src->next_busy) {
		if (src->parked && kg_loop_timer_arm(src, src->busy_ms, src->busy_ms) == 0)
			src->parked = false;
	}
}

static void dispatch_one(struct kg_loop *loop, struct kg_source *src, uint32_t events)
{
	if (src->removed)
		return;
	if (src->is_timer) {
		uint64_t expirations;
		if (read(src->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
			return; /* spurious wake-up or disarmed meanwhile */
		if (src->busy_ms) {
			busy_expired(loop, src);
			return;
		}
		loop->dispatched++;
		src->timer_cb(src->data);
	} else {
		loop->dispatched++;
		src->fd_cb(src->data, src->fd, events);
	}
}

int kg_loop_dispatch(struct kg_loop *loop, int timeout_ms)
{
	struct epoll_event events[LOOP_MAX_EVENTS];
	int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	uint64_t before = loop->dispatched;

	loop->dispatching++;
	for (int i = 0; i < n; i++)
		dispatch_one(loop, events[i].data.ptr, events[i].events);
	loop->dispatching--;
	if (loop->dispatched != before)
		unpark_busy(loop);
	if (!loop->dispatching)
		free_dead(loop);
	return n;
}

int kg_loop_run(struct kg_loop *loop)
{
	loop->quit = false;
	while (!loop->quit) {
		int ret = kg_loop_dispatch(loop, -1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void kg_loop_quit(struct kg_loop *loop)
{
	loop->quit = true;
}
