/* Hybrid ML-KEM key exchange groups (draft-ietf-tls-ecdhe-mlkem), kem.c. */
#ifndef KITLS_KEM_H
#define KITLS_KEM_H

#include "conn.h"

#define KITLS_MLKEM768_EK_LEN 1184
#define KITLS_MLKEM768_CT_LEN 1088
#define KITLS_MLKEM768_SS_LEN 32
/* Longest key share we write or hold: SecP256r1MLKEM768's client share. */
#define KITLS_MAX_SHARE_LEN (65 + KITLS_MLKEM768_EK_LEN)

/** 1 if libcrypto has ML-KEM-768 (fetched once per process). */
int kitls_kem_available(void);
/** 1 if g is a hybrid group (ML-KEM-768 + ECDH). */
int kitls_group_is_hybrid(const struct kitls_group *g);
/** The default group list for a new config into ids (room for
 *  KITLS_MAX_ALGS), its length returned; *n_shares the key shares a
 *  client sends by default (2 with the hybrid: it and X25519). */
size_t kitls_default_group_list(uint16_t *ids, size_t *n_shares);

/**
 * Wire layout (draft-ietf-tls-ecdhe-mlkem §4.1-4.3): X25519MLKEM768 puts
 * the ML-KEM part first, SecP256r1MLKEM768 the ECDH part first, in key
 * shares and in the shared secret alike.  join writes kem_len + ec_len
 * bytes to out and returns that length; split checks len is exactly
 * kem_len + ec_len (else KITLS_E_ILLEGAL_PARAMETER) and points *kem and
 * *ec into in.
 */
size_t kitls_hyb_join(const struct kitls_group *g, const uint8_t *kem, size_t kem_len,
                      const uint8_t *ec, size_t ec_len, uint8_t *out);
int kitls_hyb_split(const struct kitls_group *g, const uint8_t *in, size_t len, size_t kem_len,
                    const uint8_t **kem, const uint8_t **ec);

/** Client: new ML-KEM-768 and ECDH keys, and the share (ek || X25519 or
 *  P-256 || ek) into pub (KITLS_MAX_SHARE_LEN bytes). */
int kitls_hyb_keygen(const struct kitls_group *g, EVP_PKEY **ec, EVP_PKEY **kem, uint8_t *pub,
                     size_t *pub_len);
/** Client: the share of keys made by kitls_hyb_keygen() again. */
int kitls_hyb_share(const struct kitls_group *g, EVP_PKEY *ec, EVP_PKEY *kem, uint8_t *pub,
                    size_t *pub_len);
/** Client: decapsulate the server's ciphertext and do the ECDH; the
 *  combined secret into out (64 bytes).  A share of the wrong length or
 *  an invalid point is KITLS_E_ILLEGAL_PARAMETER. */
int kitls_hyb_client_derive(const struct kitls_group *g, EVP_PKEY *ec, EVP_PKEY *kem,
                            const uint8_t *peer, size_t peer_len, uint8_t *out, size_t *out_len);
/** Server: encapsulate to the client's encapsulation key and do the ECDH
 *  with a fresh key: our share (ct || X25519 or P-256 || ct) into pub,
 *  the combined secret into out.  A share of the wrong length, an
 *  encapsulation key failing FIPS 203 §7.2's check or an invalid point
 *  is KITLS_E_ILLEGAL_PARAMETER. */
int kitls_hyb_server(const struct kitls_group *g, const uint8_t *peer, size_t peer_len,
                     uint8_t *pub, size_t *pub_len, uint8_t *out, size_t *out_len);
/** Free the client's key-exchange keys (c->hs->kex, c->hs->kem). */
void kitls_kex_free_shares(struct kitls_hs_tmp *hs);

#endif
