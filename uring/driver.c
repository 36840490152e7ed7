/*
 * io_uring driver: the ring, the connection table, listeners (accept,
 * multishot where the kernel has it), the clock tick for handshake and
 * close deadlines, and CQE dispatch.  The per-connection state machine is
 * in conn.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uring_int.h"

static uint64_t ud_make(const kitls_uring *u, unsigned op, unsigned gen, uint32_t slot)
{
    return KITLS_URING_UD(u->p.tag, op, gen, slot);
}

uint64_t uring_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t uring_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A free SQE.  An owned ring is submitted when full; an application ring
 * is never submitted behind the application's back (it may be preparing
 * its own SQE), so NULL means "defer" there.
 */
struct io_uring_sqe *uring_sqe(kitls_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(u->ring);
    if (!sqe && u->owns_ring) {
        (void)io_uring_submit(u->ring);
        sqe = io_uring_get_sqe(u->ring);
    }
    if (sqe)
        u->inflight++;
    return sqe;
}

void uring_defer(kitls_uring *u, struct kitls_uring_conn *c)
{
    if (c->deferred)
        return;
    c->deferred = 1;
    c->def_next = u->deferred;
    u->deferred = c;
}

void uring_emit(kitls_uring *u, struct kitls_uring_event *ev)
{
    if (u->fn)
        u->fn(u->ctx, ev);
}

/* ---- deadline lists: FIFO per list, every entry has the same timeout ---- */

static void timer_arm(kitls_uring *u)
{
    if (u->timer_armed || u->stopping)
        return;
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (!sqe)
        return; /* retried from kitls_uring_flush() */
    io_uring_prep_timeout(sqe, &u->tick, 0, 0);
    io_uring_sqe_set_data64(sqe, ud_make(u, KITLS_URING_OP_TIMER, 0, URING_SLOT_TIMER));
    u->timer_armed = 1;
}

void uring_dl_add(kitls_uring *u, struct kitls_uring_conn *c, int list, unsigned ms)
{
    uring_dl_del(u, c);
    struct dl_list *l = &u->dl[list];
    c->deadline_ms = uring_now_ms() + ms;
    c->dl_list = list;
    c->dl_next = NULL;
    c->dl_prev = l->tail;
    if (l->tail)
        l->tail->dl_next = c;
    else
        l->head = c;
    l->tail = c;
    timer_arm(u);
}

void uring_dl_del(kitls_uring *u, struct kitls_uring_conn *c)
{
    if (!c->dl_list)
        return;
    struct dl_list *l = &u->dl[c->dl_list];
    if (c->dl_prev)
        c->dl_prev->dl_next = c->dl_next;
    else
        l->head = c->dl_next;
    if (c->dl_next)
        c->dl_next->dl_prev = c->dl_prev;
    else
        l->tail = c->dl_prev;
    c->dl_prev = c->dl_next = NULL;
    c->dl_list = 0;
}

static void on_tick(kitls_uring *u)
{
    uint64_t now = uring_now_ms();
    for (int i = 1; i <= 3; i++) {
        struct kitls_uring_conn *c;
        while ((c = u->dl[i].head) && c->deadline_ms <= now) {
            uring_dl_del(u, c);
            uring_conn_deadline(c, i);
        }
    }
    if (u->dl[1].head || u->dl[2].head || u->dl[3].head || u->accept_deferred)
        timer_arm(u);
}

/* ---- connection table ---- */

struct kitls_uring_conn *uring_conn_alloc(kitls_uring *u)
{
    if (!u->n_free)
        return NULL;
    struct kitls_uring_conn *c = kitls_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->slot = u->free_slots[--u->n_free];
    c->gen = ++u->gens[c->slot];
    if (!c->gen) /* generation 0 marks the driver's own (listener/timer) SQEs */
        c->gen = ++u->gens[c->slot];
    c->u = u;
    c->fd = -1;
    c->pipe_fd[0] = c->pipe_fd[1] = -1;
    u->table[c->slot] = c;
    u->st.conns++;
    return c;
}

void uring_slot_free(kitls_uring *u, struct kitls_uring_conn *c)
{
    u->table[c->slot] = NULL;
    u->free_slots[u->n_free++] = c->slot;
    u->st.conns--;
}

/* ---- listeners ---- */

/*
 * Room for new connections: the smaller of the free connection slots and
 * the free handshake slots.  Multishot accept runs only while the room is
 * larger than URING_ACCEPT_MARGIN: the kernel may accept a burst before a
 * cancel takes effect, and connections accepted past max_conns would have
 * to be closed at once.  Near the bound, one single-shot accept at a time.
 */
static long accept_room(const kitls_uring *u)
{
    long c = (long)u->p.max_conns - (long)u->st.conns;
    long h = (long)u->p.max_handshakes - (long)u->st.handshaking;
    return c < h ? c : h;
}

static void accept_arm(kitls_uring *u, int id)
{
    struct uring_listener *l = &u->lis[id];
    if (!l->active || l->armed || l->cancel_busy || u->stopping)
        return;
    long room = accept_room(u);
    if (room <= 0)
        return; /* re-armed when a handshake ends or a connection closes */
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (!sqe) {
        u->accept_deferred = 1;
        return;
    }
    l->multishot = u->have_multishot && room > URING_ACCEPT_MARGIN;
    if (l->multishot)
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud_make(u, KITLS_URING_OP_ACCEPT, 0, (uint32_t)id));
    l->armed = 1;
}

static void accept_cancel(kitls_uring *u, int id)
{
    struct uring_listener *l = &u->lis[id];
    if (!l->armed || l->cancel_busy)
        return;
    struct io_uring_sqe *sqe = uring_sqe(u);
    if (!sqe)
        return;
    io_uring_prep_cancel64(sqe, ud_make(u, KITLS_URING_OP_ACCEPT, 0, (uint32_t)id), 0);
    io_uring_sqe_set_data64(sqe, ud_make(u, KITLS_URING_OP_CANCEL, 0, (uint32_t)id));
    l->cancel_busy = 1;
}

static void accepts_update(kitls_uring *u)
{
    long room = accept_room(u);
    for (int i = 0; i < URING_MAX_LISTENERS; i++) {
        if (!u->lis[i].active)
            continue;
        if (room <= URING_ACCEPT_MARGIN && u->lis[i].armed && u->lis[i].multishot)
            accept_cancel(u, i); /* re-armed single-shot once the cancel is back */
        else if (room > 0)
            accept_arm(u, i);
    }
}

static void on_accept(kitls_uring *u, uint32_t id, int res, unsigned flags)
{
    if (id >= URING_MAX_LISTENERS)
        return;
    struct uring_listener *l = &u->lis[id];
    if (!(flags & IORING_CQE_F_MORE))
        l->armed = 0;
    if (res < 0) {
        if (res == -EINVAL && l->multishot) {
            u->have_multishot = 0; /* the probe lied (pre-5.19 kernel) */
            u->st.multishot_accept = 0;
        } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
            /* out of descriptors: try again on the next tick */
            u->accept_deferred = 1;
            timer_arm(u);
            if (l->armed && l->multishot)
                accept_cancel(u, (int)id);
            return;
        }
        return;
    }
    if (!l->active || u->stopping) {
        close(res);
        return;
    }
    struct kitls_uring_conn *c = u->st.conns < u->p.max_conns ? uring_conn_alloc(u) : NULL;
    if (!c) {
        u->st.overloads++;
        close(res);
        return;
    }
    c->fd = res;
    u->st.accepted++;
    uring_conn_accepted(u, c, l->cfg);
}

/* ---- public API ---- */

static void probe(kitls_uring *u)
{
    struct io_uring_probe *pr = io_uring_get_probe_ring(u->ring);
    if (!pr)
        return;
    u->have_shutdown = io_uring_opcode_supported(pr, IORING_OP_SHUTDOWN);
    u->have_splice = io_uring_opcode_supported(pr, IORING_OP_SPLICE);
    u->have_recvmsg = io_uring_opcode_supported(pr, IORING_OP_RECVMSG);
    u->have_close = io_uring_opcode_supported(pr, IORING_OP_CLOSE);
    /* Multishot accept is a flag, not an opcode: it arrived in 5.19 with
     * IORING_OP_SOCKET, which the probe can see.  A kernel that still
     * refuses it answers -EINVAL and we fall back (on_accept). */
    u->have_multishot = io_uring_opcode_supported(pr, IORING_OP_SOCKET) &&
                        !(u->p.flags & KITLS_URING_F_NO_MULTISHOT);
    io_uring_free_probe(pr);
}

int kitls_uring_new(kitls_uring **out, struct io_uring *ring,
                    const struct kitls_uring_params *params, kitls_uring_event_fn fn, void *ctx)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    kitls_uring *u = kitls_calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    if (params)
        u->p = *params;
    if (!u->p.entries)
        u->p.entries = 256;
    if (!u->p.max_conns)
        u->p.max_conns = 1024;
    if (!u->p.max_handshakes)
        u->p.max_handshakes = 256;
    if (!u->p.handshake_timeout_ms)
        u->p.handshake_timeout_ms = 10000;
    if (!u->p.close_timeout_ms)
        u->p.close_timeout_ms = 5000;
    if (!u->p.max_send_queue)
        u->p.max_send_queue = 262144;
    if (!u->p.tag)
        u->p.tag = KITLS_URING_DEFAULT_TAG;
    u->fn = fn;
    u->ctx = ctx;
    unsigned t = u->p.handshake_timeout_ms < u->p.close_timeout_ms ? u->p.handshake_timeout_ms
                                                                   : u->p.close_timeout_ms;
    t /= 4;
    t = t < 10 ? 10 : t > 250 ? 250 : t;
    u->tick.tv_sec = t / 1000;
    u->tick.tv_nsec = (long long)(t % 1000) * 1000000;

    u->table = kitls_calloc(u->p.max_conns, sizeof(*u->table));
    u->gens = kitls_calloc(u->p.max_conns, sizeof(*u->gens));
    u->free_slots = kitls_calloc(u->p.max_conns, sizeof(*u->free_slots));
    if (!u->table || !u->gens || !u->free_slots) {
        kitls_free(u->table);
        kitls_free(u->gens);
        kitls_free(u->free_slots);
        kitls_free(u);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < u->p.max_conns; i++)
        u->free_slots[i] = u->p.max_conns - 1 - i;
    u->n_free = u->p.max_conns;

    if (ring) {
        u->ring = ring;
    } else {
        int r = io_uring_queue_init(u->p.entries, &u->own_ring, 0);
        if (r < 0) {
            kitls_free(u->table);
            kitls_free(u->gens);
            kitls_free(u->free_slots);
            kitls_free(u);
            return r;
        }
        u->ring = &u->own_ring;
        u->owns_ring = 1;
    }
    probe(u);
    u->st.multishot_accept = u->have_multishot;
    uring_rxb_init(u);
    *out = u;
    return 0;
}

struct io_uring *kitls_uring_ring(kitls_uring *u)
{
    return u->ring;
}

unsigned kitls_uring_inflight(const kitls_uring *u)
{
    return u->inflight;
}

void kitls_uring_get_stats(const kitls_uring *u, struct kitls_uring_stats *st)
{
    *st = u->st;
}

int kitls_uring_listen(kitls_uring *u, int listen_fd, kitls_config *cfg)
{
    if (!u || listen_fd < 0 || !cfg || u->stopping)
        return -EINVAL;
    for (int i = 0; i < URING_MAX_LISTENERS; i++) {
        struct uring_listener *l = &u->lis[i];
        if (l->active || l->armed || l->cancel_busy)
            continue;
        memset(l, 0, sizeof(*l));
        l->fd = listen_fd;
        l->cfg = kitls_config_up_ref(cfg);
        l->active = 1;
        accept_arm(u, i);
        return i;
    }
    return -ENOSPC;
}

int kitls_uring_unlisten(kitls_uring *u, int id)
{
    if (!u || id < 0 || id >= URING_MAX_LISTENERS || !u->lis[id].active)
        return -EINVAL;
    struct uring_listener *l = &u->lis[id];
    l->active = 0;
    accept_cancel(u, id);
    kitls_config_free(l->cfg);
    l->cfg = NULL;
    return 0;
}

/* Hot reload: later accepts use cfg; each connection keeps the config it
 * started with (kitls_conn_new takes its own reference). */
int kitls_uring_listen_set_config(kitls_uring *u, int id, kitls_config *cfg)
{
    if (!u || !cfg || id < 0 || id >= URING_MAX_LISTENERS || !u->lis[id].active)
        return -EINVAL;
    struct uring_listener *l = &u->lis[id];
    kitls_config *old = l->cfg;
    l->cfg = kitls_config_up_ref(cfg);
    kitls_config_free(old);
    return 0;
}

int kitls_uring_connect(kitls_uring *u, const struct sockaddr *addr, socklen_t addrlen,
                        kitls_config *cfg, const char *server_name, void *user,
                        kitls_uring_conn **out)
{
    if (out)
        *out = NULL;
    if (!u || !addr || !cfg || addrlen > sizeof(struct sockaddr_storage) || u->stopping)
        return -EINVAL;
    struct kitls_uring_conn *c = uring_conn_alloc(u);
    if (!c)
        return u->n_free ? -ENOMEM : -EAGAIN;
    c->peer = kitls_malloc(sizeof(*c->peer));
    c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = c->fd < 0 ? -errno : !c->peer ? -ENOMEM : 0;
    if (!r)
        r = uring_conn_start(u, c, cfg, 0, server_name);
    if (r < 0) {
        if (c->fd >= 0)
            close(c->fd);
        kitls_free(c->peer);
        kitls_ktls_free(c->ktls);
        kitls_conn_free(c->tls);
        if (c->counted_hs)
            u->st.handshaking--;
        uring_dl_del(u, c);
        uring_slot_free(u, c);
        kitls_free(c);
        return r;
    }
    memcpy(c->peer, addr, addrlen);
    c->peer_len = addrlen;
    c->user = user;
    c->visible = 1;
    u->st.connected++;
    if (out)
        *out = c;
    uring_conn_pump(c);
    return 0;
}

int kitls_uring_owns(const kitls_uring *u, const struct io_uring_cqe *cqe)
{
    return KITLS_URING_UD_TAG(cqe->user_data) == u->p.tag;
}

int kitls_uring_handle_cqe(kitls_uring *u, const struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    if (KITLS_URING_UD_TAG(ud) != u->p.tag)
        return 0;
    unsigned op = KITLS_URING_UD_OP(ud);
    uint32_t slot = KITLS_URING_UD_SLOT(ud);
    /* A multishot CQE with F_MORE leaves its request in the kernel. */
    if (!(cqe->flags & IORING_CQE_F_MORE))
        u->inflight--;
    if (op == KITLS_URING_OP_TIMER) {
        u->timer_armed = 0;
        if (u->accept_deferred) {
            u->accept_deferred = 0;
            accepts_update(u);
        }
        on_tick(u);
        return 1;
    }
    if (op == KITLS_URING_OP_WATCH || op == KITLS_URING_OP_WATCH_CANCEL) {
        uring_watch_cqe(u, op, KITLS_URING_UD_GEN(ud), slot, cqe->res); /* watch.c */
    } else if (op == KITLS_URING_OP_ACCEPT) {
        on_accept(u, slot, cqe->res, cqe->flags);
    } else if (op == KITLS_URING_OP_CANCEL && slot == URING_SLOT_TIMER) {
        u->timer_cancel = 0;
    } else if (op == KITLS_URING_OP_CANCEL && KITLS_URING_UD_GEN(ud) == 0) {
        /* a listener's cancel (connections never have generation 0) */
        if (slot < URING_MAX_LISTENERS)
            u->lis[slot].cancel_busy = 0;
    } else if (slot < u->p.max_conns) {
        struct kitls_uring_conn *c = u->table[slot];
        if (c && c->gen == KITLS_URING_UD_GEN(ud))
            uring_conn_cqe(c, op, cqe->res, cqe->flags);
    }
    accepts_update(u);
    return 1;
}

int kitls_uring_flush(kitls_uring *u)
{
    struct kitls_uring_conn *list = u->deferred;
    u->deferred = NULL;
    u->rxb.round++; /* rxbuf.c: the ring grows at most once per round */
    int n = 0;
    while (list) {
        struct kitls_uring_conn *c = list;
        list = c->def_next;
        c->deferred = 0;
        c->def_next = NULL;
        uring_conn_pump(c);
        n++;
    }
    if (u->accept_deferred && !u->stopping) {
        u->accept_deferred = 0;
        accepts_update(u);
    }
    if ((u->dl[1].head || u->dl[2].head || u->dl[3].head) && !u->timer_armed)
        timer_arm(u);
    return n;
}

int kitls_uring_run(kitls_uring *u, int timeout_ms)
{
    if (!u || !u->owns_ring)
        return -EINVAL;
    (void)kitls_uring_flush(u);
    struct io_uring_cqe *cqe = NULL;
    int r;
    if (timeout_ms < 0) {
        r = io_uring_submit_and_wait(u->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
        r = io_uring_submit_and_wait_timeout(u->ring, &cqe, 1, &ts, NULL);
    }
    /* -EBUSY/-EAGAIN: the completion queue is full (or the kernel is
     * short of memory); reaping below is what makes room. */
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
        return r;
    int n = 0;
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(u->ring, head, cqe)
    {
        (void)kitls_uring_handle_cqe(u, cqe);
        seen++;
        n++;
    }
    io_uring_cq_advance(u->ring, seen);
    return n;
}

void kitls_uring_shutdown(kitls_uring *u)
{
    if (!u || u->stopping)
        return;
    for (int i = 0; i < URING_MAX_LISTENERS; i++)
        if (u->lis[i].active)
            (void)kitls_uring_unlisten(u, i);
    u->stopping = 1;
    uring_watch_cancel_all(u); /* the application's: callbacks get -ECANCELED */
    for (uint32_t i = 0; i < u->p.max_conns; i++) {
        struct kitls_uring_conn *c = u->table[i];
        if (c)
            kitls_uring_abort(c);
    }
    if (u->timer_armed && !u->timer_cancel) {
        struct io_uring_sqe *sqe = uring_sqe(u);
        if (sqe) {
            io_uring_prep_timeout_remove(sqe, ud_make(u, KITLS_URING_OP_TIMER, 0, URING_SLOT_TIMER),
                                         0);
            io_uring_sqe_set_data64(sqe, ud_make(u, KITLS_URING_OP_CANCEL, 0, URING_SLOT_TIMER));
            u->timer_cancel = 1;
        }
    }
}

void kitls_uring_free(kitls_uring *u)
{
    if (!u)
        return;
    kitls_uring_shutdown(u);
    if (u->owns_ring) {
        /* Wait (bounded) for every cancelled operation to come back so
         * that no buffer is freed under the kernel. */
        for (int i = 0; i < 1000 && (u->inflight || u->deferred); i++)
            if (kitls_uring_run(u, 10) < 0)
                break;
        io_uring_queue_exit(&u->own_ring);
    }
    /* Anything left (application ring not drained) is freed now; its
     * sockets are closed, which also ends the kernel's use of them. */
    for (uint32_t i = 0; i < u->p.max_conns; i++) {
        struct kitls_uring_conn *c = u->table[i];
        if (!c)
            continue;
        uring_conn_forget(c);
    }
    uring_async_free_all(u); /* parked connections that died unanswered */
    uring_watch_free(u);
    uring_rxb_free(u);
    kitls_free(u->table);
    kitls_free(u->gens);
    kitls_free(u->free_slots);
    kitls_free(u);
}
