/* The offload object's life (lib/offload.c); its API is public in kitls.h. */
#ifndef KITLS_OFFLOAD_H
#define KITLS_OFFLOAD_H

struct kitls_offload;

/** Free the connection's offload object (NULL allowed); kitls_conn_free(). */
void kitls_offload_free(struct kitls_offload *o);

#endif
