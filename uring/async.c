/* io_uring driver: connections parked for an asynchronous anti-replay answer (issue 19). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "uring_int.h"

/*
 * Parked connections (and zombies: parked ones that died) of every driver
 * in the process, so that kitls_uring_conn_from_tls() finds them from the
 * core connection a store callback got; a store may answer from another
 * driver's callbacks, hence one list under a lock.  The driver's own
 * handshake call is found without the lock (`current`).
 */
static pthread_mutex_t ar_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kitls_uring_conn *ar_head;
static __thread struct kitls_uring_conn *current;

static void ar_add(struct kitls_uring_conn *c)
{
    pthread_mutex_lock(&ar_lock);
    c->ar_prev = NULL;
    c->ar_next = ar_head;
    if (ar_head)
        ar_head->ar_prev = c;
    ar_head = c;
    pthread_mutex_unlock(&ar_lock);
}

static void ar_del(struct kitls_uring_conn *c)
{
    pthread_mutex_lock(&ar_lock);
    if (c->ar_prev)
        c->ar_prev->ar_next = c->ar_next;
    else
        ar_head = c->ar_next;
    if (c->ar_next)
        c->ar_next->ar_prev = c->ar_prev;
    c->ar_prev = c->ar_next = NULL;
    pthread_mutex_unlock(&ar_lock);
}

/* process_input(): c's handshake runs now (NULL: it returned). */
void uring_async_enter(struct kitls_uring_conn *c)
{
    current = c;
}

void uring_async_park(struct kitls_uring_conn *c)
{
    if (c->parked)
        return;
    c->parked = 1;
    ar_add(c);
}

static void zombie_free(struct kitls_uring_conn *c)
{
    ar_del(c);
    kitls_conn_free(c->tls);
    kitls_free(c);
}

int uring_async_zombie(struct kitls_uring_conn *c)
{
    if (!c->parked)
        return 0;
    c->zombie = 1; /* finish() freed the rest; the store still holds c */
    return 1;
}

void uring_async_free_all(kitls_uring *u)
{
    for (;;) {
        pthread_mutex_lock(&ar_lock);
        struct kitls_uring_conn *c = ar_head;
        while (c && !(c->u == u && c->zombie))
            c = c->ar_next;
        pthread_mutex_unlock(&ar_lock);
        if (!c)
            return;
        zombie_free(c);
    }
}

int kitls_uring_conn_resume(kitls_uring_conn *c)
{
    if (!c || !c->parked)
        return -EINVAL;
    if (c->zombie) {
        zombie_free(c);
        return -ENOTCONN;
    }
    ar_del(c);
    c->parked = 0;
    if (CS_DEAD(c->st)) { /* ending: it is freed as any dead connection */
        uring_conn_pump(c);
        return -ENOTCONN;
    }
    c->rx_ready = 1; /* the handshake goes on, then the input kept meanwhile */
    uring_conn_pump(c);
    return 0;
}

kitls_uring_conn *kitls_uring_conn_from_tls(kitls_conn *tls)
{
    if (!tls)
        return NULL;
    if (current && current->tls == tls)
        return current;
    pthread_mutex_lock(&ar_lock);
    struct kitls_uring_conn *c = ar_head;
    while (c && c->tls != tls)
        c = c->ar_next;
    pthread_mutex_unlock(&ar_lock);
    return c;
}
