/*
 * What a connection tells its user once the handshake has run: the
 * negotiated parameters, the peer's certificate and extensions, traffic
 * keys for kernel offload and RFC 8446 §7.5 exporters; and the small
 * setters the handshake uses to record them.
 */
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs.h"

int kitls_conn_error(const kitls_conn *c)
{
    return c->error;
}
int kitls_conn_peer_alert(const kitls_conn *c)
{
    return c->peer_alert;
}
const char *kitls_conn_verify_detail(const kitls_conn *c)
{
    return c->verify_detail ? c->verify_detail : "";
}

int kitls_conn_set_alpn_name(kitls_conn *c, const uint8_t *p, size_t n)
{
    char *a = kitls_malloc(n + 1);
    if (!a)
        return KITLS_E_NOMEM;
    memcpy(a, p, n);
    a[n] = 0;
    kitls_free(c->ext.alpn);
    c->ext.alpn = a;
    return 0;
}

void kitls_conn_set_detail(kitls_conn *c, const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    kitls_free(c->verify_detail);
    c->verify_detail = kitls_strdup(buf); /* NULL on failure: the detail is optional */
}
uint16_t kitls_conn_suite(const kitls_conn *c)
{
    return c->suite ? c->suite->id : 0;
}
uint16_t kitls_conn_group(const kitls_conn *c)
{
    return c->group ? c->group->id : 0;
}
uint16_t kitls_conn_sigalg(const kitls_conn *c)
{
    return c->server ? c->sigalg : c->peer_sigalg;
}
uint16_t kitls_conn_peer_sigalg(const kitls_conn *c)
{
    return c->peer_sigalg;
}
const char *kitls_conn_alpn(const kitls_conn *c)
{
    return c->ext.alpn;
}
const char *kitls_conn_server_name(const kitls_conn *c)
{
    return c->ext.sni;
}
int kitls_conn_did_hrr(const kitls_conn *c)
{
    return c->did_hrr;
}
int kitls_conn_peer_authenticated(const kitls_conn *c)
{
    return c->peer.authenticated;
}
size_t kitls_conn_max_send_fragment(const kitls_conn *c)
{
    return kitls_conn_max_fragment(c);
}

const uint8_t *kitls_conn_peer_cert(const kitls_conn *c, size_t *len)
{
    *len = c->peer.cert ? c->peer.cert->len : 0;
    return c->peer.cert ? c->peer.cert->der : NULL;
}

int kitls_conn_set_max_send_fragment(kitls_conn *c, size_t n)
{
    if (!c || (n && (n < 64 || n > KITLS_MAX_PLAINTEXT)))
        return KITLS_E_INVALID_ARG;
    c->max_send = n;
    return 0;
}

const uint16_t *kitls_conn_peer_sigalgs(const kitls_conn *c, size_t *n)
{
    *n = c->ext.n_peer_sigalgs;
    return c->ext.n_peer_sigalgs ? c->ext.peer_sigalgs : NULL;
}

const uint8_t *kitls_conn_ocsp_response(const kitls_conn *c, size_t *len)
{
    *len = c->ocsp.resp_len;
    return c->ocsp.resp;
}

const uint8_t *kitls_conn_sct_list(const kitls_conn *c, size_t *len)
{
    *len = c->ocsp.sct_list_len;
    return c->ocsp.sct_list;
}

/* TLS-Exporter(label, context, L) = HKDF-Expand-Label(
 *     Derive-Secret(secret, label, ""), "exporter", Hash(context), L)  (§7.5) */
static int exporter(const kitls_conn *c, const uint8_t *secret, const char *label,
                    const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len)
{
    const struct kitls_suite *s = c->suite;
    uint8_t empty[KITLS_MAX_HASH], ch[KITLS_MAX_HASH], derived[KITLS_MAX_HASH];
    size_t hl = s->hash_len;
    if (!label || strlen(label) > 249 || (!context && context_len) || out_len > 255 * hl)
        return KITLS_E_INVALID_ARG;
    if (!EVP_Digest("", 0, empty, NULL, s->md, NULL) ||
        !EVP_Digest(context ? context : (const uint8_t *)"", context_len, ch, NULL, s->md, NULL))
        return KITLS_E_CRYPTO;
    int ret = kitls_hkdf_expand_label(s->md, secret, hl, label, empty, hl, derived, hl);
    if (!ret)
        ret = kitls_hkdf_expand_label(s->md, derived, hl, "exporter", ch, hl, out, out_len);
    kitls_wipe(derived, sizeof(derived));
    return ret;
}

int kitls_conn_export_keying_material(kitls_conn *c, const char *label, const uint8_t *context,
                                      size_t context_len, uint8_t *out, size_t out_len)
{
    if (!c || (!out && out_len))
        return KITLS_E_INVALID_ARG;
    if (!c->established)
        return KITLS_E_STATE;
    return exporter(c, c->exp_master, label, context, context_len, out, out_len);
}

int kitls_conn_export_early_keying_material(kitls_conn *c, const char *label,
                                            const uint8_t *context, size_t context_len,
                                            uint8_t *out, size_t out_len)
{
    if (!c || (!out && out_len))
        return KITLS_E_INVALID_ARG;
    if (!c->early.has_exp || !c->suite)
        return KITLS_E_STATE;
    return exporter(c, c->early.exp, label, context, context_len, out, out_len);
}

const uint8_t *kitls_conn_peer_alpn_list(const kitls_conn *c, size_t *len)
{
    *len = c->ext.peer_alpn_len;
    return c->ext.peer_alpn;
}

const uint8_t *kitls_conn_peer_ca_names(const kitls_conn *c, size_t *len)
{
    *len = c->ext.peer_cas_len;
    return c->ext.peer_cas;
}

/* Keep a copy of a peer-sent list for the application. */
int kitls_conn_keep(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n)
{
    uint8_t *copy = kitls_malloc(n ? n : 1);
    if (!copy)
        return KITLS_E_NOMEM;
    if (n)
        memcpy(copy, p, n);
    kitls_free(*dst);
    *dst = copy;
    *dst_len = n;
    return 0;
}

uint64_t kitls_conn_key_update_limit(const kitls_conn *c)
{
    if (c->cfg->key_update_limit)
        return c->cfg->key_update_limit;
    if (!c->suite)
        return 0;
    return c->suite->id == KITLS_CHACHA20_POLY1305_SHA256 ? (1ull << 40) : (1ull << 24);
}
