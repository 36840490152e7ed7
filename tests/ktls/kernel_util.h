/*
 * Shared by the programs that run against the real kernel in the kTLS VM
 * (test_ktls_kernel, ktls_heap): a self-signed certificate and a
 * loopback TCP pair.
 */
#ifndef KITLS_TESTS_KERNEL_UTIL_H
#define KITLS_TESTS_KERNEL_UTIL_H

#include <stddef.h>

/* PEM of a self-signed P-256 certificate for "localhost" (with that
 * subjectAltName) and its key, made by ku_make_cert(). */
extern char ku_cert_pem[8192], ku_key_pem[8192];
extern size_t ku_cert_len, ku_key_len;

void ku_make_cert(void);

/* Two connected non-blocking loopback TCP sockets: fds[0] connected,
 * fds[1] accepted.  0, or -1 with nothing left open. */
int ku_tcp_pair(int fds[2]);

#endif
