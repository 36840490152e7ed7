/*
 * What sessions bind and carry beyond the PSK (session.c has the formats):
 * the peer's certificate, shared between a connection and its sessions,
 * and the server config's context that tickets are bound to (review F2:
 * a ticket resumes only under the client-authentication policy that
 * issued it).
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"

struct kitls_der *kitls_der_new(const uint8_t *der, size_t len)
{
    struct kitls_der *d = malloc(sizeof(*d) + len);
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
        free(d);
}

/* A resumed connection authenticates with the PSK only: it reports the
 * peer as the connection its session came from saw it (both roles), no
 * more, no less. */
void kitls_session_restore_peer(kitls_conn *c)
{
    kitls_der_free(c->peer_cert);
    c->peer_cert = kitls_der_up_ref(c->session->peer_cert);
    c->peer_authenticated = c->session->peer_auth;
}

static int cmp_digest(const void *a, const void *b) { return memcmp(a, b, 32); }

/*
 * What a ticket binds of the server's client-authentication policy: the
 * verify mode, whether a verification callback is set, and the
 * application's context, or by default the set of trust anchors (each
 * certificate's SHA-256, sorted: the set, not the order it was loaded in).
 * Computed once, when the config freezes.
 */
int kitls_session_ctx_init(kitls_config *cfg)
{
    static const char label[] = "kitls ticket context 1";
    uint8_t policy[3] = {(uint8_t)cfg->verify, cfg->verify_cb != NULL, cfg->sess_tag != NULL};
    uint8_t *anchors = NULL;
    size_t n = 0;
    int ret = KITLS_E_CRYPTO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(md, label, sizeof(label)) || !EVP_DigestUpdate(md, policy, 3))
        goto out;
    if (cfg->sess_tag) {
        uint8_t len = (uint8_t)cfg->sess_tag_len;
        if (!EVP_DigestUpdate(md, &len, 1) ||
            !EVP_DigestUpdate(md, cfg->sess_tag, cfg->sess_tag_len))
            goto out;
    } else if (cfg->verify != KITLS_VERIFY_NONE) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(cfg->store);
        int k = sk_X509_OBJECT_num(objs);
        if (k > 0 && !(anchors = malloc((size_t)k * 32))) {
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
    free(anchors);
    EVP_MD_CTX_free(md);
    return ret;
}
