#!/usr/bin/env python3
"""Share of a handshake's instructions spent outside libcrypto's primitives.

    prims.py CALLGRIND_OUT ROOT [--json FILE] [--label TEXT] [--top N]

Reads a callgrind output file (e.g. from
`valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=one_handshake*'
bench/kitls-bench --only hs ...`) and splits the inclusive instructions of the
functions whose name starts with ROOT into "inside a primitive" and
"outside".  Issue 16 asks for the outside share to be at most 5%.

The primitives are the calls that do the cryptographic arithmetic itself:

  - ECDSA signing and verification: ECDSA_do_sign_ex, ECDSA_do_verify
    (libcrypto's exported low-level entry points, under EVP_PKEY_sign/verify),
    and ECDSA_sign_setup: the nonce k, k*G and k^-1 that ECDSA_do_sign_ex
    computes inside itself when it is not given them (kitls calls it apart,
    with a reused BN_CTX, lib/sig_ec.c: the same arithmetic, counted as
    it was when it ran inside ECDSA_do_sign_ex);
  - SHA-2: SHA{224,256,384,512}_{Update,Final} and the block functions;
  - the AEAD: EVP_{En,De}cryptUpdate, EVP_{En,De}cryptFinal_ex;
  - the RNG: RAND_bytes(_ex), RAND_priv_bytes(_ex);
  - the X25519 and ECDH scalar multiplications.  Debian's libcrypto is
    stripped, so these have no names: for each of EVP_PKEY_generate and
    EVP_PKEY_derive the primitive is the deepest function on the path of
    callees that carries at least 85% of that EVP call's instructions (the
    Montgomery ladder / fixed-base multiplication; with Debian 12's 3.0.22
    these are 0x17f590 and 0x1844d0).  Everything else, including libcrypto's
    EVP context set-up, key-manager lookups, parameter handling and kitls's
    own code, is "outside".

Costs come from callgrind's call edges (inclusive cost of each call site); a
function that is not a primitive passes on to its callers the fraction of
its inclusive cost that lies under primitives.
"""
import collections
import json
import re
import sys

NAMED = {
    "ECDSA_do_sign_ex", "ECDSA_do_verify", "ECDSA_sign_setup",
    "SHA224_Update", "SHA224_Final", "SHA256_Update", "SHA256_Final",
    "SHA384_Update", "SHA384_Final", "SHA512_Update", "SHA512_Final",
    "SHA256_Transform", "SHA512_Transform",
    "EVP_EncryptUpdate", "EVP_DecryptUpdate", "EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex",
    "EVP_CipherUpdate", "EVP_CipherFinal_ex",
    "RAND_bytes", "RAND_priv_bytes", "RAND_bytes_ex", "RAND_priv_bytes_ex",
}
DESCEND_FROM = ("EVP_PKEY_generate", "EVP_PKEY_derive")
DESCEND_SHARE = 0.85


def load(path):
    names, edge, selfc = {}, collections.defaultdict(collections.Counter), collections.Counter()
    cur = cfn = None
    pending = False

    def name(s):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m:
            return s
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    with open(path) as f:
        for line in f:
            if line.startswith("fn="):
                cur = name(line[3:].strip())
            elif line.startswith("cfn="):
                cfn = name(line[4:].strip())
            elif line.startswith("calls="):
                pending = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2:
                    if pending:
                        edge[cur][cfn] += int(parts[1])
                        pending = False
                    else:
                        selfc[cur] += int(parts[1])
    return edge, selfc


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    path, root = args[0], args[1]
    out_json, top, label = None, 0, None
    i = 2
    while i < len(args):
        if args[i] == "--json":
            out_json, i = args[i + 1], i + 2
        elif args[i] == "--label":
            label, i = args[i + 1], i + 2
        elif args[i] == "--top":
            top, i = int(args[i + 1]), i + 2
        else:
            sys.exit("prims.py: unknown option %s" % args[i])
    edge, selfc = load(path)

    def incl(g):
        return selfc[g] + sum(edge[g].values())

    prims = {g for g in set(edge) | set(selfc) if g in NAMED}
    found = {}
    for top_fn in DESCEND_FROM:
        if top_fn not in edge:
            continue
        total, g = incl(top_fn), top_fn
        while edge[g]:
            h, c = edge[g].most_common(1)[0]
            if c < DESCEND_SHARE * total or h == g:
                break
            g = h
        if g != top_fn:
            prims.add(g)
            found[top_fn] = g

    sys.setrecursionlimit(100000)
    memo = {}

    def frac(g, stack):
        if g in prims:
            return 1.0
        if g in memo:
            return memo[g]
        if g in stack:
            return 0.0
        stack.add(g)
        tot = incl(g)
        p = sum(c * frac(h, stack) for h, c in edge[g].items())
        stack.discard(g)
        memo[g] = p / tot if tot else 0.0
        return memo[g]

    roots = [g for g in edge if g.startswith(root)]
    if not roots:
        sys.exit("prims.py: no function starting with %r in %s" % (root, path))
    res = {"root": root, "label": label, "descended": found, "roots": {}}
    for r in roots:
        tot = incl(r)
        inside = frac(r, set()) * tot
        res["roots"][r] = {"instructions": tot, "inside": int(inside),
                           "outside": int(tot - inside),
                           "outside_pct": 100.0 * (tot - inside) / tot if tot else 0.0}
        print("%s: %d instructions, inside primitives %d (%.2f%%), outside %d (%.2f%%)"
              % (r, tot, inside, 100.0 * inside / tot, tot - inside, 100.0 - 100.0 * inside / tot))
    for k, v in found.items():
        print("  scalar multiplication under %s: %s" % (k, v))
    if top:
        # Self cost of each function weighted by the share of its calls made
        # from outside primitives, propagated from the roots down in a
        # topological order of the call graph (recursive edges are dropped).
        weight = collections.Counter({r: 1.0 for r in roots})
        post, seen = [], set()
        for r in roots:
            stack = [(r, iter(edge[r]))]
            seen.add(r)
            while stack:
                g, it = stack[-1]
                h = next(it, None)
                if h is None:
                    stack.pop()
                    post.append(g)
                elif h not in seen and h not in prims:
                    seen.add(h)
                    stack.append((h, iter(edge[h])))
        order = post[::-1]
        rank = {g: i for i, g in enumerate(order)}
        own = collections.Counter()
        for g in order:
            w = weight[g]
            if not w or g in prims:
                continue
            own[g] += w * selfc[g]
            for h, c in edge[g].items():
                if h not in prims and rank.get(h, -1) > rank[g] and incl(h):
                    weight[h] += w * c / incl(h)
        print("  largest self costs outside primitives (approximate):")
        for g, v in own.most_common(top):
            print("  %12d  %s" % (v, g))
    if out_json:
        with open(out_json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
