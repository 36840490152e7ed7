/* Certificate authentication: signature_algorithms and
 * signature_algorithms_cert (RFC 8446 §4.2.3), certificate_authorities
 * (§4.2.4) and post_handshake_auth (§4.2.6). */
#include <openssl/x509.h>

#include "../hs.h"

int kitls_ext_parse_sigalgs(kitls_conn *c, struct rd data)
{
    struct rd list;
    GUARD(rd_sub(&data, 2, &list));
    GUARD(rd_expect_empty(&data));
    if (rd_empty(&list) || rd_left(&list) % 2)
        return KITLS_E_DECODE;
    c->ext.n_peer_sigalgs = 0;
    while (!rd_empty(&list)) {
        uint16_t id;
        GUARD(rd_u16(&list, &id));
        /* Keep the ones we know, up to the array size; ignore the rest. */
        if (kitls_sigalg_find(id) &&
            c->ext.n_peer_sigalgs < sizeof(c->ext.peer_sigalgs) / sizeof(c->ext.peer_sigalgs[0]))
            c->ext.peer_sigalgs[c->ext.n_peer_sigalgs++] = id;
    }
    return 0;
}

void kitls_ext_write_sigalgs(kitls_conn *c, struct wr *w)
{
    size_t at = wr_begin(w, 2);
    for (size_t i = 0; i < c->cfg->n_sigalgs; i++)
        wr_u16(w, c->cfg->sigalgs[i]);
    wr_end(w, at, 2);
}

static int write_sigalgs(kitls_conn *c, struct ext_ctx *x)
{
    size_t e = kitls_ext_open(c, x, EXT_SIGNATURE_ALGORITHMS);
    if (x->msg == EXT_IN_CH && c->cfg->grease) {
        size_t v = wr_begin(x->w, 2);
        wr_u16(x->w, kitls_grease(c, KITLS_GREASE_SIGALG));
        for (size_t i = 0; i < c->cfg->n_sigalgs; i++)
            wr_u16(x->w, c->cfg->sigalgs[i]);
        wr_end(x->w, v, 2);
    } else {
        kitls_ext_write_sigalgs(c, x->w);
    }
    wr_end(x->w, e, 2);
    return 0;
}

static int parse_sigalgs(kitls_conn *c, struct ext_ctx *x, struct rd data)
{
    (void)x;
    return kitls_ext_parse_sigalgs(c, data);
}

/* Required in a CertificateRequest (§4.3.2).  In a ClientHello its absence
 * is judged once we know whether we resume (hs_server.c negotiate, §9.2). */
static int sigalgs_missing(kitls_conn *c, struct ext_ctx *x)
{
    (void)c;
    return x->msg == EXT_IN_CR ? KITLS_E_MISSING_EXTENSION : 0;
}

const struct ext_type kitls_ext_sigalgs = {
    .type = EXT_SIGNATURE_ALGORITHMS,
    .recv_in = EXT_IN_CH | EXT_IN_CR,
    .write = write_sigalgs,
    .parse = parse_sigalgs,
    .if_missing = sigalgs_missing,
};

/* Not sent; received ones are ignored (we judge chains by
 * signature_algorithms alone, as §4.2.3 allows when it is absent). */
const struct ext_type kitls_ext_sigalgs_cert = {
    .type = EXT_SIGNATURE_ALGORITHMS_CERT,
    .recv_in = EXT_IN_CH | EXT_IN_CR,
};

/* We never offer post-handshake authentication. */
const struct ext_type kitls_ext_post_hs_auth = {
    .type = EXT_POST_HANDSHAKE_AUTH,
    .recv_in = EXT_IN_CH,
};

/* certificate_authorities: our trust anchors' subjects (§4.2.4) in a
 * CertificateRequest.  authorities<3..2^16-1> cannot be empty: with no
 * anchor, the extension is left out. */
static int write_cas(kitls_conn *c, struct ext_ctx *x)
{
    struct wr *w = x->w;
    if (!c->cfg->send_ca_names)
        return 0;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(c->cfg->store);
    size_t ext_at = w->len;
    size_t e = kitls_ext_open(c, x, EXT_CERTIFICATE_AUTHORITIES);
    size_t list = wr_begin(w, 2);
    int names = 0;
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        unsigned char *der = NULL;
        int n = cert ? i2d_X509_NAME(X509_get_subject_name(cert), &der) : 0;
        if (n > 0) {
            wr_u16(w, (uint16_t)n);
            wr_put(w, der, (size_t)n);
            names++;
        }
        OPENSSL_free(der);
    }
    wr_end(w, list, 2);
    wr_end(w, e, 2);
    if (!names)
        w->len = ext_at;
    return 0;
}

static int read_cas(struct rd r, struct rd *list)
{
    GUARD(rd_sub(&r, 2, list));
    GUARD(rd_expect_empty(&r));
    return rd_empty(list) ? KITLS_E_DECODE : 0;
}

int kitls_ext_cas_ch(const struct ext_list *l, struct rd *cas)
{
    const struct ext_entry *ca = kitls_ext_get(l, EXT_CERTIFICATE_AUTHORITIES);
    *cas = (struct rd){NULL, NULL};
    return ca ? read_cas(ca->data, cas) : 0;
}

/* Client: keep the CertificateRequest's names for the application. */
static int parse_cas(kitls_conn *c, struct ext_ctx *x, struct rd data)
{
    struct rd list;
    if (x->msg != EXT_IN_CR)
        return 0; /* ClientHello: kitls_ext_cas_ch() in pick_cert */
    GUARD(read_cas(data, &list));
    return kitls_conn_keep(&c->ext.peer_cas, &c->ext.peer_cas_len, list.p, rd_left(&list));
}

const struct ext_type kitls_ext_cert_authorities = {
    .type = EXT_CERTIFICATE_AUTHORITIES,
    .recv_in = EXT_IN_CH | EXT_IN_CR,
    .write = write_cas,
    .parse = parse_cas,
};
