//! rustls peer for kitls-bench (issue 16 groundwork).
//!
//! A client and a server of rustls in one process, joined in memory by
//! read_tls/write_tls over byte buffers (rustls's own transport hook), TLS 1.3
//! only, X25519 only, TLS_AES_128_GCM_SHA256, an ECDSA P-256 leaf sent with
//! its intermediate.  Exposed to C so that kitls-bench can interleave rustls
//! slices with kitls and OpenSSL in one process:
//!
//!   kpeer_rustls_new(chain_pem, key_pem, root_pem, mode, err) -> ctx
//!   kpeer_rustls_run(ctx, n)  -> n handshakes done, or -1 (error in err)
//!   kpeer_rustls_stats(ctx, out[6])
//!   kpeer_rustls_hold(ctx, n) / kpeer_rustls_drop(ctx): n established pairs
//!                              kept alive (heap per connection)
//!   kpeer_rustls_free(ctx)
//!
//! Modes: 0 full handshake, chain verified to the root and hostname;
//! 1 full handshake, chain not verified (CertificateVerify still checked by
//! rustls's default verify_tls13_signature); 2 resumed (psk_dhe_ke, one
//! stateless ticket per handshake, each connection resuming with the ticket
//! of the previous one).
//!
//! Proof of what was measured (stats): tickets issued and accepted by the
//! server's ticketer, chain verifications by the client, bytes each way.

use std::convert::TryFrom;
use std::io;
use std::os::raw::{c_char, c_int, c_long};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::{
    ClientSessionMemoryCache, NoClientSessionStorage, ServerCertVerified, ServerCertVerifier,
    WebPkiVerifier,
};
use rustls::server::{NoServerSessionStorage, ProducesTickets};
use rustls::{
    Certificate, ClientConfig, ClientConnection, Connection, PrivateKey, RootCertStore,
    ServerConfig, ServerConnection, ServerName,
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
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, scts, ocsp, now)
    }
    // verify_tls13_signature: rustls's default (webpki signature check of
    // CertificateVerify with the leaf's key) in every mode.
}

pub struct Peer {
    ccfg: Arc<ClientConfig>,
    scfg: Arc<ServerConfig>,
    ticketer: Option<Arc<CountingTicketer>>,
    verifier: Arc<CountingVerifier>,
    name: ServerName,
    c2s: u64,
    s2c: u64,
    handshakes: u64,
    held: Vec<(ClientConnection, ServerConnection)>,
    buf: Vec<u8>,
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    let v = rustls_pemfile::certs(&mut &pem[..]).map_err(|e| format!("PEM certs: {}", e))?;
    if v.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(v.into_iter().map(Certificate).collect())
}

impl Peer {
    pub fn new(chain_pem: &[u8], key_pem: &[u8], root_pem: &[u8], mode: i32) -> Result<Peer, String> {
        let chain = pem_certs(chain_pem)?;
        let mut keys = rustls_pemfile::pkcs8_private_keys(&mut &key_pem[..])
            .map_err(|e| format!("PEM key: {}", e))?;
        if keys.len() != 1 {
            return Err("need exactly one PKCS#8 key".into());
        }
        let key = PrivateKey(keys.remove(0));
        let mut roots = RootCertStore::empty();
        for c in pem_certs(root_pem)? {
            roots.add(&c).map_err(|e| format!("root: {:?}", e))?;
        }
        let suites = [rustls::cipher_suite::TLS13_AES_128_GCM_SHA256];
        let groups = [&rustls::kx_group::X25519];
        let versions = [&rustls::version::TLS13];

        let verifier = Arc::new(CountingVerifier {
            webpki: WebPkiVerifier::new(roots, None),
            skip_chain: mode == 1,
            calls: AtomicU64::new(0),
        });
        let mut ccfg = ClientConfig::builder()
            .with_cipher_suites(&suites)
            .with_kx_groups(&groups)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("client versions: {}", e))?
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let mut scfg = ServerConfig::builder()
            .with_cipher_suites(&suites)
            .with_kx_groups(&groups)
            .with_protocol_versions(&versions)
            .map_err(|e| format!("server versions: {}", e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("server cert: {}", e))?;
        // No stateful cache on the server: with no ticketer rustls then
        // sends no NewSessionTicket (like SSL_OP_NO_TICKET on the OpenSSL side).
        scfg.session_storage = Arc::new(NoServerSessionStorage {});
        let mut ticketer = None;
        if mode == 2 {
            let t = Arc::new(CountingTicketer {
                inner: rustls::Ticketer::new().map_err(|e| format!("ticketer: {}", e))?,
                issued: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
            });
            scfg.ticketer = t.clone();
            ticketer = Some(t);
            ccfg.session_storage = ClientSessionMemoryCache::new(8);
        } else {
            ccfg.session_storage = Arc::new(NoClientSessionStorage {});
            ccfg.enable_tickets = false;
        }
        let name = ServerName::try_from("localhost").map_err(|e| format!("name: {}", e))?;
        let mut p = Peer {
            ccfg: Arc::new(ccfg),
            scfg: Arc::new(scfg),
            ticketer,
            verifier,
            name,
            c2s: 0,
            s2c: 0,
            handshakes: 0,
            held: Vec::new(),
            buf: Vec::with_capacity(8192),
        };
        // the priming handshake of the resumed mode (stores the first ticket)
        let (c, s) = p.pair()?;
        drop((c, s));
        p.c2s = 0;
        p.s2c = 0;
        p.handshakes = 0;
        p.verifier.calls.store(0, Ordering::Relaxed);
        if let Some(t) = &p.ticketer {
            t.issued.store(0, Ordering::Relaxed);
            t.accepted.store(0, Ordering::Relaxed);
        }
        Ok(p)
    }

    /// Moves everything `from` has to write into `to`; returns the bytes.
    fn shuttle(buf: &mut Vec<u8>, from: &mut Connection, to: &mut Connection) -> Result<u64, String> {
        let mut moved = 0u64;
        while from.wants_write() {
            buf.clear();
            from.write_tls(buf).map_err(|e| format!("write_tls: {}", e))?;
            moved += buf.len() as u64;
            let mut rd: &[u8] = &buf[..];
            while !rd.is_empty() {
                let n = to.read_tls(&mut rd).map_err(|e| format!("read_tls: {}", e))?;
                if n == 0 {
                    return Err("read_tls took nothing".into());
                }
                to.process_new_packets().map_err(|e| format!("TLS error: {}", e))?;
            }
        }
        Ok(moved)
    }

    /// One handshake to the end (the client also reads the server's
    /// NewSessionTicket, if any); returns the established pair.
    fn pair(&mut self) -> Result<(ClientConnection, ServerConnection), String> {
        let c = ClientConnection::new(self.ccfg.clone(), self.name.clone())
            .map_err(|e| format!("client: {}", e))?;
        let s = ServerConnection::new(self.scfg.clone()).map_err(|e| format!("server: {}", e))?;
        let mut c = Connection::Client(c);
        let mut s = Connection::Server(s);
        for _ in 0..16 {
            self.c2s += Self::shuttle(&mut self.buf, &mut c, &mut s)?;
            self.s2c += Self::shuttle(&mut self.buf, &mut s, &mut c)?;
            if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
                self.handshakes += 1;
                return match (c, s) {
                    (Connection::Client(c), Connection::Server(s)) => Ok((c, s)),
                    _ => Err("unreachable".into()),
                };
            }
        }
        Err("handshake did not complete".into())
    }

    pub fn run(&mut self, n: i64) -> Result<i64, String> {
        for _ in 0..n {
            let (c, s) = self.pair()?;
            drop(c);
            drop(s);
        }
        Ok(n)
    }

    pub fn hold(&mut self, n: i64) -> Result<i64, String> {
        for _ in 0..n {
            let p = self.pair()?;
            self.held.push(p);
        }
        Ok(n)
    }

    pub fn stats(&self) -> [u64; 6] {
        let (i, a) = match &self.ticketer {
            Some(t) => (t.issued.load(Ordering::Relaxed), t.accepted.load(Ordering::Relaxed)),
            None => (0, 0),
        };
        [self.handshakes, i, a, self.verifier.calls.load(Ordering::Relaxed), self.c2s, self.s2c]
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
    if p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

/// Makes a peer (both configs); NULL on error (message in err).
///
/// # Safety
/// The PEM pointers must be valid for their lengths; err writable for errn.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_new(
    chain_pem: *const u8,
    chain_len: usize,
    key_pem: *const u8,
    key_len: usize,
    root_pem: *const u8,
    root_len: usize,
    mode: c_int,
    err: *mut c_char,
    errn: usize,
) -> *mut Peer {
    match Peer::new(slice(chain_pem, chain_len), slice(key_pem, key_len), slice(root_pem, root_len), mode)
    {
        Ok(p) => Box::into_raw(Box::new(p)),
        Err(e) => {
            set_err(err, errn, &e);
            std::ptr::null_mut()
        }
    }
}

/// Runs n complete handshakes (new client and server each time, both
/// freed after); n on success, -1 on error (message in err).
///
/// # Safety
/// p from kpeer_rustls_new; err writable for errn.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_run(p: *mut Peer, n: c_long, err: *mut c_char, errn: usize) -> c_long {
    match (*p).run(n as i64) {
        Ok(k) => k as c_long,
        Err(e) => {
            set_err(err, errn, &e);
            -1
        }
    }
}

/// Keeps n more established pairs alive (for heap per connection).
///
/// # Safety
/// As kpeer_rustls_run.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_hold(p: *mut Peer, n: c_long, err: *mut c_char, errn: usize) -> c_long {
    match (*p).hold(n as i64) {
        Ok(k) => k as c_long,
        Err(e) => {
            set_err(err, errn, &e);
            -1
        }
    }
}

/// Frees the pairs kept by kpeer_rustls_hold.
///
/// # Safety
/// p from kpeer_rustls_new.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_drop(p: *mut Peer) {
    (*p).held = Vec::new();
}

/// out: handshakes, tickets issued, tickets accepted, chain verifier
/// calls, client-to-server bytes, server-to-client bytes.
///
/// # Safety
/// out must hold 6 u64.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_stats(p: *const Peer, out: *mut u64) {
    let s = (*p).stats();
    std::ptr::copy_nonoverlapping(s.as_ptr(), out, 6);
}

/// Frees a peer.
///
/// # Safety
/// p from kpeer_rustls_new (or NULL), not used after.
#[no_mangle]
pub unsafe extern "C" fn kpeer_rustls_free(p: *mut Peer) {
    if !p.is_null() {
        drop(Box::from_raw(p));
    }
}

/// Reads a whole file (for main.rs).
pub fn read(path: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}
