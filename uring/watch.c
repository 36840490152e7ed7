/* io_uring driver: the application's one-shot fd watches and timers on the driver's ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uring_int.h"

/*
 * user_data: the driver's tag, KITLS_URING_OP_WATCH (the watch itself) or
 * KITLS_URING_OP_WATCH_CANCEL (its cancel), the watch's generation and
 * slot, as the connections' (KITLS_URING_UD).  The id the application
 * holds packs the same: generation (1..1023) above the slot + 1, so a
 * stale id never names a reused slot.
 */
#define WATCH_SLOT_BITS 20
#define WATCH_MAX (1u << WATCH_SLOT_BITS)
#define WATCH_GEN_MASK 0x3ffu

static int watch_id(uint32_t slot, unsigned gen)
{
    return (int)((gen << WATCH_SLOT_BITS) | (slot + 1));
}

static struct uring_watch *watch_get(kitls_uring *u, int id, uint32_t *slot)
{
    if (id <= 0)
        return NULL;
    uint32_t s = ((uint32_t)id & (WATCH_MAX - 1)) - 1;
    unsigned gen = (unsigned)id >> WATCH_SLOT_BITS;
    if (s >= u->n_watches || !u->watches[s] || u->watches[s]->gen != gen)
        return NULL;
    *slot = s;
    return u->watches[s];
}

/* A free slot (the table grows by doubling), or -ENOMEM. */
static int watch_slot(kitls_uring *u, uint32_t *slot)
{
    for (uint32_t i = u->watch_hint; i < u->n_watches; i++) /* lowest free slot */
        if (!u->watches[i]) {
            *slot = i;
            return 0;
        }
    uint32_t n = u->n_watches ? u->n_watches * 2 : 16;
    if (n > WATCH_MAX)
        return -ENOMEM;
    struct uring_watch **t = kitls_calloc(n, sizeof(*t));
    if (!t)
        return -ENOMEM;
    if (u->n_watches)
        memcpy(t, u->watches, u->n_watches * sizeof(*t));
    kitls_free(u->watches);
    u->watches = t;
    *slot = u->n_watches;
    u->n_watches = n;
    return 0;
}

static int watch_add(kitls_uring *u, int fd, unsigned mask, unsigned ms, int timer,
                     kitls_uring_watch_fn cb, void *arg)
{
    if (!u || !cb || (!timer && fd < 0))
        return -EINVAL;
    if (u->stopping)
        return -ESHUTDOWN;
    uint32_t slot;
    int r = watch_slot(u, &slot);
    if (r < 0)
        return r;
    struct uring_watch *w = kitls_calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (!sqe) {
        kitls_free(w);
        return -EBUSY;
    }
    u->watch_gen = (uint16_t)((u->watch_gen + 1) & WATCH_GEN_MASK);
    if (!u->watch_gen)
        u->watch_gen = 1;
    w->cb = cb;
    w->arg = arg;
    w->gen = u->watch_gen;
    w->timer = (uint8_t)timer;
    if (timer) {
        w->ts.tv_sec = ms / 1000;
        w->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
        io_uring_prep_timeout(sqe, &w->ts, 0, 0);
    } else {
        io_uring_prep_poll_add(sqe, fd, mask);
    }
    io_uring_sqe_set_data64(sqe, KITLS_URING_UD(u->p.tag, KITLS_URING_OP_WATCH, w->gen, slot));
    u->watches[slot] = w;
    u->watch_hint = slot + 1; /* every slot below it is taken */
    u->n_watch_used++;
    return watch_id(slot, w->gen);
}

int kitls_uring_watch_fd(kitls_uring *u, int fd, unsigned poll_mask, kitls_uring_watch_fn cb,
                         void *arg)
{
    return watch_add(u, fd, poll_mask, 0, 0, cb, arg);
}

int kitls_uring_timer(kitls_uring *u, unsigned ms, kitls_uring_watch_fn cb, void *arg)
{
    return watch_add(u, -1, 0, ms, 1, cb, arg);
}

static int watch_cancel_slot(kitls_uring *u, uint32_t slot, struct uring_watch *w)
{
    if (w->cancel)
        return -EALREADY;
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (!sqe)
        return -EBUSY;
    uint64_t ud = KITLS_URING_UD(u->p.tag, KITLS_URING_OP_WATCH, w->gen, slot);
    if (w->timer)
        io_uring_prep_timeout_remove(sqe, ud, 0);
    else
        io_uring_prep_poll_remove(sqe, ud);
    io_uring_sqe_set_data64(sqe,
                            KITLS_URING_UD(u->p.tag, KITLS_URING_OP_WATCH_CANCEL, w->gen, slot));
    w->cancel = 1;
    return 0;
}

int kitls_uring_watch_cancel(kitls_uring *u, int id)
{
    if (!u)
        return -EINVAL;
    uint32_t slot;
    struct uring_watch *w = watch_get(u, id, &slot);
    if (!w)
        return -ENOENT;
    return watch_cancel_slot(u, slot, w);
}

/* kitls_uring_handle_cqe(): a watch completed (its callback runs, once)
 * or its cancel did (nothing to do: the watch's own CQE reports it). */
void uring_watch_cqe(kitls_uring *u, unsigned op, unsigned gen, uint32_t slot, int res)
{
    if (op != KITLS_URING_OP_WATCH || slot >= u->n_watches)
        return;
    struct uring_watch *w = u->watches[slot];
    if (!w || w->gen != gen)
        return;
    u->watches[slot] = NULL;
    u->n_watch_used--;
    if (slot < u->watch_hint)
        u->watch_hint = slot;
    if (w->timer && res == -ETIME)
        res = 0; /* the time passed */
    kitls_uring_watch_fn cb = w->cb;
    void *arg = w->arg;
    kitls_free(w);
    cb(arg, res);
}

void uring_watch_cancel_all(kitls_uring *u)
{
    for (uint32_t i = 0; i < u->n_watches && u->n_watch_used; i++)
        if (u->watches[i])
            (void)watch_cancel_slot(u, i, u->watches[i]);
}

void uring_watch_free(kitls_uring *u)
{
    for (uint32_t i = 0; i < u->n_watches; i++)
        kitls_free(u->watches[i]);
    kitls_free(u->watches);
    u->watches = NULL;
    u->n_watches = u->n_watch_used = u->watch_hint = 0;
}
