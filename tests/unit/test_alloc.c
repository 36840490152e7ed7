/*
 * Allocator hooks (kitls_set_allocator): every allocation libkitls makes
 * goes through the installed allocator and is given back to it, over a
 * full handshake, a resumption, data both ways, a KeyUpdate and close.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a counting allocator ---- */

struct counts {
    size_t mallocs, reallocs, frees, live, bytes_live, bytes_peak;
};
static struct counts cnt;

/* A header in front of each block records its size, so the bytes balance
 * can be checked; the tag catches a block freed by the wrong allocator. */
#define TAG 0x6b69746c73u
struct hdr {
    size_t size;
    size_t tag;
};

static void *c_malloc(size_t n, void *user)
{
    ck_assert_ptr_eq(user, &cnt);
    struct hdr *h = malloc(sizeof(*h) + n);
    if (!h)
        return NULL;
    h->size = n;
    h->tag = TAG;
    cnt.mallocs++;
    cnt.live++;
    cnt.bytes_live += n;
    if (cnt.bytes_live > cnt.bytes_peak)
        cnt.bytes_peak = cnt.bytes_live;
    return h + 1;
}

static void *c_realloc(void *p, size_t n, void *user)
{
    ck_assert_ptr_eq(user, &cnt);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_gt(n, 0);
    struct hdr *h = (struct hdr *)p - 1;
    ck_assert_uint_eq(h->tag, TAG);
    size_t old = h->size;
    struct hdr *nh = realloc(h, sizeof(*nh) + n);
    if (!nh)
        return NULL;
    nh->size = n;
    cnt.reallocs++;
    cnt.bytes_live = cnt.bytes_live - old + n;
    return nh + 1;
}

static void c_free(void *p, void *user)
{
    ck_assert_ptr_eq(user, &cnt);
    ck_assert_ptr_nonnull(p);
    struct hdr *h = (struct hdr *)p - 1;
    ck_assert_uint_eq(h->tag, TAG);
    h->tag = 0;
    cnt.frees++;
    cnt.live--;
    cnt.bytes_live -= h->size;
    free(h);
}

static const kitls_allocator counting = {c_malloc, c_realloc, c_free, &cnt};

/* ---- libc calls made by libkitls itself, bypassing the hooks ----
 * The executable interposes malloc & co. (forwarding to glibc) and counts
 * calls whose return address lies in libkitls.so.  ASan owns malloc in
 * the sanitizer build, so there only the counting allocator is checked. */
#if !defined(__SANITIZE_ADDRESS__)
#define INTERPOSE 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static void *kitls_base;
static size_t bypass;

static __thread int in_check; /* dladdr() must not recurse into us */

static void check_caller(void *ret)
{
    Dl_info di;
    if (!kitls_base || in_check)
        return;
    in_check = 1;
    if (dladdr(ret, &di) && di.dli_fbase == kitls_base)
        bypass++;
    in_check = 0;
}
/* noinline: __builtin_return_address must be the caller's */
__attribute__((noinline)) void *malloc(size_t n)
{
    check_caller(__builtin_return_address(0));
    return __libc_malloc(n);
}
__attribute__((noinline)) void *calloc(size_t n, size_t m)
{
    check_caller(__builtin_return_address(0));
    return __libc_calloc(n, m);
}
__attribute__((noinline)) void *realloc(void *p, size_t n)
{
    check_caller(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
/* free() is not checked: a tail call (kitls_free -> free_fn -> free, or
 * EVP_*_free -> CRYPTO_free -> free) leaves a libkitls return address
 * for a free that did go through the hook or belongs to libcrypto.  Any
 * bypassing block was allocated by a call caught above. */
void free(void *p)
{
    __libc_free(p);
}
__attribute__((noinline)) char *strdup(const char *s)
{
    check_caller(__builtin_return_address(0));
    size_t n = strlen(s) + 1;
    char *d = __libc_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
#endif

static void watch_kitls(void)
{
#ifdef INTERPOSE
    Dl_info di;
    ck_assert(dladdr((void *)kitls_version, &di));
    kitls_base = di.dli_fbase;
    bypass = 0;
#endif
}

static void exchange(kitls_conn *from, kitls_conn *to, size_t n)
{
    static uint8_t buf[40000], got[40000];
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 7 + n);
    ck_assert_int_eq(kitls_conn_write(from, buf, n), (int)n);
    tu_move(from, to);
    size_t have = 0;
    while (have < n) {
        int r = kitls_conn_read(to, got + have, sizeof(got) - have);
        ck_assert_int_gt(r, 0);
        have += (size_t)r;
    }
    ck_assert(!memcmp(buf, got, n));
}

/* One connection pair: handshake, tickets, data both ways (small, one full
 * record, several records), a KeyUpdate, close_notify both ways. */
static kitls_session *session_pair(kitls_config *cc, kitls_config *sc, kitls_session *resume)
{
    kitls_conn *c = tu_client(cc, "localhost"), *s = tu_server(sc);
    if (resume)
        ck_assert_int_eq(kitls_conn_set_session(c, resume), 0);
    ck_assert_int_eq(tu_handshake(c, s, NULL, NULL), 0);
    ck_assert_int_eq(kitls_conn_is_resumed(c), resume != NULL);
    exchange(c, s, 5);
    exchange(s, c, 16384);
    exchange(c, s, 35000);
    ck_assert_int_eq(kitls_conn_key_update(c, 1), 0);
    exchange(c, s, 100);
    exchange(s, c, 100);
    kitls_session *sess = kitls_conn_get_session(c);
    ck_assert_ptr_nonnull(sess);
    ck_assert_int_eq(kitls_conn_close(c), 0);
    ck_assert_int_eq(kitls_conn_close(s), 0);
    tu_move(c, s);
    tu_move(s, c);
    uint8_t b[8];
    ck_assert_int_eq(kitls_conn_read(s, b, sizeof(b)), KITLS_E_CLOSED);
    ck_assert_int_eq(kitls_conn_read(c, b, sizeof(b)), KITLS_E_CLOSED);
    kitls_conn_free(c);
    kitls_conn_free(s);
    return sess;
}

START_TEST(every_allocation_goes_through_the_hooks)
{
    tu_pki_init();
    memset(&cnt, 0, sizeof(cnt));
    ck_assert_int_eq(kitls_set_allocator(&counting), 0);
    watch_kitls();
    kitls_config *sc = tu_server_config(TU_P256), *cc = tu_client_config();
    kitls_session *s1 = session_pair(cc, sc, NULL);
    kitls_session *s2 = session_pair(cc, sc, s1);
    ck_assert_uint_gt(cnt.mallocs, 20);
    ck_assert_uint_gt(cnt.bytes_peak, 16384); /* record buffers came from the hook */
    ck_assert_uint_eq(kitls_alloc_live(), cnt.live);
    /* Objects alive: the allocator cannot change under them. */
    ck_assert_int_eq(kitls_set_allocator(NULL), KITLS_E_STATE);
    kitls_session_free(s1);
    kitls_session_free(s2);
    kitls_config_free(cc);
    kitls_config_free(sc);
    kitls_thread_cleanup(); /* this thread's spare buffers and key-generation contexts */
    /* Everything went back, byte for byte. */
    ck_assert_uint_eq(cnt.live, 0);
    ck_assert_uint_eq(cnt.bytes_live, 0);
    ck_assert_uint_eq(cnt.frees, cnt.mallocs);
    ck_assert_uint_eq(kitls_alloc_live(), 0);
#ifdef INTERPOSE
    ck_assert_uint_eq(bypass, 0); /* libkitls never called libc directly */
#endif
    ck_assert_int_eq(kitls_set_allocator(NULL), 0);
}
END_TEST

START_TEST(bypass_detector_sees_libc_calls)
{
    /* Without hooks, libkitls's default allocator is libc, called from
     * libkitls.so itself: the detector above must notice (else it could
     * pass for the wrong reason). */
#ifdef INTERPOSE
    watch_kitls();
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_CLIENT);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_gt(bypass, 0);
    kitls_config_free(cfg);
#endif
}
END_TEST

START_TEST(set_allocator_rules)
{
    kitls_allocator bad = counting;
    bad.realloc_fn = NULL;
    ck_assert_int_eq(kitls_set_allocator(&bad), KITLS_E_INVALID_ARG);
    memset(&cnt, 0, sizeof(cnt));
    ck_assert_int_eq(kitls_set_allocator(&counting), 0);
    kitls_config *cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_gt(cnt.live, 0);
    ck_assert_uint_eq(kitls_alloc_live(), cnt.live);
    ck_assert_int_eq(kitls_set_allocator(NULL), KITLS_E_STATE);
    kitls_config_free(cfg);
    ck_assert_uint_eq(cnt.live, 0);
    ck_assert_int_eq(kitls_set_allocator(NULL), 0);
    /* Back on libc: nothing more reaches the counting allocator. */
    size_t before = cnt.mallocs;
    cfg = kitls_config_new(KITLS_ROLE_SERVER);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_uint_eq(cnt.mallocs, before);
    kitls_config_free(cfg);
    ck_assert_uint_eq(kitls_alloc_live(), 0);
    /* The helpers keep C semantics. */
    ck_assert_ptr_null(kitls_calloc(SIZE_MAX / 2, 4));
    char *d = kitls_strdup("kitls");
    ck_assert_str_eq(d, "kitls");
    d = kitls_realloc(d, 100);
    ck_assert_str_eq(d, "kitls");
    kitls_free(d);
    kitls_free(NULL);
    ck_assert_uint_eq(kitls_alloc_live(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_allocation_goes_through_the_hooks);
    tcase_add_test(tc, bypass_detector_sees_libc_calls);
    tcase_add_test(tc, set_allocator_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
