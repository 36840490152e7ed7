#!/usr/bin/env python3
"""Stack folding, a flame-graph SVG and a cost breakdown for bench/run.sh
--profile (python3 stdlib only).

  flame.py fold [--only FUNC] < perf-script.txt > out.folded
      `perf script` output (call graphs) -> one line per distinct stack,
      "root;caller;...;leaf COUNT".  --only keeps stacks through FUNC and
      cuts them at it (FUNC becomes the root), e.g. one_handshake.
  flame.py svg [--title T] < out.folded > out.svg
      an icicle-style flame graph (root at the top); hover for names.
  flame.py share < out.folded
      where the samples go: raw public-key math, hashing, AEAD (leaf
      functions in libcrypto's arithmetic and block routines, where named),
      and inclusive shares under libcrypto's key-exchange, signature,
      X.509, hash/HMAC and AEAD entry points.
"""
import html
import re
import sys
from collections import defaultdict

# ---------------------------------------------------------------- fold

FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def clean(sym, dso):
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    if sym == "[unknown]":
        base = dso.rsplit("/", 1)[-1]
        return "[%s]" % base if base else "[unknown]"
    return sym.replace(";", ":").replace(" ", "_")


def fold(lines, only=None):
    stacks = defaultdict(int)
    cur = []
    in_sample = False

    def flush():
        if not cur:
            return
        frames = list(reversed(cur))  # root first
        if only is not None:
            idx = [i for i, f in enumerate(frames) if f == only or f.startswith(only + ".")]
            if not idx:
                return
            frames = frames[idx[0]:]  # outermost occurrence becomes the root
        stacks[";".join(frames)] += 1

    for line in lines:
        if not line.strip():
            flush()
            cur, in_sample = [], False
            continue
        if not line[0].isspace():
            flush()
            cur, in_sample = [], True
            continue
        m = FRAME.match(line)
        if m and in_sample:
            cur.append(clean(m.group(1), m.group(2)))
    flush()
    return stacks


def read_folded(f):
    stacks = {}
    for line in f:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, n = line.rpartition(" ")
        stacks[stack] = stacks.get(stack, 0) + int(n)
    return stacks

# ---------------------------------------------------------------- share

PK = re.compile(r"ecp_nistz256|x25519|fe51_|fe64_|ed25519|^ge_|^sc_|bn_|^BN_|rsaz|mul_mont|sqr_mont|"
                r"ec_GFp|ossl_ec_|^ec_|ecdsa|EC_POINT|ossl_bn|felem|^RSA_|rsa_ossl|"
                r"ecx_|curve25519")
HASH = re.compile(r"sha256_block|sha512_block|sha1_block|SHA256_|SHA512_|ossl_sha|keccak")
AEAD = re.compile(r"aesni|aes_|gcm_|gcm_ghash|ghash|chacha|poly1305|ChaCha|Poly1305|AES_")
# Inclusive groups: a sample counts for a group when its stack passes through
# one of the group's (exported, so named) libcrypto entry points.  Debian's
# libcrypto is stripped of its internal symbols, so the arithmetic itself
# often shows as "[libcrypto.so.3]"; these groups still place it.  kitls's
# own thin wrappers (kitls_kex_*, kitls_sig_*) are included because some
# libcrypto entry points are reached without a named frame in between.
GROUPS = [
    ("key exchange: keygen + derive",
     re.compile(r"^(kitls_kex_keygen|kitls_kex_derive|EVP_PKEY_keygen|EVP_PKEY_generate|EVP_PKEY_Q_keygen|EVP_PKEY_derive|"
                r"EVP_PKEY_derive_set_peer.*|EVP_PKEY_new_raw_public_key.*|"
                r"EVP_PKEY_set1_encoded_public_key)$")),
    ("signatures: sign + verify (CertificateVerify and chain)",
     re.compile(r"^(kitls_sig_sign|kitls_sig_verify|EVP_DigestSign.*|EVP_DigestVerify.*|EVP_PKEY_sign.*|EVP_PKEY_verify.*)$")),
    ("X.509: X509_verify_cert, d2i_X509 (includes the chain's signature)",
     re.compile(r"^(X509_verify_cert|d2i_X509|X509_verify|ASN1_item_verify.*|X509_check_host)$")),
    ("hashing: digest, HMAC, HKDF",
     re.compile(r"^(kitls_hmac|kitls_hkdf_.*|kitls_th_(update|current)|HMAC|HMAC_.*|EVP_Digest(Init_ex2?|Update|Final_ex|)|EVP_Q_digest|EVP_MAC_.*|"
                r"EVP_KDF_derive|EVP_MD_CTX_copy_ex)$")),
    ("AEAD (handshake records)",
     re.compile(r"^(EVP_(Encrypt|Decrypt|Cipher)(Init_ex2?|Update|Final_ex|)|EVP_CIPHER_CTX_ctrl)$")),
    ("RNG", re.compile(r"^(RAND_bytes.*|RAND_priv_bytes.*)$")),
]


def share(stacks, out):
    total = sum(stacks.values())
    if total == 0:
        out.write("no samples\n")
        return
    leaf = defaultdict(int)
    incl = defaultdict(int)
    union = 0
    for st, n in stacks.items():
        frames = st.split(";")
        lf = frames[-1]
        cat = ("public-key math" if PK.search(lf) else
               "hashing (block functions)" if HASH.search(lf) else
               "AEAD" if AEAD.search(lf) else
               "libcrypto, internal symbol (stripped)" if lf == "[libcrypto.so.3]" else
               "libssl, internal symbol (stripped)" if lf == "[libssl.so.3]" else "other")
        leaf[cat] += n
        hit = False
        for name, rx in GROUPS:
            for f in frames:
                if rx.match(f):
                    incl[name] += n
                    hit = hit or name != "RNG"
                    break
        union += n if hit else 0
    out.write("samples: %d\n" % total)
    out.write("inclusive, under libcrypto entry points (groups overlap: the chain's\n"
              "signature check is in both the signature and the X.509 group):\n")
    for name, _ in GROUPS:
        out.write("  %-66s %6.1f%%\n" % (name, 100.0 * incl[name] / total))
    out.write("  %-66s %6.1f%%\n" % ("any of the above but RNG (crypto operations, no overlap)",
                                     100.0 * union / total))
    out.write("  %-66s %6.1f%%\n" % ("the rest (TLS logic, glue, allocation, copies)",
                                     100.0 * (total - union) / total))
    out.write("leaf functions (self time):\n")
    for cat in ("public-key math", "hashing (block functions)", "AEAD",
                "libcrypto, internal symbol (stripped)", "libssl, internal symbol (stripped)",
                "other"):
        out.write("  %-66s %6.1f%%\n" % (cat, 100.0 * leaf[cat] / total))
    self_cost = defaultdict(int)
    for st, n in stacks.items():
        self_cost[st.rsplit(";", 1)[-1]] += n
    out.write("top leaf functions:\n")
    for f, n in sorted(self_cost.items(), key=lambda x: -x[1])[:20]:
        out.write("  %6.2f%%  %s\n" % (100.0 * n / total, f))

# ---------------------------------------------------------------- svg


def tree(stacks):
    root = {"n": 0, "kids": {}}
    for st, n in stacks.items():
        node = root
        node["n"] += n
        for f in st.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    return root


def color(name):
    if PK.search(name):
        return "#e0603a"
    if HASH.search(name):
        return "#e8a33c"
    if AEAD.search(name):
        return "#d9c64a"
    if name.startswith("kitls") or name.startswith("k_"):
        return "#5b9bd5"
    if name.startswith(("SSL", "ssl", "tls", "ossl_statem", "statem")):
        return "#7fb77e"
    h = sum(ord(c) for c in name) % 40
    return "rgb(%d,%d,%d)" % (160 + h, 160 + h // 2, 170)


def svg(stacks, title, out, width=1400, row=16):
    root = tree(stacks)
    total = root["n"] or 1
    rects = []

    def depth(node):
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    def walk(name, node, x, level):
        w = node["n"] * width / total
        if w < 0.3:
            return
        rects.append((x, level, w, name, node["n"]))
        cx = x
        for k in sorted(node["kids"]):
            kid = node["kids"][k]
            walk(k, kid, cx, level + 1)
            cx += kid["n"] * width / total

    walk("all", root, 0.0, 0)
    h = (depth(root) + 2) * row + 20
    out.write('<?xml version="1.0" standalone="no"?>\n')
    out.write('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
              'font-family="monospace" font-size="11">\n' % (width, h))
    out.write('<rect width="100%%" height="100%%" fill="#fbfbf6"/>\n')
    out.write('<text x="4" y="14" font-size="13">%s (%d samples; root at the top; '
              'orange = public-key math, amber = hashing, yellow = AEAD, blue = kitls, '
              'green = libssl)</text>\n' % (html.escape(title), total))
    for x, level, w, name, n in rects:
        y = 20 + level * row
        label = "%s (%d samples, %.2f%%)" % (name, n, 100.0 * n / total)
        out.write('<g><title>%s</title><rect x="%.2f" y="%d" width="%.2f" height="%d" '
                  'fill="%s" stroke="#fff" stroke-width="0.3"/>' %
                  (html.escape(label), x, y, w, row - 1, color(name)))
        chars = int(w / 6.6)
        if chars >= 3:
            text = name if len(name) <= chars else name[:chars - 2] + ".."
            out.write('<text x="%.2f" y="%d">%s</text>' % (x + 2, y + row - 4, html.escape(text)))
        out.write("</g>\n")
    out.write("</svg>\n")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("fold", "svg", "share"):
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    opts = dict(zip(args[::2], args[1::2]))
    if cmd == "fold":
        st = fold(sys.stdin, opts.get("--only"))
        for k in sorted(st):
            sys.stdout.write("%s %d\n" % (k, st[k]))
    elif cmd == "svg":
        svg(read_folded(sys.stdin), opts.get("--title", "kitls"), sys.stdout)
    else:
        share(read_folded(sys.stdin), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
