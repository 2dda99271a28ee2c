// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct pipe_ctx {
	int fds[2];
	int calls;
	struct kg_source *src;
	bool remove_self;
};

static void on_readable(void *data, int fd, uint32_t events)
{
	struct pipe_ctx *ctx = data;
	char c;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	ctx->calls++;
	if (ctx->remove_self)
		kg_loop_remove(ctx->src);
}

static void test_fd_source_dispatches_and_removes_itself(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct pipe_ctx ctx = { .remove_self = true };

	assert_non_null(loop);
	assert_int_equal(pipe(ctx.fds), 0);
	ctx.src = kg_loop_add_fd(loop, ctx.fds[0], EPOLLIN, on_readable, &ctx);
	assert_non_null(ctx.src);
	assert_int_equal(write(ctx.fds[1], "ab", 2), 2);
	assert_int_equal(kg_loop_dispatch(loop, 1000), 1);
	assert_int_equal(ctx.calls, 1);
	/* Removed from inside its callback: the second byte is not delivered. */
	assert_int_equal(kg_loop_dispatch(loop, 10), 0);
	assert_int_equal(ctx.calls, 1);
	close(ctx.fds[0]);
	close(ctx.fds[1]);
	kg_loop_destroy(loop);
}

static void on_timer(void *data)
{
	int *count = data;
	(*count)++;
}

static void test_timer_repeats_and_disarms(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	int count = 0;
	struct kg_source *t = kg_loop_add_timer(loop, 1, 1, on_timer, &count);

	assert_non_null(t);
	while (count < 3)
		assert_true(kg_loop_dispatch(loop, 1000) >= 0);
	assert_int_equal(kg_loop_timer_arm(t, 0, 0), 0);
	count = 0;
	assert_int_equal(kg_loop_dispatch(loop, 20), 0);
	assert_int_equal(count, 0);
	kg_loop_remove(t);
	kg_loop_destroy(loop);
}

/* An absolute deadline fires once, not before it; 0 disarms. */
static void test_timer_arm_at_absolute(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	int count = 0;
	struct kg_source *t = kg_loop_add_timer(loop, 0, 0, on_timer, &count);
	struct timespec ts;
	uint64_t at, fired;

	assert_non_null(t);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + 5000000u;
	assert_int_equal(kg_loop_timer_arm_at(t, at), 0);
	while (!count)
		assert_true(kg_loop_dispatch(loop, 1000) >= 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fired = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	assert_true(fired >= at);
	assert_int_equal(kg_loop_dispatch(loop, 20), 0); /* once */
	assert_int_equal(kg_loop_timer_arm_at(t, at + 1000000000u), 0);
	assert_int_equal(kg_loop_timer_arm_at(t, 0), 0);
	assert_int_equal(kg_loop_dispatch(loop, 20), 0);
	assert_int_equal(count, 1);
	kg_loop_remove(t);
	kg_loop_destroy(loop);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Dispatches until *count reaches n (at most 2 s). */
static void dispatch_until(struct kg_loop *loop, const int *count, int n)
{
	uint64_t end = now_ms() + 2000;

	while (*count < n && now_ms() < end)
		assert_true(kg_loop_dispatch(loop, 100) >= 0);
	assert_int_equal(*count, n);
}

/* Runs on its first expiry; the next one with nothing else run parks it:
 * its callback does not run and the loop then has nothing to wake for. */
static void test_busy_timer_parks_when_idle(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	int count = 0;
	struct kg_source *t = kg_loop_add_busy_timer(loop, 10, on_timer, &count);

	assert_non_null(t);
	dispatch_until(loop, &count, 1);
	assert_int_equal(kg_loop_dispatch(loop, 200), 1); /* the idle expiry */
	assert_int_equal(count, 1);
	assert_int_equal(kg_loop_dispatch(loop, 50), 0); /* parked: no wake-up */
	assert_int_equal(count, 1);
	kg_loop_remove(t);
	kg_loop_destroy(loop);
}

/* Another source's callback wakes a parked busy timer, which runs an
 * interval later; while other callbacks run it keeps running. */
static void test_busy_timer_wakes_on_activity(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct pipe_ctx ctx = { 0 };
	int count = 0;
	struct kg_source *t = kg_loop_add_busy_timer(loop, 20, on_timer, &count);
	uint64_t t_act;

	assert_non_null(t);
	assert_int_equal(pipe(ctx.fds), 0);
	ctx.src = kg_loop_add_fd(loop, ctx.fds[0], EPOLLIN, on_readable, &ctx);
	assert_non_null(ctx.src);
	dispatch_until(loop, &count, 1);
	assert_int_equal(kg_loop_dispatch(loop, 200), 1); /* parks */
	assert_int_equal(kg_loop_dispatch(loop, 50), 0);
	/* Activity: the timer runs again, not before its interval. */
	assert_int_equal(write(ctx.fds[1], "a", 1), 1);
	t_act = now_ms();
	assert_int_equal(kg_loop_dispatch(loop, 100), 1);
	assert_int_equal(ctx.calls, 1);
	dispatch_until(loop, &count, 2);
	assert_true(now_ms() >= t_act + 19);
	/* Activity before each expiry: it runs every time. */
	for (int i = 3; i <= 4; i++) {
		assert_int_equal(write(ctx.fds[1], "b", 1), 1);
		dispatch_until(loop, &count, i);
	}
	assert_int_equal(ctx.calls, 3);
	assert_int_equal(kg_loop_dispatch(loop, 200), 1); /* idle again: parks */
	assert_int_equal(kg_loop_dispatch(loop, 50), 0);
	assert_int_equal(count, 4);
	kg_loop_remove(ctx.src);
	kg_loop_remove(t);
	close(ctx.fds[0]);
	close(ctx.fds[1]);
	kg_loop_destroy(loop);
}

/* A parked busy timer removed: the others still wake; a zero interval is
 * refused. */
static void test_busy_timer_remove_parked(void **state)
{
	struct kg_loop *loop = kg_loop_create();
	struct pipe_ctx ctx = { 0 };
	int a = 0, b = 0;
	struct kg_source *ta = kg_loop_add_busy_timer(loop, 10, on_timer, &a);
	struct kg_source *tb = kg_loop_add_busy_timer(loop, 10, on_timer, &b);

	assert_non_null(ta);
	assert_non_null(tb);
	assert_null(kg_loop_add_busy_timer(loop, 0, on_timer, &a));
	assert_int_equal(pipe(ctx.fds), 0);
	ctx.src = kg_loop_add_fd(loop, ctx.fds[0], EPOLLIN, on_readable, &ctx);
	dispatch_until(loop, &a, 1);
	dispatch_until(loop, &b, 1);
	while (kg_loop_dispatch(loop, 100) > 0) /* both park */
		;
	kg_loop_remove(ta);
	assert_int_equal(write(ctx.fds[1], "a", 1), 1);
	dispatch_until(loop, &b, 2);
	assert_int_equal(a, 1);
	kg_loop_remove(tb);
	kg_loop_remove(ctx.src);
	close(ctx.fds[0]);
	close(ctx.fds[1]);
	kg_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_source_dispatches_and_removes_itself),
		cmocka_unit_test(test_timer_repeats_and_disarms),
		cmocka_unit_test(test_timer_arm_at_absolute),
		cmocka_unit_test(test_busy_timer_parks_when_idle),
		cmocka_unit_test(test_busy_timer_wakes_on_activity),
		cmocka_unit_test(test_busy_timer_remove_parked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
