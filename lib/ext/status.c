/* Certificate status: status_request (OCSP stapling, RFC 6066 §8, RFC 8446
 * §4.4.2.1) and signed_certificate_timestamp (RFC 6962 §3.3): asked for in
 * the ClientHello, answered in the leaf's Certificate entry. */
#include <stdlib.h>
#include <string.h>

#include "../hs.h"

static int write_status(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_CH) {
        if (c->cfg->ocsp_policy == KITLS_OCSP_OFF)
            return 0;
        /* status_request: ocsp, no responder ids, no extensions. */
        size_t e = kitls_ext_open(c, x, EXT_STATUS_REQUEST);
        wr_u8(x->w, 1);
        wr_u16(x->w, 0);
        wr_u16(x->w, 0);
        wr_end(x->w, e, 2);
        return 0;
    }
    /* Certificate: the leaf's CertificateStatus (RFC 8446 §4.4.2.1). */
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (!kitls_ocsp_staple_get(c, c->cert, &blob, &blob_len))
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_STATUS_REQUEST);
    wr_u8(x->w, 1); /* ocsp */
    size_t r = wr_begin(x->w, 3);
    wr_put(x->w, blob, blob_len);
    wr_end(x->w, r, 3);
    wr_end(x->w, e, 2);
    kitls_free(blob);
    return 0;
}

/* Server: a CertificateStatusRequest; only ocsp is known (RFC 6066 §8). */
static int parse_status_ch(kitls_conn *c, struct rd d)
{
    uint8_t type;
    struct rd ids, exts;
    GUARD(rd_u8(&d, &type));
    if (type == 1) {
        GUARD(rd_sub(&d, 2, &ids));
        GUARD(rd_sub(&d, 2, &exts));
        GUARD(rd_expect_empty(&d));
        c->ocsp.status_requested = 1;
    }
    return 0;
}

/* Client: the leaf's stapled OCSP response, kept for the application and
 * checked with the chain (c->ocsp.staple points into the message). */
static int parse_status_ct(kitls_conn *c, struct rd r)
{
    struct rd resp;
    uint8_t type;
    GUARD(rd_u8(&r, &type));
    GUARD(rd_sub(&r, 3, &resp));
    GUARD(rd_expect_empty(&r));
    if (type != 1 || rd_empty(&resp))
        return KITLS_E_DECODE;
    c->ocsp.staple = resp.p;
    c->ocsp.staple_len = rd_left(&resp);
    kitls_free(c->ocsp.resp);
    if ((c->ocsp.resp = kitls_malloc(c->ocsp.staple_len)) == NULL)
        return KITLS_E_NOMEM;
    memcpy(c->ocsp.resp, resp.p, c->ocsp.staple_len);
    c->ocsp.resp_len = c->ocsp.staple_len;
    return 0;
}

static int parse_status(kitls_conn *c, struct ext_ctx *x, struct rd d)
{
    if (x->msg == EXT_IN_CH)
        return parse_status_ch(c, d);
    return x->msg == EXT_IN_CT ? parse_status_ct(c, d) : 0;
}

const struct ext_type kitls_ext_status_request = {
    .type = EXT_STATUS_REQUEST,
    .recv_in = EXT_IN_CH | EXT_IN_CR | EXT_IN_CT,
    .write = write_status,
    .parse = parse_status,
};

static int write_sct(kitls_conn *c, struct ext_ctx *x)
{
    if (x->msg == EXT_IN_CH) {
        if (c->cfg->request_sct)
            wr_end(x->w, kitls_ext_open(c, x, EXT_SCT), 2);
        return 0;
    }
    /* Certificate: the SignedCertificateTimestampList, as configured. */
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (!kitls_sct_get(c, c->cert, &blob, &blob_len))
        return 0;
    size_t e = kitls_ext_open(c, x, EXT_SCT);
    wr_put(x->w, blob, blob_len);
    wr_end(x->w, e, 2);
    kitls_free(blob);
    return 0;
}

static int parse_sct(kitls_conn *c, struct ext_ctx *x, struct rd d)
{
    if (x->msg == EXT_IN_CH) {
        GUARD(rd_expect_empty(&d));
        c->ocsp.sct_requested = 1;
        return 0;
    }
    if (x->msg != EXT_IN_CT)
        return 0;
    /* RFC 6962 §3.3: an empty list or an empty SCT is malformed. */
    if (!kitls_sct_list_valid(d.p, rd_left(&d)))
        return KITLS_E_DECODE;
    kitls_free(c->ocsp.sct_list);
    if ((c->ocsp.sct_list = kitls_malloc(rd_left(&d))) == NULL)
        return KITLS_E_NOMEM;
    memcpy(c->ocsp.sct_list, d.p, rd_left(&d));
    c->ocsp.sct_list_len = rd_left(&d);
    return 0;
}

const struct ext_type kitls_ext_sct = {
    .type = EXT_SCT,
    .recv_in = EXT_IN_CH | EXT_IN_CR | EXT_IN_CT,
    .write = write_sct,
    .parse = parse_sct,
};
