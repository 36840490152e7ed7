//! rustls-peer: a TLS 1.3 echo client / server on rustls 0.20 (Debian 12's
//! librust-rustls-dev), for tests/interop/matrix.sh.
//!
//!   rustls-peer server --port 0 --ready FILE --cert C --key K [--naccept N]
//!       [--suites L] [--groups L] [--alpn L] [--client-ca CA] [--early-data]
//!       [--close-first]
//!   rustls-peer client --port P --ca CA [--name N] [--suites L] [--groups L]
//!       [--alpn L] [--cert C --key K] [--message S] [--resume] [--early-data]
//!
//! Prints "N key: value" lines (N = connection number).  Exit 0 only if
//! every connection handshook and (client) got its data echoed back.
//! "N close-notify: received" when the peer's close_notify ended the stream
//! (rustls 0.20 reports a TCP EOF without one as an UnexpectedEof error);
//! --close-first: the server echoes the first data, then closes first.
//! rustls 0.20 cannot send a KeyUpdate (received ones are handled).
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::server::AllowAnyAuthenticatedClient;
use rustls::{Certificate, PrivateKey, RootCertStore, SupportedCipherSuite};

fn die(msg: String) -> ! {
    eprintln!("rustls-peer: {}", msg);
    std::process::exit(1)
}

fn certs(path: &str) -> Vec<Certificate> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| die(format!("{}: {}", path, e)));
    rustls_pemfile::certs(&mut BufReader::new(f))
        .unwrap_or_else(|e| die(format!("{}: {}", path, e)))
        .into_iter()
        .map(Certificate)
        .collect()
}

fn key(path: &str) -> PrivateKey {
    let f = std::fs::File::open(path).unwrap_or_else(|e| die(format!("{}: {}", path, e)));
    for item in rustls_pemfile::read_all(&mut BufReader::new(f)).unwrap_or_default() {
        match item {
            rustls_pemfile::Item::PKCS8Key(k)
            | rustls_pemfile::Item::RSAKey(k)
            | rustls_pemfile::Item::ECKey(k) => return PrivateKey(k),
            _ => {}
        }
    }
    die(format!("{}: no private key", path))
}

fn roots(path: &str) -> RootCertStore {
    let mut r = RootCertStore::empty();
    for c in certs(path) {
        r.add(&c).unwrap_or_else(|e| die(format!("{}: {:?}", path, e)));
    }
    r
}

fn suites(list: &str) -> Vec<SupportedCipherSuite> {
    if list.is_empty() {
        return vec![
            rustls::cipher_suite::TLS13_AES_128_GCM_SHA256,
            rustls::cipher_suite::TLS13_AES_256_GCM_SHA384,
            rustls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ];
    }
    list.split(',')
        .map(|s| match s {
            "TLS_AES_128_GCM_SHA256" => rustls::cipher_suite::TLS13_AES_128_GCM_SHA256,
            "TLS_AES_256_GCM_SHA384" => rustls::cipher_suite::TLS13_AES_256_GCM_SHA384,
            "TLS_CHACHA20_POLY1305_SHA256" => rustls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            _ => die(format!("unknown suite {}", s)),
        })
        .collect()
}

fn groups(list: &str) -> Vec<&'static rustls::SupportedKxGroup> {
    if list.is_empty() {
        return rustls::ALL_KX_GROUPS.to_vec();
    }
    list.split(',')
        .map(|g| match g {
            "x25519" => &rustls::kx_group::X25519,
            "secp256r1" => &rustls::kx_group::SECP256R1,
            "secp384r1" => &rustls::kx_group::SECP384R1,
            _ => die(format!("unknown group {}", g)),
        })
        .collect()
}

fn suite_name(s: Option<SupportedCipherSuite>) -> String {
    match s {
        Some(s) => format!("{:?}", s.suite()).replace("TLS13_", "TLS_"),
        None => "none".into(),
    }
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[derive(Default)]
struct Opts {
    port: u16,
    ready: String,
    cert: String,
    key: String,
    ca: String,
    client_ca: String,
    name: String,
    suites: String,
    groups: String,
    alpn: String,
    naccept: u32,
    message: String,
    resume: bool,
    early: bool,
    close_first: bool,
}

fn alpn_list(l: &str) -> Vec<Vec<u8>> {
    if l.is_empty() {
        vec![]
    } else {
        l.split(',').map(|p| p.as_bytes().to_vec()).collect()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        die("usage: rustls-peer client|server [options]".into());
    }
    let mut o = Opts {
        naccept: 1,
        name: "localhost".into(),
        message: "hello from rustls\n".into(),
        ..Default::default()
    };
    let mut i = 2;
    while i < args.len() {
        let a = args[i].as_str();
        let mut val = || {
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| die(format!("{} needs a value", a)))
        };
        match a {
            "--port" => o.port = val().parse().unwrap_or_else(|_| die("bad port".into())),
            "--ready" => o.ready = val(),
            "--cert" => o.cert = val(),
            "--key" => o.key = val(),
            "--ca" => o.ca = val(),
            "--client-ca" => o.client_ca = val(),
            "--name" => o.name = val(),
            "--suites" => o.suites = val(),
            "--groups" => o.groups = val(),
            "--alpn" => o.alpn = val(),
            "--naccept" => o.naccept = val().parse().unwrap_or_else(|_| die("bad naccept".into())),
            "--message" => o.message = val(),
            "--resume" => o.resume = true,
            "--early-data" => o.early = true,
            "--close-first" => o.close_first = true,
            _ => die(format!("unknown option {}", a)),
        }
        i += 1;
    }
    match args[1].as_str() {
        "server" => server(&o),
        "client" => client(&o),
        r => die(format!("unknown role {}", r)),
    }
}

fn server(o: &Opts) {
    let b = rustls::ServerConfig::builder()
        .with_cipher_suites(&suites(&o.suites))
        .with_kx_groups(&groups(&o.groups))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap_or_else(|e| die(format!("{}", e)));
    let b = if o.client_ca.is_empty() {
        b.with_no_client_auth()
    } else {
        b.with_client_cert_verifier(AllowAnyAuthenticatedClient::new(roots(&o.client_ca)))
    };
    let mut cfg = b
        .with_single_cert(certs(&o.cert), key(&o.key))
        .unwrap_or_else(|e| die(format!("{}", e)));
    cfg.alpn_protocols = alpn_list(&o.alpn);
    if o.early {
        cfg.max_early_data_size = 16384;
    }
    let cfg = Arc::new(cfg);
    let ln = TcpListener::bind(("127.0.0.1", o.port)).unwrap_or_else(|e| die(format!("{}", e)));
    let port = ln.local_addr().unwrap().port();
    if !o.ready.is_empty() {
        let tmp = format!("{}.tmp", o.ready);
        std::fs::write(&tmp, format!("{}\n", port)).unwrap();
        std::fs::rename(&tmp, &o.ready).unwrap();
    }
    let mut fails = 0;
    for n in 1..=o.naccept {
        let (mut sock, _) = ln.accept().unwrap_or_else(|e| die(format!("{}", e)));
        sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(8))).unwrap();
        if let Err(e) = serve_one(n, &cfg, &mut sock, o.close_first) {
            eprintln!("rustls-peer: connection {}: {}", n, e);
            fails += 1;
        }
    }
    std::process::exit(if fails > 0 { 1 } else { 0 });
}

fn serve_one(
    n: u32,
    cfg: &Arc<rustls::ServerConfig>,
    sock: &mut TcpStream,
    close_first: bool,
) -> Result<(), String> {
    let mut conn = rustls::ServerConnection::new(cfg.clone()).map_err(|e| e.to_string())?;
    let mut early = Vec::new();
    while conn.is_handshaking() {
        conn.complete_io(sock).map_err(|e| format!("handshake: {}", e))?;
        if let Some(mut ed) = conn.early_data() {
            ed.read_to_end(&mut early).map_err(|e| e.to_string())?;
        }
    }
    if let Some(mut ed) = conn.early_data() {
        ed.read_to_end(&mut early).map_err(|e| e.to_string())?;
    }
    println!("{} protocol: TLSv1.3", n);
    println!("{} suite: {}", n, suite_name(conn.negotiated_cipher_suite()));
    println!(
        "{} alpn: {}",
        n,
        conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or("none".into())
    );
    println!("{} peer-authenticated: {}", n, yn(conn.peer_certificates().is_some()));
    println!("{} early-data-bytes: {}", n, early.len());
    println!("{} server-name: {}", n, conn.sni_hostname().unwrap_or("none"));
    let mut tls = rustls::Stream::new(&mut conn, sock);
    tls.write_all(&early).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16384];
    let mut total = early.len();
    let mut closed = false;
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(_) if closed => {}
            Ok(k) => {
                tls.write_all(&buf[..k]).map_err(|e| e.to_string())?;
                total += k;
                if close_first {
                    tls.conn.send_close_notify();
                    tls.flush().map_err(|e| e.to_string())?;
                    closed = true;
                }
            }
            Err(e) => return Err(format!("read: {}", e)),
        }
    }
    println!("{} echoed: {}", n, total);
    println!("{} close-notify: received", n);
    if closed {
        return Ok(());
    }
    tls.conn.send_close_notify();
    tls.flush().map_err(|e| e.to_string())?;
    Ok(())
}

fn client(o: &Opts) {
    let b = rustls::ClientConfig::builder()
        .with_cipher_suites(&suites(&o.suites))
        .with_kx_groups(&groups(&o.groups))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap_or_else(|e| die(format!("{}", e)))
        .with_root_certificates(roots(&o.ca));
    let mut cfg = if o.cert.is_empty() {
        b.with_no_client_auth()
    } else {
        b.with_single_cert(certs(&o.cert), key(&o.key)).unwrap_or_else(|e| die(format!("{}", e)))
    };
    cfg.alpn_protocols = alpn_list(&o.alpn);
    cfg.enable_early_data = o.early;
    let cfg = Arc::new(cfg);
    let count = if o.resume || o.early { 2 } else { 1 };
    for n in 1..=count {
        if let Err(e) = connect_one(n, o, &cfg) {
            die(format!("connection {}: {}", n, e));
        }
    }
}

fn connect_one(n: u32, o: &Opts, cfg: &Arc<rustls::ClientConfig>) -> Result<(), String> {
    let name = o.name.as_str().try_into().map_err(|_| "bad server name".to_string())?;
    let mut conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect(("127.0.0.1", o.port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    sock.set_write_timeout(Some(Duration::from_secs(8))).unwrap();
    let msg = o.message.as_bytes();
    let mut sent_early = 0;
    if o.early && n == 2 {
        if let Some(mut ed) = conn.early_data() {
            sent_early = ed.write(msg).map_err(|e| e.to_string())?;
        }
    }
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| format!("handshake: {}", e))?;
    }
    let accepted = sent_early > 0 && conn.is_early_data_accepted();
    println!("{} protocol: TLSv1.3", n);
    println!("{} suite: {}", n, suite_name(conn.negotiated_cipher_suite()));
    println!(
        "{} alpn: {}",
        n,
        conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or("none".into())
    );
    if o.early && n == 2 {
        println!(
            "{} early-data: {}",
            n,
            if sent_early == 0 { "none" } else if accepted { "accepted" } else { "rejected" }
        );
    }
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let rest = if accepted { &msg[sent_early..] } else { msg };
    tls.write_all(rest).map_err(|e| format!("write: {}", e))?;
    let mut back = vec![0u8; msg.len()];
    tls.read_exact(&mut back).map_err(|e| format!("read: {}", e))?;
    if back != msg {
        return Err("echo mismatch".into());
    }
    println!("{} echo: ok", n);
    tls.conn.send_close_notify();
    tls.flush().map_err(|e| e.to_string())?;
    let mut sink = Vec::new();
    // Until the server's close_notify (tickets may come first).
    match tls.read_to_end(&mut sink) {
        Ok(_) => println!("{} close-notify: received", n),
        Err(e) => return Err(format!("waiting for close_notify: {}", e)),
    }
    // rustls 0.20 has no API telling whether the session was resumed:
    // the kitls side reports it.
    Ok(())
}
