/*
 * A fake kernel for the kTLS layer's unit tests: the setsockopt /
 * getsockopt / sendmsg / recvmsg / sendfile entries of struct
 * kitls_ktls_ops, backed by in-memory "wires".  Once keys are installed it
 * really protects records (TLS 1.3, RFC 8446 §5.2) with libcrypto EVP from
 * the crypto_info it was given — an implementation independent of
 * kitls's record layer — so a kitls peer in userspace and this "kernel"
 * interoperate, as the real one would.
 */
#ifndef KITLS_FAKEKERNEL_H
#define KITLS_FAKEKERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "kitls/kitls.h"
#include "kitls/ktls.h"

struct fk_dir {
    int on;
    uint16_t cipher; /* TLS_CIPHER_* */
    uint8_t key[32];
    size_t key_len;
    uint8_t iv[12]; /* salt || iv */
    uint64_t seq;
};

#define FK_FD 100

struct fk_buf {
    uint8_t *p;
    size_t len, off;
};

struct fk {
    /* behaviour knobs */
    int no_module;        /* TCP_ULP "tls" -> ENOENT */
    int rekey;            /* a second TLS_TX/TLS_RX works (Linux >= 6.14) */
    int no_chacha;        /* TLS_CIPHER_CHACHA20_POLY1305 -> EINVAL (< 5.11) */
    size_t max_write;     /* sendmsg/sendfile take at most this much (0: all) */
    int eagain_sends;     /* the next N sendmsg calls answer EAGAIN */
    int fail_sendmsg;     /* the next sendmsg answers -this */
    int fail_recvmsg;     /* the next recvmsg answers -this */
    int fail_setsockopt;  /* the next SOL_TLS setsockopt answers -this */
    int no_rx_getsockopt; /* getsockopt TLS_RX -> ENOPROTOOPT */
    /* state of the one fake socket (fd FK_FD) */
    int ulp;
    int probe_ulp, probe_tx; /* any other fd: the rekey probe's socket */
    uint16_t probe_cipher;
    struct fk_dir tx, rx;
    int rx_paused;     /* KeyUpdate received, waiting for TLS_RX */
    struct fk_buf out; /* bytes on the wire towards the peer */
    struct fk_buf in;  /* bytes from the peer */
    int peer_eof;
    uint8_t rec[16384 + 256]; /* current decrypted record */
    size_t rec_len, rec_off;
    int rec_type; /* 0: none */
    /* counters, like /proc/net/tls_stat */
    unsigned tx_sw, rx_sw, rekey_tx, rekey_rx, rekey_received, decrypt_err;
    unsigned long records_out, records_in;
};

/** The ops table, with ctx = fk. */
struct kitls_ktls_ops fk_ops(struct fk *fk);
/** Exchange bytes between the fake socket and a userspace kitls peer. */
void fk_pump(struct fk *fk, kitls_conn *peer);
void fk_free(struct fk *fk);

#endif
