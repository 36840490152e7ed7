/*
 * OCSP stapling: status_request (RFC 6066 §8) in TLS 1.3, where the
 * response travels in the leaf's CertificateEntry (RFC 8446 §4.4.2.1).
 * Responses are verified with libcrypto's OCSP code (signer chain or a
 * delegated responder with the OCSP-signing EKU) and our own clock.
 */
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

int kitls_config_set_ocsp_policy(kitls_config *cfg, enum kitls_ocsp_policy p)
{
    if (!cfg || p > KITLS_OCSP_REQUEST_ONLY)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->ocsp_policy = p;
    return 0;
}

int kitls_config_set_ocsp_skew(kitls_config *cfg, uint32_t seconds)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->ocsp_skew = seconds;
    return 0;
}

int kitls_conn_ocsp_status(const kitls_conn *c)
{
    return c->ocsp.status;
}

static int64_t asn1_time_to_epoch(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    return (int64_t)timegm(&tm);
}

/* The single response for `cert` (issued by `issuer`) in a basic response. */
static int find_status(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer, int *status, int64_t *this_upd,
                       int64_t *next_upd)
{
    ASN1_GENERALIZEDTIME *tu = NULL, *nu = NULL, *rev = NULL;
    int reason = 0;
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
    if (!id)
        return 0;
    int found = OCSP_resp_find_status(bs, id, status, &reason, &rev, &tu, &nu) == 1;
    OCSP_CERTID_free(id);
    if (!found)
        return 0;
    *this_upd = asn1_time_to_epoch(tu);
    *next_upd = nu ? asn1_time_to_epoch(nu) : -1;
    return 1;
}

int kitls_config_set_ocsp_staple(kitls_config *cfg, size_t index, const uint8_t *der, size_t len)
{
    if (!cfg || index >= cfg->n_certs || (!der && len))
        return KITLS_E_INVALID_ARG;
    struct kitls_cert *cert = &cfg->certs[index];
    uint8_t *copy = NULL;
    int64_t next = -1;
    if (len) {
        const unsigned char *p = der;
        OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
        OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
        X509 *issuer = NULL;
        int status, ok = 0;
        int64_t tu;
        if (cert->n > 1) {
            const unsigned char *q = cert->der[1];
            issuer = d2i_X509(NULL, &q, (long)cert->der_len[1]);
        } else {
            /* A chain of one: the issuer may be among our trust anchors. */
            X509_STORE_CTX *sctx = X509_STORE_CTX_new();
            if (sctx && X509_STORE_CTX_init(sctx, cfg->store, cert->leaf, NULL) == 1 &&
                X509_STORE_CTX_get1_issuer(&issuer, sctx, cert->leaf) != 1)
                issuer = NULL;
            X509_STORE_CTX_free(sctx);
        }
        ok = bs && issuer && p == der + len &&
             OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
             find_status(bs, cert->leaf, issuer, &status, &tu, &next) &&
             status != V_OCSP_CERTSTATUS_REVOKED;
        X509_free(issuer);
        OCSP_BASICRESP_free(bs);
        OCSP_RESPONSE_free(resp);
        ERR_clear_error();
        if (!ok)
            return KITLS_E_CONFIG;
        copy = kitls_malloc(len);
        if (!copy)
            return KITLS_E_NOMEM;
        memcpy(copy, der, len);
    }
    pthread_rwlock_wrlock(&cfg->ocsp_lock);
    kitls_free(cert->ocsp);
    cert->ocsp = copy;
    cert->ocsp_len = len;
    cert->ocsp_next_update = next;
    pthread_rwlock_unlock(&cfg->ocsp_lock);
    return 0;
}

static int set_blob(kitls_config *cfg, uint8_t **dst, size_t *dst_len, const uint8_t *src,
                    size_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = kitls_malloc(len);
        if (!copy)
            return KITLS_E_NOMEM;
        memcpy(copy, src, len);
    }
    pthread_rwlock_wrlock(&cfg->ocsp_lock);
    kitls_free(*dst);
    *dst = copy;
    *dst_len = len;
    pthread_rwlock_unlock(&cfg->ocsp_lock);
    return 0;
}

int kitls_config_set_ocsp_staple_unchecked(kitls_config *cfg, size_t index, const uint8_t *der,
                                           size_t len)
{
    if (!cfg || index >= cfg->n_certs || (!der && len))
        return KITLS_E_INVALID_ARG;
    cfg->certs[index].ocsp_next_update = -1;
    return set_blob(cfg, &cfg->certs[index].ocsp, &cfg->certs[index].ocsp_len, der, len);
}

int kitls_sct_list_valid(const uint8_t *list, size_t len)
{
    /* RFC 6962 §3.3: SerializedSCT sct_list <1..2^16-1>, each
     * opaque SerializedSCT<1..2^16-1>. */
    struct rd r, l, sct;
    rd_init(&r, list, len);
    if (rd_sub(&r, 2, &l) || !rd_empty(&r) || rd_empty(&l))
        return 0;
    while (!rd_empty(&l))
        if (rd_sub(&l, 2, &sct) || rd_empty(&sct))
            return 0;
    return 1;
}

int kitls_config_set_sct_list(kitls_config *cfg, size_t index, const uint8_t *list, size_t len)
{
    if (!cfg || index >= cfg->n_certs || (!list && len) || len > 65535 ||
        (len && !kitls_sct_list_valid(list, len)))
        return KITLS_E_INVALID_ARG;
    return set_blob(cfg, &cfg->certs[index].sct, &cfg->certs[index].sct_len, list, len);
}

int kitls_config_set_request_sct(kitls_config *cfg, int on)
{
    if (!cfg)
        return KITLS_E_INVALID_ARG;
    if (cfg->frozen)
        return KITLS_E_STATE;
    cfg->request_sct = !!on;
    return 0;
}

int kitls_sct_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **list, size_t *len)
{
    int ret = 0;
    *list = NULL;
    *len = 0;
    if (!c->ocsp.sct_requested)
        return 0;
    pthread_rwlock_rdlock(&c->cfg->ocsp_lock);
    if (cert->sct && (*list = kitls_malloc(cert->sct_len)) != NULL) {
        memcpy(*list, cert->sct, cert->sct_len);
        *len = cert->sct_len;
        ret = 1;
    }
    pthread_rwlock_unlock(&c->cfg->ocsp_lock);
    return ret;
}

int kitls_ocsp_staple_get(kitls_conn *c, const struct kitls_cert *cert, uint8_t **der, size_t *len)
{
    kitls_config *cfg = c->cfg;
    int ret = 0;
    *der = NULL;
    *len = 0;
    if (!c->ocsp.status_requested)
        return 0;
    pthread_rwlock_rdlock(&cfg->ocsp_lock);
    /* Never staple a response past its nextUpdate. */
    if (cert->ocsp &&
        (cert->ocsp_next_update < 0 || cert->ocsp_next_update > kitls_config_now(cfg))) {
        *der = kitls_malloc(cert->ocsp_len);
        if (*der) {
            memcpy(*der, cert->ocsp, cert->ocsp_len);
            *len = cert->ocsp_len;
            ret = 1;
        }
    }
    pthread_rwlock_unlock(&cfg->ocsp_lock);
    return ret;
}

/* The leaf asks for stapling with the TLS Feature extension (RFC 7633). */
static int must_staple(X509 *leaf)
{
    TLS_FEATURE *f = X509_get_ext_d2i(leaf, NID_tlsfeature, NULL, NULL);
    int found = 0;
    for (int i = 0; f && i < sk_ASN1_INTEGER_num(f); i++)
        found |= ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, i)) == 5;
    sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
    return found;
}

/* why: the enum kitls_stats_ocsp_failure slot counted (without its prefix). */
#define FAIL(code, why, ...)                                                                       \
    do {                                                                                           \
        KITLS_STAT_INC(c->cfg, ocsp_failures[KITLS_STATS_OCSP_##why]);                             \
        kitls_conn_set_detail(c, __VA_ARGS__);                                                     \
        ret = (code);                                                                              \
        goto out;                                                                                  \
    } while (0)

int kitls_ocsp_check(kitls_conn *c, X509 *leaf, STACK_OF(X509) * chain)
{
    kitls_config *cfg = c->cfg;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    int ret = 0, status;
    int64_t tu, nu;
    int policy = cfg->ocsp_policy;
    if (policy == KITLS_OCSP_OFF || policy == KITLS_OCSP_REQUEST_ONLY)
        return 0;
    if (policy == KITLS_OCSP_USE_IF_STAPLED && must_staple(leaf))
        policy = KITLS_OCSP_REQUIRE;
    if (!c->ocsp.staple) {
        if (policy == KITLS_OCSP_REQUIRE) {
            KITLS_STAT_INC(c->cfg, ocsp_failures[KITLS_STATS_OCSP_MISSING]);
            kitls_conn_set_detail(c, "no OCSP response stapled");
            return KITLS_E_OCSP_REQUIRED;
        }
        return 0;
    }
    c->ocsp.status = 2;
    X509 *issuer = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
    const unsigned char *p = c->ocsp.staple;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)c->ocsp.staple_len);
    if (!resp || p != c->ocsp.staple + c->ocsp.staple_len)
        FAIL(KITLS_E_OCSP_INVALID, MALFORMED, "OCSP response does not parse");
    if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        FAIL(KITLS_E_OCSP_INVALID, MALFORMED, "OCSP response status %d",
             OCSP_response_status(resp));
    bs = OCSP_response_get1_basic(resp);
    if (!bs || !issuer)
        FAIL(KITLS_E_OCSP_INVALID, MALFORMED, "OCSP response has no basic response or no issuer");
    /* Signed by the issuer itself (already verified as part of the chain:
     * only the signature is checked), or by a responder it delegated to
     * (OCSP-signing EKU, issued by the issuer, chaining to our store).  No
     * other certificate of the chain speaks for the issuer: trusting the
     * whole chain (OCSP_TRUSTOTHER) would accept a response signed with the
     * leaf's own key, or by a CA above the issuer (RFC 6960 §4.2.2.2). */
    STACK_OF(X509) *signer = sk_X509_new_null();
    int signed_ok = signer && sk_X509_push(signer, issuer) &&
                    OCSP_basic_verify(bs, signer, cfg->store, OCSP_TRUSTOTHER | OCSP_NOINTERN) == 1;
    sk_X509_free(signer);
    if (!signed_ok)
        signed_ok = OCSP_basic_verify(bs, chain, cfg->store, 0) == 1;
    if (!signed_ok)
        FAIL(KITLS_E_OCSP_INVALID, UNTRUSTED, "OCSP response signature or responder not trusted");
    if (!find_status(bs, leaf, issuer, &status, &tu, &nu))
        FAIL(KITLS_E_OCSP_INVALID, MISMATCH, "OCSP response does not cover the certificate");
    int64_t now = kitls_config_now(cfg), skew = cfg->ocsp_skew;
    if (tu < 0 || tu > now + skew)
        FAIL(KITLS_E_OCSP_INVALID, NOT_YET_VALID, "OCSP response thisUpdate is in the future");
    if (nu >= 0 && nu < now - skew)
        FAIL(KITLS_E_OCSP_INVALID, EXPIRED, "OCSP response expired (nextUpdate passed)");
    if (status == V_OCSP_CERTSTATUS_REVOKED)
        FAIL(KITLS_E_CERT_REVOKED, REVOKED, "certificate revoked (OCSP)");
    if (status != V_OCSP_CERTSTATUS_GOOD)
        FAIL(KITLS_E_OCSP_INVALID, UNKNOWN, "OCSP status unknown");
    c->ocsp.status = 1;
out:
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return ret;
}

void kitls_ocsp_staple_forget(kitls_conn *c)
{
    c->ocsp.staple = NULL;
    c->ocsp.staple_len = 0;
}
