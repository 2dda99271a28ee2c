/* SPDX-License-Identifier: MIT */
/*
 * kg_list: an intrusive doubly linked list (the shape of Wayland's wl_list),
 * for the queues kmsgate keeps: a scanout's frames, the device's fences, a
 * pipeline's waiters. Appending is O(1) and an element is unlinked without
 * walking the list. No Debian-packaged C library offers just this (glib's
 * GQueue allocates a node per element); it is a header of inline functions.
 */
#ifndef KG_LIST_H
#define KG_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct kg_list {
	struct kg_list *prev, *next;
};

/* The struct of type holding the kg_list member at ptr. */
#define kg_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void kg_list_init(struct kg_list *l)
{
	l->prev = l->next = l;
}

static inline bool kg_list_empty(const struct kg_list *l)
{
	return l->next == l;
}

/* Inserts elm after pos (at the head when pos is the list). */
static inline void kg_list_insert(struct kg_list *pos, struct kg_list *elm)
{
	elm->prev = pos;
	elm->next = pos->next;
	pos->next->prev = elm;
	pos->next = elm;
}

/* Appends elm at the tail. */
static inline void kg_list_append(struct kg_list *l, struct kg_list *elm)
{
	kg_list_insert(l->prev, elm);
}

/* Unlinks elm; it may then be inserted again or freed. */
static inline void kg_list_remove(struct kg_list *elm)
{
	elm->prev->next = elm->next;
	elm->next->prev = elm->prev;
	elm->prev = elm->next = elm;
}

/* The first element of a non-empty list, as its containing struct. */
#define kg_list_first(l, type, member) kg_container_of((l)->next, type, member)

/* Walks the list; pos may be removed (and freed) inside the loop. */
#define kg_list_for_each_safe(pos, tmp, l, member)                             \
	for (pos = kg_container_of((l)->next, __typeof__(*pos), member),       \
	    tmp = kg_container_of(pos->member.next, __typeof__(*pos), member); \
	     &pos->member != (l);                                              \
	     pos = tmp, tmp = kg_container_of(pos->member.next, __typeof__(*pos), member))

#define kg_list_for_each(pos, l, member)                                                      \
	for (pos = kg_container_of((l)->next, __typeof__(*pos), member); &pos->member != (l); \
	     pos = kg_container_of(pos->member.next, __typeof__(*pos), member))

#endif
