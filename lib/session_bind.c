/*
 * What sessions bind and carry beyond the PSK (session.c has the formats):
 * the peer's certificate, shared between a connection and its sessions;
 * the config's verification policy (a server's ticket resumes only under
 * the client-authentication policy that issued it, review F2; a client
 * offers a session only under the server-verification policy that made
 * it); and the age of the original authentication (RFC 8446 §4.6.1).
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

/* The session object's references (session.c makes and parses them). */
kitls_session *kitls_session_up_ref(kitls_session *s)
{
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void kitls_session_free(kitls_session *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    kitls_free(s->ticket);
    kitls_der_free(s->peer_cert);
    kitls_wipe(s, sizeof(*s));
    kitls_free(s);
}

uint32_t kitls_session_max_early_data(const kitls_session *s)
{
    return s ? s->max_early : 0;
}
uint32_t kitls_session_lifetime(const kitls_session *s)
{
    return s ? s->lifetime : 0;
}

struct kitls_der *kitls_der_new(const uint8_t *der, size_t len)
{
    struct kitls_der *d = kitls_malloc(sizeof(*d) + len);
    if (d) {
        d->refs = 1;
        d->len = len;
        memcpy(d->der, der, len);
    }
    return d;
}

struct kitls_der *kitls_der_up_ref(struct kitls_der *d)
{
    if (d)
        __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
    return d;
}

void kitls_der_free(struct kitls_der *d)
{
    if (d && __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) == 0)
        kitls_free(d);
}

/* A resumed connection authenticates with the PSK only: it reports the
 * peer as the connection its session came from saw it (both roles), no
 * more, no less. */
void kitls_session_restore_peer(kitls_conn *c)
{
    kitls_x509_peer_restore(c, c->res.session);
}

/*
 * RFC 8446 §4.6.1: tickets issued on resumed connections could otherwise
 * extend the original authentication indefinitely; implementations
 * SHOULD limit the total lifetime, taking the peer certificate's into
 * account.  So a session stands for its authentication for at most
 * KITLS_MAX_AUTH_AGE (the longest ticket lifetime) after it was made, and
 * only before the notAfter of the chain that was verified (at notAfter
 * itself libcrypto's verifier already counts a certificate as expired:
 * resumption accepts no more than a full handshake would).  Values of a
 * deserialized session come from the application: a time in the future
 * is refused too, and the age is taken in unsigned arithmetic.
 */
int kitls_session_auth_fresh(const kitls_session *s, int64_t now)
{
    return now >= s->auth_time && (uint64_t)now - (uint64_t)s->auth_time <= KITLS_MAX_AUTH_AGE &&
           now < s->not_after;
}

/* Is the session's server the one this connection wants?  Resumption
 * checks no certificate, so a session goes only to the name it was
 * verified for (the client's own name: s->sni may be an IP address).  DNS
 * names compare case-insensitively (RFC 4343); an IP address never
 * matches a DNS name; a session made without a name goes only to a
 * connection without one. */
static int session_name_ok(const kitls_session *s, const kitls_conn *c)
{
    if (!c->ext.sni)
        return s->sni[0] == 0;
    return s->sni[0] && kitls_name_is_ip(s->sni) == c->ext.sni_is_ip &&
           kitls_name_eq(s->sni, c->ext.sni);
}

/*
 * Client: the PSK stands in for the server's certificate check, so it is
 * offered only where that check would have passed the same way: for the
 * same name, under the same verification policy (sess_ctx: mode, name
 * checks, OCSP policy, callback, trust anchors or the application's
 * context; review C1), by a config that verifies only if the original
 * connection authenticated the server, and while that authentication is
 * fresh (RFC 8446 §4.6.1).  Otherwise a full handshake follows.
 */
int kitls_session_offerable(const kitls_conn *c, int64_t now)
{
    const kitls_session *s = c->res.session;
    return session_name_ok(s, c) && !memcmp(s->ctx, c->cfg->sess_ctx, sizeof(s->ctx)) &&
           (c->cfg->verify == KITLS_VERIFY_NONE || s->peer_auth) &&
           kitls_session_auth_fresh(s, now);
}

static int cmp_digest(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/*
 * What sessions and tickets bind of the config's verification policy: the
 * role, the verify mode, whether a verification callback is set, for a
 * client whether names are checked and its OCSP policy, and the
 * application's context, or by default the trust anchors (each
 * certificate's SHA-256, sorted: the set, not the order it was loaded in)
 * and whether the system's default paths were added (a hash directory:
 * its certificates cannot be listed).  Computed once, when the config
 * freezes (kitls_config_freeze).
 */
int kitls_session_ctx_init(kitls_config *cfg)
{
    static const char label[] = "kitls session context 3";
    int client = cfg->role == KITLS_ROLE_CLIENT;
    uint8_t policy[7] = {(uint8_t)cfg->role,
                         (uint8_t)cfg->verify,
                         cfg->verify_cb != NULL,
                         (uint8_t)(client && cfg->verify_name),
                         (uint8_t)(client ? cfg->ocsp_policy : 0),
                         cfg->sess_tag != NULL,
                         (uint8_t)(!cfg->sess_tag && cfg->store_system)};
    uint8_t *anchors = NULL;
    size_t n = 0;
    int ret = KITLS_E_CRYPTO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(md, label, sizeof(label)) ||
        !EVP_DigestUpdate(md, policy, sizeof(policy)))
        goto out;
    if (cfg->sess_tag) {
        uint8_t len = (uint8_t)cfg->sess_tag_len;
        if (!EVP_DigestUpdate(md, &len, 1) ||
            !EVP_DigestUpdate(md, cfg->sess_tag, cfg->sess_tag_len))
            goto out;
    } else if (cfg->verify != KITLS_VERIFY_NONE) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(cfg->store);
        int k = sk_X509_OBJECT_num(objs);
        if (k > 0 && !(anchors = kitls_malloc((size_t)k * 32))) {
            ret = KITLS_E_NOMEM;
            goto out;
        }
        for (int i = 0; i < k; i++) {
            X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
            if (x && !X509_digest(x, EVP_sha256(), anchors + 32 * n++, NULL))
                goto out;
        }
        if (n)
            qsort(anchors, n, 32, cmp_digest);
        if (n && !EVP_DigestUpdate(md, anchors, 32 * n))
            goto out;
    }
    if (EVP_DigestFinal_ex(md, cfg->sess_ctx, NULL))
        ret = 0;
out:
    kitls_free(anchors);
    EVP_MD_CTX_free(md);
    return ret;
}
