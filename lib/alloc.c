/* The process-wide allocator every kitls allocation goes through (kitls.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kitls/kitls.h"

static void *libc_malloc(size_t n, void *user)
{
    (void)user;
    return malloc(n);
}

static void *libc_realloc(void *p, size_t n, void *user)
{
    (void)user;
    return realloc(p, n);
}

static void libc_free(void *p, void *user)
{
    (void)user;
    free(p);
}

static const kitls_allocator libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};

/* Read without a lock on every allocation: kitls_set_allocator() is only
 * allowed while nothing allocated through it is alive, and the caller
 * orders it before any other thread uses kitls (kitls.h). */
static kitls_allocator cur = {libc_malloc, libc_realloc, libc_free, NULL};
/* Blocks allocated and not yet freed: a block must go back to the
 * allocator that gave it, so the allocator may not change while any
 * is alive. */
static size_t live_blocks;

int kitls_set_allocator(const kitls_allocator *a)
{
    if (a && (!a->malloc_fn || !a->realloc_fn || !a->free_fn))
        return KITLS_E_INVALID_ARG;
    if (__atomic_load_n(&live_blocks, __ATOMIC_ACQUIRE))
        return KITLS_E_STATE;
    cur = a ? *a : libc_allocator;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return 0;
}

size_t kitls_alloc_live(void)
{
    return __atomic_load_n(&live_blocks, __ATOMIC_RELAXED);
}

void *kitls_malloc(size_t n)
{
    /* Some allocators return NULL for 0 bytes; kitls treats NULL as failure. */
    void *p = cur.malloc_fn(n ? n : 1, cur.user);
    if (p)
        __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    return p;
}

void *kitls_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = kitls_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *kitls_realloc(void *p, size_t n)
{
    if (!p)
        return kitls_malloc(n);
    /* Never ask for 0 bytes: realloc(p, 0) may free p and return NULL,
     * which kitls would take for a failure and free again. */
    return cur.realloc_fn(p, n ? n : 1, cur.user);
}

void kitls_free(void *p)
{
    if (!p)
        return;
    __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    cur.free_fn(p, cur.user);
}

char *kitls_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = kitls_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
