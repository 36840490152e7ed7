//! rustls as a library of kitls-bench (issue 16): in-memory client and
//! server connections of rustls 0.20 in one process, driven one step at a
//! time from C (bench/lib_rustls.c) so that the bench times the client's
//! and the server's work apart, as it does for every library.
//!
//! TLS 1.3 only, X25519 only, one cipher suite per context
//! (TLS_AES_128_GCM_SHA256 or TLS_CHACHA20_POLY1305_SHA256), ECDSA P-256
//! leaves sent with their intermediate.  The transport is rustls's own
//! hook: write_tls() of one side into a byte buffer, read_tls() of the
//! other side from it, then process_new_packets().
//!
//! Modes (what the client checks):
//!   0 full handshake, chain verified to the root + hostname (webpki);
//!   1 full handshake, chain not verified: a ServerCertVerifier that
//!     accepts the chain; CertificateVerify is still checked with the
//!     leaf's key by rustls's default verify_tls13_signature;
//!   2 resumed: psk_dhe_ke with stateless tickets (rustls::Ticketer, one
//!     NewSessionTicket per handshake), the client's one-entry cache
//!     replaced by each new ticket, so every connection resumes with the
//!     ticket of the previous one (chained).
//!
//! Proof of what was measured (kpeer_rustls_proof): tickets the server's
//! ticketer issued and accepted, chain verifications the client ran,
//! all per pair; the bytes each side sent (for the bench's wire check of
//! the ClientHello and ServerHello: one X25519 share, no
//! HelloRetryRequest).

use std::convert::TryFrom;
use std::io::{Read, Write};
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::{
    ClientSessionMemoryCache, NoClientSessionStorage, ServerCertVerified, ServerCertVerifier,
    WebPkiVerifier,
};
use rustls::server::{NoServerSessionStorage, ProducesTickets};
use rustls::{
    Certificate, ClientConfig, ClientConnection, PrivateKey, RootCertStore, ServerConfig,
    ServerConnection, ServerName, SupportedCipherSuite,
};

/// Counts what the server's ticketer did, around rustls's own Ticketer.
struct CountingTicketer {
    inner: Arc<dyn ProducesTickets>,
    issued: AtomicU64,
    accepted: AtomicU64,
}

impl ProducesTickets for CountingTicketer {
    fn enabled(&self) -> bool {
        true
    }
    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.issued.fetch_add(1, Ordering::Relaxed);
        self.inner.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let r = self.inner.decrypt(cipher);
        if r.is_some() {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// Counts chain verifications; verifies with webpki unless `skip_chain`.
struct CountingVerifier {
    webpki: WebPkiVerifier,
    skip_chain: bool,
    calls: AtomicU64,
    verified: AtomicU64,
}

impl ServerCertVerifier for CountingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        server_name: &ServerName,
        scts: &mut dyn Iterator<Item = &[u8]>,
        ocsp: &[u8],
        now: SystemTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.skip_chain {
            return Ok(ServerCertVerified::assertion());
        }
        let r =
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, scts, ocsp, now);
        if r.is_ok() {
            self.verified.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
    // verify_tls13_signature: rustls's default (webpki checks the
    // CertificateVerify signature with the leaf's key) in every mode.
}

/// The configs of one mode and suite: one client, one server per leaf.
pub struct Ctx {
    suite: SupportedCipherSuite,
    ccfg: Arc<ClientConfig>,
    scfg: Vec<Arc<ServerConfig>>,
    ticketer: Option<Arc<CountingTicketer>>,
    verifier: Arc<CountingVerifier>,
    name: ServerName,
}

/// One client and one server; `buf` is the bench's transport.
pub struct Pair {
    c: Option<ClientConnection>,
    s: Option<ServerConnection>,
    buf: Vec<u8>,
    sniff: [Option<Vec<u8>>; 2], // bytes the client (0) and the server (1) sent
    base: [u64; 4],
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    let v = rustls_pemfile::certs(&mut &pem[..]).map_err(|e| format!("PEM certs: {}", e))?;
    if v.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(v.into_iter().map(Certificate).collect())
}

impl Ctx {
    fn new(root_pem: &[u8], mode: i32, chacha: bool) -> Result<Ctx, String> {
        let mut roots = RootCertStore::empty();
        for c in pem_certs(root_pem)? {
            roots.add(&c).map_err(|e| format!("root: {:?}", e))?;
        }
        let suite = if chacha {
            rustls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256
        } else {
            rustls::cipher_suite::TLS13_AES_128_GCM_SHA256
        };
        let verifier = Arc::new(CountingVerifier {
            webpki: WebPkiVerifier::new(roots, None),
            skip_chain: mode == 1,
            calls: AtomicU64::new(0),
            verified: AtomicU64::new(0),
        });
        let mut ccfg = ClientConfig::builder()
            .with_cipher_suites(&[suite])
            .with_kx_groups(&[&rustls::kx_group::X25519])
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("client versions: {}", e))?
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let mut ticketer = None;
        if mode == 2 {
            // the client keeps one ticket per server name, each new one
            // replacing the previous (chained); the cache also holds the
            // server's key-exchange group hint, hence more than one entry
            ccfg.session_storage = ClientSessionMemoryCache::new(4);
            ticketer = Some(Arc::new(CountingTicketer {
                inner: rustls::Ticketer::new().map_err(|e| format!("ticketer: {}", e))?,
                issued: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
            }));
        } else {
            ccfg.session_storage = Arc::new(NoClientSessionStorage {});
            ccfg.enable_tickets = false;
        }
        Ok(Ctx {
            suite,
            ccfg: Arc::new(ccfg),
            scfg: Vec::new(),
            ticketer,
            verifier,
            name: ServerName::try_from("localhost").map_err(|e| format!("name: {}", e))?,
        })
    }

    fn add_leaf(&mut self, chain_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
        let chain = pem_certs(chain_pem)?;
        let mut keys = rustls_pemfile::pkcs8_private_keys(&mut &key_pem[..])
            .map_err(|e| format!("PEM key: {}", e))?;
        if keys.len() != 1 {
            return Err("need exactly one PKCS#8 key".into());
        }
        let mut scfg = ServerConfig::builder()
            .with_cipher_suites(&[self.suite])
            .with_kx_groups(&[&rustls::kx_group::X25519])
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("server versions: {}", e))?
            .with_no_client_auth()
            .with_single_cert(chain, PrivateKey(keys.remove(0)))
            .map_err(|e| format!("server cert: {}", e))?;
        // No stateful cache: without a ticketer rustls then sends no
        // NewSessionTicket (as SSL_OP_NO_TICKET on the OpenSSL side).
        scfg.session_storage = Arc::new(NoServerSessionStorage {});
        if let Some(t) = &self.ticketer {
            scfg.ticketer = t.clone();
        }
        self.scfg.push(Arc::new(scfg));
        Ok(())
    }

    fn counters(&self) -> [u64; 4] {
        let (i, a) = match &self.ticketer {
            Some(t) => (
                t.issued.load(Ordering::Relaxed),
                t.accepted.load(Ordering::Relaxed),
            ),
            None => (0, 0),
        };
        [
            i,
            a,
            self.verifier.calls.load(Ordering::Relaxed),
            self.verifier.verified.load(Ordering::Relaxed),
        ]
    }
}

/// Delivers everything `$from` has to write to `$to` (rustls's transport
/// hook both ways); the receiver processes it.  A macro: the two sides
/// are different types and moving them into a `Connection` per turn would
/// copy them.
macro_rules! shuttle {
    ($buf:expr, $sniff:expr, $from:expr, $to:expr) => {{
        let mut r: Result<(), String> = Ok(());
        let mut sniff = $sniff;
        while r.is_ok() && $from.wants_write() {
            $buf.clear();
            r = $from
                .write_tls(&mut $buf)
                .map(|_| ())
                .map_err(|e| format!("write_tls: {}", e));
            if let Some(v) = sniff.as_mut() {
                v.extend_from_slice(&$buf[..]);
            }
            let mut rd: &[u8] = &$buf[..];
            while r.is_ok() && !rd.is_empty() {
                r = match $to.read_tls(&mut rd) {
                    Ok(0) => Err("read_tls took nothing".into()),
                    Ok(_) => $to
                        .process_new_packets()
                        .map(|_| ())
                        .map_err(|e| format!("TLS error: {}", e)),
                    Err(e) => Err(format!("read_tls: {}", e)),
                };
            }
        }
        r
    }};
}

impl Pair {
    /// One turn of `side` (0 client, 1 server): the other side's pending
    /// bytes are delivered to it and processed.  1 when its handshake is
    /// done, 0 when it waits for more.
    fn turn(&mut self, side: c_int) -> Result<c_int, String> {
        let (c, s) = match (self.c.as_mut(), self.s.as_mut()) {
            (Some(c), Some(s)) => (c, s),
            _ => return Err("turn: both sides must exist".into()),
        };
        if side == 0 {
            shuttle!(self.buf, self.sniff[1].as_mut(), s, c)?;
            Ok(!c.is_handshaking() as c_int)
        } else {
            shuttle!(self.buf, self.sniff[0].as_mut(), c, s)?;
            Ok(!s.is_handshaking() as c_int)
        }
    }

    /// The client writes `data`; the server reads all of it into `out`.
    fn xfer(&mut self, data: &[u8], out: &mut [u8]) -> Result<(), String> {
        let (c, s) = match (self.c.as_mut(), self.s.as_mut()) {
            (Some(c), Some(s)) => (c, s),
            _ => return Err("xfer: both sides must exist".into()),
        };
        c.writer()
            .write_all(data)
            .map_err(|e| format!("write: {}", e))?;
        let none: Option<&mut Vec<u8>> = None;
        shuttle!(self.buf, none, c, s)?;
        let mut got = 0;
        while got < data.len() {
            match s.reader().read(&mut out[got..data.len()]) {
                Ok(0) => return Err("server read: EOF".into()),
                Ok(n) => got += n,
                Err(e) => return Err(format!("server read: {} after {} bytes", e, got)),
            }
        }
        Ok(())
    }
}

fn set_err(err: *mut c_char, errn: usize, msg: &str) {
    if err.is_null() || errn == 0 {
        return;
    }
    let b = msg.as_bytes();
    let n = b.len().min(errn - 1);
    // SAFETY: the caller gives a writable buffer of errn bytes
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), err as *mut u8, n);
        *err.add(n) = 0;
    }
}

unsafe fn slice<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

fn ret<T>(
    r: Result<T, String>,
    err: *mut c_char,
    errn: usize,
    ok: impl FnOnce(T) -> c_int,
) -> c_int {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            set_err(err, errn, &e);
            -1
        }
    }
}

/// A context of one mode (0 chain verified, 1 chain not verified, 2
/// resumed) and suite (chacha: 0 AES-128-GCM, 1 ChaCha20-Poly1305); NULL
/// on error (message in err).
///
/// # Safety
/// The PEM pointer must be valid for its length; err writable for errn.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_ctx_new(
    root_pem: *const u8,
    root_len: usize,
    mode: c_int,
    chacha: c_int,
    err: *mut c_char,
    errn: usize,
) -> *mut Ctx {
    match Ctx::new(slice(root_pem, root_len), mode, chacha != 0) {
        Ok(c) => Box::into_raw(Box::new(c)),
        Err(e) => {
            set_err(err, errn, &e);
            std::ptr::null_mut()
        }
    }
}

/// Adds a server config for one leaf (chain PEM leaf first, PKCS#8 key);
/// leaves are numbered from 0 in the order added.  0 or -1.
///
/// # Safety
/// ctx from kpeer_rustls_ctx_new; PEM pointers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_ctx_add_leaf(
    ctx: *mut Ctx,
    chain_pem: *const u8,
    chain_len: usize,
    key_pem: *const u8,
    key_len: usize,
    err: *mut c_char,
    errn: usize,
) -> c_int {
    let r = (*ctx).add_leaf(slice(chain_pem, chain_len), slice(key_pem, key_len));
    ret(r, err, errn, |_| 0)
}

/// Frees a context (after its pairs).
///
/// # Safety
/// ctx from kpeer_rustls_ctx_new or NULL.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_ctx_free(ctx: *mut Ctx) {
    if !ctx.is_null() {
        drop(Box::from_raw(ctx));
    }
}

/// An empty pair (no connection yet) of ctx; `sniff` keeps a copy of the
/// bytes each side sends, for kpeer_rustls_sent.
///
/// # Safety
/// ctx from kpeer_rustls_ctx_new.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_pair_new(ctx: *const Ctx, sniff: c_int) -> *mut Pair {
    Box::into_raw(Box::new(Pair {
        c: None,
        s: None,
        buf: Vec::new(),
        sniff: if sniff != 0 {
            [Some(Vec::new()), Some(Vec::new())]
        } else {
            [None, None]
        },
        base: (*ctx).counters(),
    }))
}

/// Creates the client (side 0) or the server (side 1, with leaf `leaf`).
/// 0 or -1.
///
/// # Safety
/// pair from kpeer_rustls_pair_new of ctx; err writable for errn.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_side_new(
    pair: *mut Pair,
    ctx: *const Ctx,
    side: c_int,
    leaf: c_int,
    err: *mut c_char,
    errn: usize,
) -> c_int {
    let ctx = &*ctx;
    let p = &mut *pair;
    let r = if side == 0 {
        ClientConnection::new(ctx.ccfg.clone(), ctx.name.clone())
            .map(|c| p.c = Some(c))
            .map_err(|e| format!("client: {}", e))
    } else {
        match ctx.scfg.get(leaf as usize) {
            None => Err(format!("no leaf {}", leaf)),
            Some(cfg) => ServerConnection::new(cfg.clone())
                .map(|s| p.s = Some(s))
                .map_err(|e| format!("server: {}", e)),
        }
    };
    ret(r, err, errn, |_| 0)
}

/// One turn of `side`: 1 handshake done, 0 wants more, -1 error.
///
/// # Safety
/// pair with both sides created; err writable for errn.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_turn(
    pair: *mut Pair,
    side: c_int,
    err: *mut c_char,
    errn: usize,
) -> c_int {
    ret((*pair).turn(side), err, errn, |d| d)
}

/// The client writes len bytes of data, the server reads them into out.
/// 0 or -1.
///
/// # Safety
/// data and out valid for len bytes; established pair.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_xfer(
    pair: *mut Pair,
    data: *const u8,
    out: *mut u8,
    len: usize,
    err: *mut c_char,
    errn: usize,
) -> c_int {
    let out = std::slice::from_raw_parts_mut(out, len);
    ret((*pair).xfer(slice(data, len), out), err, errn, |_| 0)
}

/// Proof of the pair's handshake, counted since kpeer_rustls_pair_new:
/// out[0] tickets the server issued, out[1] tickets it accepted
/// (resumptions), out[2] chain verifier calls by the client, out[3]
/// chains webpki verified, out[4] 1 if the negotiated suite is the
/// context's.
///
/// # Safety
/// out holds 5 u64; pair of ctx.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_proof(pair: *const Pair, ctx: *const Ctx, out: *mut u64) {
    let p = &*pair;
    let now = (*ctx).counters();
    for i in 0..4 {
        *out.add(i) = now[i] - p.base[i];
    }
    let suite_ok = match &p.c {
        Some(c) => c.negotiated_cipher_suite() == Some((*ctx).suite),
        None => false,
    };
    *out.add(4) = suite_ok as u64;
}

/// The bytes the client (side 0) or the server (side 1) sent so far
/// (sniffing pairs; else 0).
///
/// # Safety
/// pair valid; *buf valid until the pair changes.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_sent(
    pair: *const Pair,
    side: c_int,
    buf: *mut *const u8,
) -> usize {
    match &(*pair).sniff[(side != 0) as usize] {
        Some(v) => {
            *buf = v.as_ptr();
            v.len()
        }
        None => 0,
    }
}

/// Frees the bench's transport buffer and sniffed bytes (they are not the
/// connections' memory).
///
/// # Safety
/// pair valid.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_drop_transport(pair: *mut Pair) {
    (*pair).buf = Vec::new();
    (*pair).sniff = [None, None];
}

/// Frees one side (0 client, 1 server).
///
/// # Safety
/// pair valid.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_side_free(pair: *mut Pair, side: c_int) {
    if side == 0 {
        (*pair).c = None;
    } else {
        (*pair).s = None;
    }
}

/// Frees a pair (and any side left).
///
/// # Safety
/// pair from kpeer_rustls_pair_new or NULL, not used after.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_pair_free(pair: *mut Pair) {
    if !pair.is_null() {
        drop(Box::from_raw(pair));
    }
}
