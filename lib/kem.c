/* Hybrid ML-KEM-768 + ECDH groups (draft-ietf-tls-ecdhe-mlkem) on libcrypto's ML-KEM. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "codec.h"
#include "kem.h"

/* libcrypto's algorithm name (OpenSSL 3.5 EVP_PKEY-ML-KEM(7)). */
#define MLKEM "ML-KEM-768"

static pthread_once_t kem_once = PTHREAD_ONCE_INIT;
static int kem_ok;

/* Fetched by name at run time, never linked against: the same binary
 * gains the groups when libcrypto is upgraded to one with ML-KEM.  Both
 * the key manager and the KEM must be there; a failed fetch leaves
 * errors on the queue, which we drop. */
static void kem_probe(void)
{
    ERR_set_mark();
    EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(NULL, MLKEM, NULL);
    EVP_KEM *kem = EVP_KEM_fetch(NULL, MLKEM, NULL);
    kem_ok = km && kem;
    EVP_KEM_free(kem);
    EVP_KEYMGMT_free(km);
    ERR_pop_to_mark();
}

int kitls_kem_available(void)
{
    pthread_once(&kem_once, kem_probe);
    return kem_ok;
}

int kitls_group_is_hybrid(const struct kitls_group *g)
{
    return g && g->hybrid_ec != 0;
}

int kitls_group_available(uint16_t id)
{
    const struct kitls_group *g = kitls_group_find(id);
    return g && (!kitls_group_is_hybrid(g) || kitls_kem_available());
}

size_t kitls_default_group_list(uint16_t *ids, size_t *n_shares)
{
    size_t n = 0;
    /* As OpenSSL 3.5, Go 1.24 and the browsers: the hybrid first, and a
     * client sends its share and X25519's, so a classical-only server
     * needs no HelloRetryRequest. */
    *n_shares = 1;
    if (kitls_kem_available()) {
        ids[n++] = KITLS_GROUP_X25519MLKEM768;
        *n_shares = 2;
    }
    for (size_t i = 0; i < sizeof(kitls_default_groups) / sizeof(kitls_default_groups[0]); i++)
        ids[n++] = kitls_default_groups[i];
    return n;
}

/* SecP256r1MLKEM768 puts the ECDH part first, X25519MLKEM768 the ML-KEM
 * part (draft-ietf-tls-ecdhe-mlkem §4.1-4.3: the FIPS-approved component
 * first in both). */
static int ec_first(const struct kitls_group *g)
{
    return g->id == KITLS_GROUP_SECP256R1MLKEM768;
}

size_t kitls_hyb_join(const struct kitls_group *g, const uint8_t *kem, size_t kem_len,
                      const uint8_t *ec, size_t ec_len, uint8_t *out)
{
    if (ec_first(g)) {
        memcpy(out, ec, ec_len);
        memcpy(out + ec_len, kem, kem_len);
    } else {
        memcpy(out, kem, kem_len);
        memcpy(out + kem_len, ec, ec_len);
    }
    return kem_len + ec_len;
}

int kitls_hyb_split(const struct kitls_group *g, const uint8_t *in, size_t len, size_t kem_len,
                    const uint8_t **kem, const uint8_t **ec)
{
    const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
    /* Exact sizes (§4.1-4.3): anything else is illegal_parameter. */
    if (!eg || len != kem_len + eg->share_len)
        return KITLS_E_ILLEGAL_PARAMETER;
    *ec = ec_first(g) ? in : in + kem_len;
    *kem = ec_first(g) ? in + eg->share_len : in;
    return 0;
}

static int kem_pub(EVP_PKEY *kem, uint8_t *ek)
{
    size_t n = 0;
    return EVP_PKEY_get_octet_string_param(kem, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ek,
                                           KITLS_MLKEM768_EK_LEN, &n) &&
                   n == KITLS_MLKEM768_EK_LEN
               ? 0
               : KITLS_E_CRYPTO;
}

static int ec_pub(const struct kitls_group *eg, EVP_PKEY *ec, uint8_t *pub)
{
    size_t n = eg->share_len; /* in: room (raw key); out: length */
    int ok = eg->is_ec ? EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                         pub, eg->share_len, &n)
                       : EVP_PKEY_get_raw_public_key(ec, pub, &n);
    return ok && n == eg->share_len ? 0 : KITLS_E_CRYPTO;
}

int kitls_hyb_share(const struct kitls_group *g, EVP_PKEY *ec, EVP_PKEY *kem, uint8_t *pub,
                    size_t *pub_len)
{
    const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
    uint8_t ek[KITLS_MLKEM768_EK_LEN], ep[65];
    if (!eg)
        return KITLS_E_INTERNAL;
    GUARD(kem_pub(kem, ek));
    GUARD(ec_pub(eg, ec, ep));
    *pub_len = kitls_hyb_join(g, ek, sizeof(ek), ep, eg->share_len, pub);
    return 0;
}

int kitls_hyb_keygen(const struct kitls_group *g, EVP_PKEY **ec, EVP_PKEY **kem, uint8_t *pub,
                     size_t *pub_len)
{
    const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
    uint8_t ep[65];
    size_t el;
    EVP_PKEY *k = NULL;
    if (!eg || !kitls_kem_available())
        return KITLS_E_UNAVAILABLE;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, MLKEM, NULL);
    int ok = ctx && EVP_PKEY_keygen_init(ctx) > 0 && EVP_PKEY_generate(ctx, &k) > 0;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(k);
        return KITLS_E_CRYPTO;
    }
    int ret = kitls_kex_keygen(eg, ec, ep, &el);
    if (!ret) {
        *kem = k;
        ret = kitls_hyb_share(g, *ec, k, pub, pub_len);
        if (ret) {
            EVP_PKEY_free(*ec);
            *ec = NULL;
            *kem = NULL;
        }
    }
    if (ret)
        EVP_PKEY_free(k);
    return ret;
}

int kitls_hyb_client_derive(const struct kitls_group *g, EVP_PKEY *ec, EVP_PKEY *kem,
                            const uint8_t *peer, size_t peer_len, uint8_t *out, size_t *out_len)
{
    const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
    const uint8_t *ct, *ep;
    uint8_t ss[KITLS_MLKEM768_SS_LEN], es[KITLS_MAX_HASH * 2];
    size_t ss_len = sizeof(ss), es_len = 0;
    if (!eg || !kem || !ec)
        return KITLS_E_INTERNAL;
    GUARD(kitls_hyb_split(g, peer, peer_len, KITLS_MLKEM768_CT_LEN, &ct, &ep));
    /* ML-KEM decapsulation of a well-sized ciphertext does not fail (FIPS
     * 203 §6.3, implicit rejection): a bad one makes a wrong secret and
     * the server's Finished then fails. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, kem, NULL);
    int ok = ctx && EVP_PKEY_decapsulate_init(ctx, NULL) > 0 &&
             EVP_PKEY_decapsulate(ctx, ss, &ss_len, ct, KITLS_MLKEM768_CT_LEN) > 0 &&
             ss_len == KITLS_MLKEM768_SS_LEN;
    EVP_PKEY_CTX_free(ctx);
    int ret = ok ? kitls_kex_derive(eg, ec, ep, eg->share_len, es, &es_len) : KITLS_E_CRYPTO;
    if (!ret)
        *out_len = kitls_hyb_join(g, ss, ss_len, es, es_len, out);
    kitls_wipe(ss, sizeof(ss));
    kitls_wipe(es, sizeof(es));
    return ret;
}

/* Encapsulate to the client's ek.  Importing it runs FIPS 203 §7.2's
 * encapsulation key check (every coefficient below q = 3329: OpenSSL
 * 3.5 refuses the key otherwise), so a failed import is the peer's
 * fault: illegal_parameter (draft-ietf-tls-ecdhe-mlkem §4.2). */
static int encap(const uint8_t *ek, uint8_t *ct, uint8_t *ss)
{
    size_t ct_len = KITLS_MLKEM768_CT_LEN, ss_len = KITLS_MLKEM768_SS_LEN;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key_ex(NULL, MLKEM, NULL, ek, KITLS_MLKEM768_EK_LEN);
    if (!pk) {
        ERR_clear_error();
        return KITLS_E_ILLEGAL_PARAMETER;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    int ok = ctx && EVP_PKEY_encapsulate_init(ctx, NULL) > 0 &&
             EVP_PKEY_encapsulate(ctx, ct, &ct_len, ss, &ss_len) > 0 &&
             ct_len == KITLS_MLKEM768_CT_LEN && ss_len == KITLS_MLKEM768_SS_LEN;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok ? 0 : KITLS_E_CRYPTO;
}

int kitls_hyb_server(const struct kitls_group *g, const uint8_t *peer, size_t peer_len,
                     uint8_t *pub, size_t *pub_len, uint8_t *out, size_t *out_len)
{
    const struct kitls_group *eg = kitls_group_find(g->hybrid_ec);
    const uint8_t *ek, *ep;
    uint8_t ct[KITLS_MLKEM768_CT_LEN], ss[KITLS_MLKEM768_SS_LEN], es[KITLS_MAX_HASH * 2];
    uint8_t my[65];
    size_t my_len, es_len = 0;
    EVP_PKEY *priv = NULL;
    if (!eg)
        return KITLS_E_INTERNAL;
    GUARD(kitls_hyb_split(g, peer, peer_len, KITLS_MLKEM768_EK_LEN, &ek, &ep));
    if (!kitls_kem_available())
        return KITLS_E_UNAVAILABLE;
    int ret = kitls_kex_keygen(eg, &priv, my, &my_len);
    if (!ret)
        ret = kitls_kex_derive(eg, priv, ep, eg->share_len, es, &es_len);
    EVP_PKEY_free(priv);
    if (!ret)
        ret = encap(ek, ct, ss);
    if (!ret) {
        *pub_len = kitls_hyb_join(g, ct, sizeof(ct), my, my_len, pub);
        *out_len = kitls_hyb_join(g, ss, sizeof(ss), es, es_len, out);
    }
    kitls_wipe(ss, sizeof(ss));
    kitls_wipe(es, sizeof(es));
    return ret;
}

void kitls_kex_free_shares(struct kitls_hs_tmp *hs)
{
    for (size_t i = 0; i < hs->n_kex; i++) {
        EVP_PKEY_free(hs->kex[i]);
        EVP_PKEY_free(hs->kem[i]);
        hs->kex[i] = hs->kem[i] = NULL;
    }
    hs->n_kex = 0;
}
