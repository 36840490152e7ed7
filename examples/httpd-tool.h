/*
 * uring-httpd as a command-line tool (httpd-tool.c): its options, the
 * listening socket (IPv4 or IPv6) and the access log.
 */
#ifndef EX_HTTPD_TOOL_H
#define EX_HTTPD_TOOL_H

#include <stddef.h>

#include <kitls/kitls.h>

struct httpd_root;

/* The command line. */
struct httpd_opts {
    const char *cert, *key, *root, *host, *port, *ready_file, *access_log, *mime_types;
    unsigned max_conns, max_handshakes, handshake_ms, header_ms, idle_ms;
    unsigned workers; /* threads, each with a ring and a listening socket */
    unsigned long long max_body;
    int ktls, ktls_close, no_multishot, no_buf_ring, no_tickets, quiet;
};

/*
 * Parse the command line into *o (defaults first).  Returns 0, or the
 * status to exit with: 0 after --help, 2 after a usage error (the message,
 * naming the option and the value, is printed).
 */
int httpd_opts_parse(int argc, char **argv, struct httpd_opts *o, int *exit_status);

/*
 * Listen on host:port (numeric or a name; IPv6 sockets are IPv6-only
 * except for "::", which takes IPv4 too), with SO_REUSEPORT when reuseport
 * (several workers; without it a second server on the address fails as
 * before).  The socket, its port in *bound and "addr:port" ("[v6]:port")
 * in desc; or -1 after printing why.
 */
int httpd_listen(const char *host, const char *port, int reuseport, int *bound, char *desc,
                 size_t desclen);
/*
 * One more SO_REUSEPORT listening socket on the address of fd (made by
 * httpd_listen with reuseport: the same family, port and IPV6_V6ONLY), so
 * that the kernel spreads new connections over them by their 4-tuple
 * hash.  The socket, or -1 after printing why.
 */
int httpd_listen_again(int fd);

/* Open the access log ("-": standard output).  0, or -1 with errno. */
int httpd_log_open(const char *path);
/* 1 when an access log is open. */
int httpd_log_on(void);
/*
 * One request in the Common Log Format: host ident authuser [date]
 * "request" status bytes (bytes: the body, "-" for none).  Characters of
 * the request that could forge a line or a field are escaped as \xHH.
 */
void httpd_log(const char *peer, const char *request, int status, long long bytes);
/* Write out what is buffered (once per loop turn).  The log functions
 * may be called from several workers' threads: one lock, a line at a
 * time. */
void httpd_log_flush(void);
/* Flush and close the access log. */
void httpd_log_close(void);

/*
 * Open the document root into *root, note the certificate and key files
 * (never served), load the content types and open the access log.  0, or
 * -1 after naming the file that could not be loaded.
 */
int httpd_load_files(const struct httpd_opts *o, struct httpd_root *root);
/* The server config: certificate and key, ALPN http/1.1 and http/1.0,
 * tickets.  NULL after naming the files that could not be loaded. */
kitls_config *httpd_config_new(const struct httpd_opts *o);
/* --ktls: say at start why connections will stay in userspace, if they
 * will (flags: kitls_uring_params.flags). */
void httpd_ktls_log_start(unsigned flags);
/* The peer of socket fd as text (IPv4-mapped IPv6 shown as IPv4; "" if
 * unknown). */
void httpd_peer_name(int fd, char *out, size_t outlen);
/* Resident memory in KiB (-1 if unknown). */
long httpd_rss_kb(void);

#endif
