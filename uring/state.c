/*
 * io_uring driver: a connection's life as a state enum and the one table
 * of legal transitions (checked here, for every change of state; the
 * model is lib/hs.c's handshake table).  What the states mean is in
 * uring_int.h; tests/uring/test_uring_state.c walks the table.
 */
#include <assert.h>

#include "uring_int.h"

#define B(s) (1u << (s))

/* Every state's legal successors.  Live states move forward or die; a
 * dead one (CS_LINGER and after) never comes back; CS_FREED is the end. */
static const uint32_t cs_next[CS_COUNT] = {
    [CS_NEW] = B(CS_CONNECTING) | B(CS_HANDSHAKE) | B(CS_CANCEL),
    [CS_CONNECTING] = B(CS_HANDSHAKE) | B(CS_CANCEL),
    [CS_HANDSHAKE] = B(CS_ENABLING) | B(CS_OPEN) | B(CS_LINGER) | B(CS_CANCEL),
    [CS_ENABLING] = B(CS_OPEN) | B(CS_LINGER) | B(CS_CANCEL),
    [CS_OPEN] = B(CS_CLOSING) | B(CS_LINGER) | B(CS_CANCEL),
    [CS_CLOSING] = B(CS_LINGER) | B(CS_CANCEL),
    [CS_LINGER] = B(CS_LINGER_FLUSH) | B(CS_CANCEL),
    [CS_LINGER_FLUSH] = B(CS_LINGER_DRAIN) | B(CS_CANCEL),
    [CS_LINGER_DRAIN] = B(CS_CANCEL),
    [CS_CANCEL] = B(CS_CANCELLED),
    [CS_CANCELLED] = B(CS_CLOSE_FD) | B(CS_FREED),
    [CS_CLOSE_FD] = B(CS_FREED),
    [CS_FREED] = 0,
};

static const char *const cs_names[CS_COUNT] = {
    [CS_NEW] = "new",
    [CS_CONNECTING] = "connecting",
    [CS_HANDSHAKE] = "handshake",
    [CS_ENABLING] = "enabling",
    [CS_OPEN] = "open",
    [CS_CLOSING] = "closing",
    [CS_LINGER] = "linger",
    [CS_LINGER_FLUSH] = "linger-flush",
    [CS_LINGER_DRAIN] = "linger-drain",
    [CS_CANCEL] = "cancel",
    [CS_CANCELLED] = "cancelled",
    [CS_CLOSE_FD] = "close-fd",
    [CS_FREED] = "freed",
};

int uring_cs_legal(unsigned from, unsigned to)
{
    return from < CS_COUNT && to < CS_COUNT && (cs_next[from] & B(to)) != 0;
}

const char *uring_cs_name(unsigned st)
{
    return st < CS_COUNT ? cs_names[st] : "?";
}

int uring_cs_step(enum conn_state *st, enum conn_state to)
{
    if (!uring_cs_legal((unsigned)*st, (unsigned)to))
        return -1;
    *st = to;
    return 0;
}

/* The driver's only way to change a connection's state.  An illegal
 * transition is a driver bug: refused (the state stays), and fatal in
 * builds with assertions (every test build). */
int uring_cs_set(struct kitls_uring_conn *c, enum conn_state to)
{
    int r = uring_cs_step(&c->st, to);
    assert(r == 0 && "illegal io_uring connection state transition");
    return r;
}
