//! Stand-alone rustls handshake loop (issue 16 groundwork):
//!   rustls-hs CERTDIR [seconds]
//! CERTDIR from bench/peers/gen-certs.sh.  Prints handshakes/s per mode.
use std::time::Instant;

use kitls_peer_rustls::{read, Peer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: rustls-hs CERTDIR [seconds]");
    let secs: f64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(2.0);
    let chain = read(&format!("{}/chain.pem", dir)).unwrap();
    let key = read(&format!("{}/leaf.key", dir)).unwrap();
    let root = read(&format!("{}/root.pem", dir)).unwrap();
    for (mode, name) in [(1, "full, chain not verified"), (0, "full, chain verified"), (2, "resumed")] {
        let mut p = Peer::new(&chain, &key, &root, mode).unwrap();
        p.run(20).unwrap();
        let t0 = Instant::now();
        let mut n = 0i64;
        while t0.elapsed().as_secs_f64() < secs {
            n += p.run(8).unwrap();
        }
        let dt = t0.elapsed().as_secs_f64();
        let s = p.stats();
        println!(
            "rustls {:<26} {:8.0} handshakes/s  (n={} tickets issued={} accepted={} chain checks={} c2s={} s2c={} per hs)",
            name,
            n as f64 / dt,
            s[0],
            s[1],
            s[2],
            s[3],
            s[4] / s[0].max(1),
            s[5] / s[0].max(1)
        );
    }
}
