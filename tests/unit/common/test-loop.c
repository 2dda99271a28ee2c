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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_source_dispatches_and_removes_itself),
		cmocka_unit_test(test_timer_repeats_and_disarms),
		cmocka_unit_test(test_timer_arm_at_absolute),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
