/*
 * ocsp_peer — a minimal kitls client or server over loopback TCP with the
 * OCSP options the example programs do not have yet; public API only.
 * Used by tests/trust/ocsp-interop.sh.
 *
 *   ocsp_peer client PORT CAFILE POLICY [NAME]
 *       POLICY is off, use or require; NAME defaults to localhost.
 *       Prints "ok ocsp=N" or "error <error> ocsp=N: <detail>";
 *       exits 0 when the handshake completed, 1 otherwise.
 *   ocsp_peer server READYFILE CHAIN KEY [STAPLE.der]
 *       Listens on an ephemeral loopback port (written to READYFILE),
 *       serves one connection: handshake, a line of data, close_notify.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kitls/kitls.h"

static int flush_out(kitls_conn *c, int fd)
{
    const uint8_t *p;
    size_t n;
    while ((n = kitls_conn_out_peek(c, &p)) != 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        kitls_conn_out_consume(c, (size_t)w);
    }
    return 0;
}

static int feed_once(kitls_conn *c, int fd)
{
    uint8_t buf[16384];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
        kitls_conn_set_eof(c);
        return -1;
    }
    return kitls_conn_feed(c, buf, (size_t)n) == 0 ? 0 : -1;
}

static int drive(kitls_conn *c, int fd)
{
    for (;;) {
        int r = kitls_conn_handshake(c);
        flush_out(c, fd);
        if (r != KITLS_E_WANT_READ)
            return r;
        if (feed_once(c, fd) != 0)
            return kitls_conn_handshake(c);
    }
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 20);
    *len = b ? fread(b, 1, 1 << 20, f) : 0;
    fclose(f);
    return b;
}

static int client(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int port = atoi(argv[2]);
    const char *policy = argv[4], *name = argc > 5 ? argv[5] : "localhost";
    enum kitls_ocsp_policy p = !strcmp(policy, "require") ? KITLS_OCSP_REQUIRE
                               : !strcmp(policy, "use")   ? KITLS_OCSP_USE_IF_STAPLED
                                                          : KITLS_OCSP_OFF;
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    if (!cfg || kitls_config_load_ca_file(cfg, argv[3]) || kitls_config_set_ocsp_policy(cfg, p)) {
        fprintf(stderr, "ocsp_peer: client config\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("ocsp_peer: connect");
        return 2;
    }
    kitls_conn *c = kitls_conn_new(cfg);
    if (!c || kitls_conn_set_server_name(c, name))
        return 2;
    int r = drive(c, fd);
    if (r == 0) {
        printf("ok ocsp=%d\n", kitls_conn_ocsp_status(c));
        if (kitls_conn_close(c) == 0)
            flush_out(c, fd);
    } else {
        printf("error %s ocsp=%d: %s\n", kitls_strerror(r), kitls_conn_ocsp_status(c),
               kitls_conn_verify_detail(c));
    }
    close(fd);
    kitls_conn_free(c);
    kitls_config_free(cfg);
    return r == 0 ? 0 : 1;
}

static int server(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    if (!cfg || kitls_config_add_cert_files(cfg, argv[3], argv[4])) {
        fprintf(stderr, "ocsp_peer: server config\n");
        return 2;
    }
    if (argc > 5) {
        size_t n;
        uint8_t *der = read_file(argv[5], &n);
        int r = der ? kitls_config_set_ocsp_staple(cfg, 0, der, n) : KITLS_E_CONFIG;
        free(der);
        if (r) {
            fprintf(stderr, "ocsp_peer: staple refused: %s\n", kitls_strerror(r));
            return 2;
        }
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al)) {
        perror("ocsp_peer: listen");
        return 2;
    }
    FILE *rf = fopen(argv[2], "w");
    if (!rf)
        return 2;
    fprintf(rf, "%d\n", ntohs(a.sin_port));
    fclose(rf);
    int fd = accept(ls, NULL, NULL);
    if (fd < 0)
        return 2;
    kitls_conn *c = kitls_conn_new(cfg);
    int r = drive(c, fd);
    if (r == 0) {
        static const char msg[] = "hello from kitls\n";
        if (kitls_conn_write(c, (const uint8_t *)msg, sizeof(msg) - 1) > 0 &&
            kitls_conn_close(c) == 0)
            flush_out(c, fd);
        /* Let the peer read before the socket goes away. */
        shutdown(fd, SHUT_WR);
        uint8_t buf[4096];
        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        printf("server ok\n");
    } else {
        printf("server error %s\n", kitls_strerror(r));
    }
    close(fd);
    close(ls);
    kitls_conn_free(c);
    kitls_config_free(cfg);
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "client"))
        return client(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "server"))
        return server(argc, argv);
    fprintf(stderr, "usage: ocsp_peer client PORT CAFILE off|use|require [NAME]\n"
                    "       ocsp_peer server READYFILE CHAIN KEY [STAPLE.der]\n");
    return 2;
}
