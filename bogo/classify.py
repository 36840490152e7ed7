#!/usr/bin/env python3
"""Classify every BoGo test for the kitls v1-prod profile.

Python 3 standard library only.  Every test name the runner generates is
put in exactly one class -- in_scope_required, in_scope_optional or
out_of_scope -- and one feature area, by the ordered written rules below
(first match wins).  Each rule has an id, a regular expression on the test
name, a class, an area and a reason; docs/bogo-profile-v1-prod.md explains
them.  Re-running this script on the runner's test list reproduces
bogo/profile-v1-prod.json byte for byte.

Usage:
  classify.py [--tests FILE | (runs bogo/list-tests.sh)] [--out FILE]
  classify.py --check               # profile on disk == regenerated one
  classify.py --explain NAME...     # show which rule classifies a name
  classify.py --meta META.jsonl     # compare with runner metadata
                                    # (bogo/dump-meta.sh), a review aid
  classify.py --doc-tables [--summary SUMMARY.json]
                                    # the tables of docs/bogo-profile-v1-prod.md
                                    # (from the profile on disk; with a
                                    # bogo/summary.py output, the strict table)
"""

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter, OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "profile-v1-prod.json")

REQ, OPT, OUT = "in_scope_required", "in_scope_optional", "out_of_scope"

RUNNER = OrderedDict([
    ("source_package", "android-platform-external-boringssl"),
    ("version", "14.0.0+r45"),
    ("boringssl_commit", "32b51305"),
    ("tarball_sha256", "f9223e8c15ad5d9e3f1cd50861f4c272658864661e2332bea5d60952aa0930cd"),
])

# Areas the library claims today: strict mode fails on any non-PASS among
# their in_scope_required tests.  Other areas are reported with counts.
# Edit this list (and regenerate) when the library claims an area.
CLAIMED_AREAS = [
    "handshake",
    "cipher-suites",
    "groups",
    "signatures",
    "hrr",
    "alerts",
    "certificates",
    "alpn-sni",
    "record-layer",
    "keyupdate",
    "resumption",
    "exporters",
    "early-data",
    "extensions",
]

AREAS = OrderedDict([
    ("handshake", "basic TLS 1.3 handshakes, message order, state machine, version negotiation"),
    ("cipher-suites", "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256"),
    ("groups", "X25519, secp256r1, secp384r1 key shares and curve handling"),
    ("signatures", "signature_algorithms, CertificateVerify schemes"),
    ("hrr", "HelloRetryRequest, cookie, second ClientHello"),
    ("keyupdate", "KeyUpdate in both directions, update_requested"),
    ("resumption", "tickets, PSK resumption, binders, ticket age"),
    ("early-data", "0-RTT: early_data, EndOfEarlyData, acceptance and rejection"),
    ("certificates", "certificate messages, chain verification, key usage, OCSP/SCT, client certificates"),
    ("alerts", "alerts, close_notify, shutdown"),
    ("alpn-sni", "ALPN and server_name"),
    ("record-layer", "record framing, sizes, padding, record_size_limit, CCS compatibility"),
    ("extensions", "other extension handling: unknown, duplicate, GREASE, padding"),
    ("exporters", "RFC 8446 section 7.5 keying material exporters"),
    ("post-handshake-auth", "post-handshake client authentication (optional)"),
    ("tls12-and-below", "out of scope: TLS 1.2, 1.1, 1.0, SSL 3"),
    ("dtls", "out of scope: DTLS"),
    ("quic", "out of scope: QUIC and its transport parameters"),
    ("ech", "out of scope: Encrypted ClientHello"),
    ("cert-compression", "out of scope: RFC 8879 certificate compression"),
    ("delegated-credentials", "out of scope: delegated credentials"),
    ("external-psk", "out of scope: external PSKs / PSK without certificates"),
    ("pake", "out of scope: PAKE"),
    ("boringssl-specific", "out of scope: BoringSSL-only extensions, APIs and policies"),
    ("algorithms-outside-profile", "out of scope: groups/signatures v1-prod does not offer"),
])

# Version tokens in BoGo names ("-TLS12", "TLS1-", "SSL3-"...).
_OLD = r"(?:SSL3|TLS1|TLS10|TLS11|TLS12)"
_TOK = lambda t: r"(?:^|[-_])" + t + r"(?:[-_]|$)"
# Prefix for rules that must not match names with a TLS13 token.
# (_compile() strips it and skips such names before matching.)
_NO13 = "!13:"

# (id, regex, class, area, reason).  Order matters: first match wins.
RULES = [
    # ---- protocols out of scope ------------------------------------------
    ("dtls", r"DTLS|^MTU(Exceeded)?$|^SendSplitAlert-", OUT, "dtls",
     "DTLS is out of scope for v1-prod (design.md)."),
    ("quic", r"QUIC", OUT, "quic",
     "QUIC glue and QUIC transport parameters are out of scope (design.md)."),
    ("ech", r"(^|-)ECH(-|$)|ECH[A-Z]|EncryptedClientHello|ClientHelloOuter|InnerClientHello",
     OUT, "ech", "Encrypted ClientHello is out of scope (design.md)."),
    ("cert-compression", r"CertCompression|CompressedCert", OUT, "cert-compression",
     "Certificate compression (RFC 8879) is out of scope (design.md)."),
    ("delegated-credentials", r"DelegatedCredential", OUT, "delegated-credentials",
     "Delegated credentials are out of scope (design.md)."),
    ("pake", r"PAKE|SPAKE", OUT, "pake", "PAKE is out of scope (design.md)."),
    ("external-psk", r"(^|-)PSK-|EmptyPSKHint|ExplicitEmptyPSKHint|EmptyECDHEPSKHint|^ClientAuth-PSK|"
                     r"^TLS-TLS13-(ECDHE_)?PSK_WITH_",
     OUT, "external-psk",
     "PSK cipher suites / external PSKs without certificates are out of scope (design.md) "
     "(TLS-TLS13-*PSK_WITH_* configure the shim with an external PSK, -psk)."),

    # ---- BoringSSL-specific extensions, APIs and policies -----------------
    ("alps", r"ALPS|ApplicationSettings|^AllExtensions-Client-Permute-HelloRetryRequest-|"
             r"^ExtraClientEncryptedExtension-",
     OUT, "boringssl-specific",
     "ALPS (application_settings) is a BoringSSL-specific extension (design.md) "
     "(AllExtensions-Client-Permute-* turns on every extension, ALPS included; "
     "ExtraClientEncryptedExtension-* negotiates ALPS, -application-settings, and checks "
     "the client's ALPS EncryptedExtensions message)."),
    ("channel-id", r"ChannelID|OBC", OUT, "boringssl-specific",
     "Channel ID is a BoringSSL-specific extension (design.md)."),
    ("custom-extensions", r"CustomExtension|CustomTicketExtension|CustomCallback",
     OUT, "boringssl-specific",
     "Custom extensions and custom verify callbacks are BoringSSL APIs (design.md)."),
    ("compliance-policy", r"^Compliance-", OUT, "boringssl-specific",
     "SSL_set_compliance_policy (fips-202205, wpa-202304) is a BoringSSL API."),
    ("kyber", r"Kyber", OUT, "algorithms-outside-profile",
     "X25519Kyber768 is a draft post-quantum group, not in the v1-prod group set."),
    ("handshake-hints", r"HintMismatch|Handshaker", OUT, "boringssl-specific",
     "Split handshakes and handshake hints are a BoringSSL deployment feature."),
    ("callbacks", r"(^|-)(DDoS|FailEarlyCallback|FailCertCallback|TicketCallback|"
                  r"ClientOCSPCallback|ServerOCSPCallback|CertificateVerification(Succeed|Fail|"
                  r"DoesNotFailOnResume|SoftFail|PassesOnResume|FailsOnResume))",
     OUT, "boringssl-specific",
     "These test BoringSSL callback APIs (select_certificate, DDoS, ticket, OCSP and "
     "custom-verify callbacks) rather than protocol behaviour."),
    ("jdk11-workaround", r"JDK11", OUT, "boringssl-specific",
     "BoringSSL's JDK 11 server workaround (SSL_set_jdk11_workaround)."),
    ("retain-sha256", r"RetainOnlySHA256", OUT, "boringssl-specific",
     "SSL_CTX_set_retain_only_sha256_of_client_certs is a BoringSSL API."),
    ("peek", r"^Peek-", OUT, "boringssl-specific", "SSL_peek semantics are a BoringSSL API."),
    ("traffic-secrets", r"^ExportTrafficSecrets", OUT, "boringssl-specific",
     "Exports raw secrets through BoringSSL's key-log/secret API."),
    ("srtp", r"SRTP", OUT, "boringssl-specific", "DTLS-SRTP (use_srtp) belongs to DTLS."),
    ("npn", r"(^|-)NPN|NextProto", OUT, "tls12-and-below",
     "NPN is a pre-ALPN TLS 1.2 extension."),
    ("verify-prefs", r"^VerifyPreferences-|^Ed25519DefaultDisable|^(Client|Server)-VerifyDefault-Ed25519-",
     OUT, "boringssl-specific",
     "SSL_set_verify_algorithm_prefs / Ed25519 opt-in are BoringSSL API defaults "
     "(the *-VerifyDefault-Ed25519-* tests expect Ed25519 to be refused by default; "
     "kitls accepts it by default, as design.md lists it)."),
    ("boringssl-selection-policy", r"^SendHelloRetryRequest-2-TLS13$|"
                                   r"^TLS13-CipherPreference-Server-ChaCha20-AES$",
     OUT, "boringssl-specific",
     "BoringSSL's server selection policy, which RFC 8446 leaves to the server: it always "
     "takes its first group even when that costs a HelloRetryRequest (kitls prefers a group "
     "the client sent a share for), and it follows a client that lists ChaCha20 first "
     "(kitls follows its own suite order)."),
    ("boringssl-resumption-policy", r"^Resume-Server-UnofferedCipher-TLS13$", OUT,
     "boringssl-specific",
     "BoringSSL declines a ticket whose cipher suite the client did not offer; RFC 8446 "
     "§4.2.11 and §4.6.1 allow resuming with any offered suite of the ticket's hash, which "
     "kitls does (the runner offers AES-128-GCM for a ChaCha20 ticket, both SHA-256)."),
    ("boringssl-alpn-options", r"^ALPNClient-AllowUnknown-|^ALPNServer-SelectEmpty-", OUT,
     "boringssl-specific",
     "BoringSSL ALPN API options: SSL_CTX_set_allow_unknown_alpn_protos (the client accepts "
     "a protocol it did not offer, which RFC 7301 §3.2 forbids a server to send) and an ALPN "
     "callback that returns an empty protocol (the test checks BoringSSL refuses its own "
     "callback's result); kitls has neither option."),
    ("boringssl-ticket-format", r"^Resume-Server-(DeclineCrossVersion|DeclineBadCipher|"
                                r"CipherNotPreferred)-TLS13$", OUT, "boringssl-specific",
     "The runner decrypts the shim's ticket with the key given by -ticket-key and rewrites "
     "its version or cipher suite (SetShimTicketVersion/SetShimTicketCipherSuite), which "
     "assumes BoringSSL's ticket format; kitls tickets have their own sealed format."),
    ("tls-unique", r"TLSUnique|tls-unique", OUT, "tls12-and-below",
     "tls-unique channel binding does not exist in TLS 1.3."),
    ("fallback-scsv", r"FallbackSCSV", OUT, "tls12-and-below",
     "TLS_FALLBACK_SCSV (RFC 7507) is a pre-1.3 version-fallback mechanism."),
    ("v2-client-hello", r"V2ClientHello", OUT, "tls12-and-below",
     "SSLv2-compatible ClientHello is a legacy format."),
    ("false-start", r"FalseStart", OUT, "tls12-and-below", "False Start is TLS 1.2 only."),

    # ---- algorithms outside the v1-prod set -------------------------------
    ("p224-p521-curves", r"^CurveTest-.*(P-224|P-521)", OUT, "algorithms-outside-profile",
     "P-224 and P-521 key exchange are not in the v1-prod group set."),
    ("p521-signatures", r"ECDSA_P521", OUT, "algorithms-outside-profile",
     "ecdsa_secp521r1_sha512 is not in the v1-prod signature set."),

    # ---- version negotiation where TLS 1.3 is refused or not offered -----
    # The shim is TLS 1.3-only: a test that refuses an older peer is in
    # scope; a test that expects an older version to be negotiated is not.
    ("min-version-13", r"^MinimumVersion-(Client|Server)2?-TLS13-" + _OLD + r"-TLS$",
     REQ, "handshake",
     "A shim whose minimum is TLS 1.3 must refuse an older peer: in scope."),
    ("downgrade-client", r"^Downgrade-TLS1[0-2]-Client$", OUT, "tls12-and-below",
     "The runner's server negotiates TLS 1.2 or below, which needs a client that offers "
     "that version's cipher suites: a TLS 1.3-only client never gets a ServerHello to check "
     "the downgrade sentinel in (refusing older servers is tested by "
     "MinimumVersion-Client-TLS13-*)."),
    ("expects-older-version", r"^(ClientHelloVersionTooHigh|ConflictingVersionNegotiation(-2)?|"
                              r"(Major|Minor)VersionTolerance)$", OUT, "tls12-and-below",
     "The runner's client offers TLS 1.3 but its expectations require the shim server to "
     "negotiate TLS 1.2 or 1.1 (from legacy_version or a supported_versions list without "
     "TLS 1.3): only a server that speaks those versions can pass."),
    ("tls12-extension-in-13", r"^(EMS|RenegotiationInfo)-Forbidden-TLS13$", OUT,
     "tls12-and-below",
     "The runner echoes extended_master_secret / renegotiation_info only to a client that "
     "offered them, i.e. one that also speaks TLS 1.2; a TLS 1.3-only client never does."),
    ("version-13-by-both", r"^(VersionNegotiation|MinimumVersion)-(Client|Server)2?-"
                           + _OLD + r"-TLS13-TLS$",
     None, None, "see below"),  # placeholder, replaced in _compile()

    # ---- TLS 1.2 and below -------------------------------------------------
    ("old-version-by-runner", r"^VersionNegotiationExtension-" + _OLD + r"-TLS$|"
                              r"^Downgrade-TLS1[0-2]-Server$",
     OUT, "tls12-and-below",
     "The runner offers only an older version (or expects the shim server to negotiate "
     "one and send the downgrade sentinel): the shim would have to speak TLS 1.2 or below."),
    ("tls12-in-token", r"TLS12SessionID|TLS12NoSessionID|EarlyDataInTLS12|MaxTLS12|"
                       r"ResumeTLS12|^Ticket-Forbidden-TLS13$|[a-z]TLS1[0-2]?(?:$|-)|"
                       r"^EarlyDataVersionDowngrade-",
     OUT, "tls12-and-below",
     "The name names a TLS 1.2 session, ticket or downgrade: the runner negotiates TLS 1.2."),
    ("version-token", _TOK(_OLD), OUT, "tls12-and-below",
     "The name carries a TLS 1.2-or-below version token (TLS1, TLS11, TLS12, SSL3): that "
     "version is negotiated."),
    ("tls12-only-features", _NO13 + r"Renegotiat|HelloRequest|ExtendedMasterSecret|(^|-)EMS-|"
                            r"CBC|RC4|3DES|RSA_WITH|RSAKeyExchange|RSAClientKeyExchange|"
                            r"RSAEphemeralKey|ChangeCipherSpec-(server|client)|"
                            r"^(Early|Bad)ChangeCipherSpec|^FragmentAcrossChangeCipherSpec|"
                            r"ServerKeyExchange|UnauthenticatedECDH|PointFormat|"
                            r"SessionID|SessionTicketsDisabled|^ShimTicketRewritable|"
                            r"ECDHE_|_SHA$|SHA256_CBC|^CipherNegotiation-|^NoSSL3|"
                            r"SkipCertificateStatus|SkipNewSessionTicket|ClientCertificateTypes|"
                            r"CertificateCipherMismatch|ServerCipherFilter|^Agree-Digest|"
                            r"AppDataAfterChangeCipherSpec|AlertAfterChangeCipherSpec|"
                            r"SendClientVersion|^DisableEverything$|^Null-Client-CA-List$|"
                            r"InvalidCompressionMethod$|^UnsupportedCipherSuite$|"
                            r"ServerHelloDone|ClientKeyExchange|CertificateStatus|HelloRequest|"
                            r"^SkipServerKeyExchange$|SessionID|CBCPadding|ECDHE_PSK",
     OUT, "tls12-and-below",
     "Features that exist only in TLS 1.2 and below (renegotiation, EMS, CBC/RC4/RSA key "
     "exchange, ServerKeyExchange, session IDs, ...)."),
    ("legacy-families", _NO13 + r"^(?:Basic-|Shutdown-Shim-(?!KeyUpdate)|TrailingMessageData-|"
                                r"WrongMessageType-|SendWarningAlerts-(Pass|TooMany))",
     OUT, "tls12-and-below",
     "Families whose TLS 1.3 variants carry a TLS13 token (TLS13-1RTT-*, *-TLS13-*): "
     "the members without it are the TLS 1.2 variants (state machine coverage, "
     "message-type and trailing-data checks, shim-initiated shutdown, warning alerts)."),
    ("legacy-bare-name", None, OUT, "tls12-and-below",
     "BoGo names the TLS 1.3 variant of a test '<name>-TLS13' (or with a TLS13 token); "
     "the bare <name> without any version token is its TLS 1.2 variant."),
    ("legacy-by-config", None, OUT, "tls12-and-below",
     "Listed by name (LEGACY_BY_CONFIG): the runner's configuration pins TLS 1.2 or below, "
     "although the name carries no version token (checked with bogo/dump-meta.sh)."),

    # ---- optional ----------------------------------------------------------
    ("post-handshake-auth", r"PostHandshake.*Auth|PHA|RequestClientCertificateAfter",
     OPT, "post-handshake-auth",
     "Post-handshake client authentication is optional in v1-prod (design.md): few "
     "clients use it and HTTP/2 forbids it."),
    ("raw-public-keys", r"RawPublicKey|RPK", OPT, "certificates",
     "Raw public keys (RFC 7250) are optional in v1-prod (design.md)."),

    # ---- RFC 8446 over BoGo: kitls keeps the RFC's behaviour where the
    # runner expects BoringSSL's different (not RFC-mandated) one.  Each is
    # optional with the RFC text it follows (docs/bogo-profile-v1-prod.md).
    ("rfc-record-version", r"^CheckRecordVersion-TLS13$", OPT, "record-layer",
     "RFC 8446 §5.1: legacy_record_version MUST be ignored for all purposes (except the "
     "initial ClientHello); BoringSSL rejects a wrong record version."),
    ("rfc-ee-key-share", r"^EncryptedExtensionsWithKeyShare-TLS13$", OPT, "groups",
     "RFC 8446 §4.2: a recognised extension in a message it is not specified for MUST be "
     "answered with illegal_parameter; BoGo expects unsupported_extension."),
    ("rfc-missing-sigalgs", r"^ServerAuth-NoFallback-TLS13$|"
                            r"^MissingSignatureAlgorithmsInCertificateRequest-TLS13$",
     OPT, "certificates",
     "RFC 8446 §4.2.3, §4.3.2 and §9.2: a missing signature_algorithms extension (in a "
     "ClientHello for certificate authentication, or in a CertificateRequest) is "
     "missing_extension; BoGo expects handshake_failure / decode_error."),
    ("rfc-missing-groups", r"^NoSupportedCurves-TLS13$", OPT, "groups",
     "RFC 8446 §9.2: a ClientHello with key_share but no supported_groups MUST be answered "
     "with missing_extension; BoGo expects handshake_failure."),
    ("rfc-server-version", r"^ServerBogusVersion$", OPT, "handshake",
     "RFC 8446 §4.1.3 fixes ServerHello.legacy_version to 0x0303 and names no alert for "
     "another value; kitls treats it as a malformed field (decode_error), BoGo expects "
     "protocol_version."),
    ("rfc-empty-certificate", r"^EmptyCertificateList-TLS13$", OPT, "certificates",
     "RFC 8446 §4.4.2.4: an empty server Certificate MUST be answered with decode_error; "
     "BoGo expects PEER_DID_NOT_RETURN_A_CERTIFICATE."),
    ("rfc-key-update-value", r"^KeyUpdate-InvalidRequestMode$", OPT, "keyupdate",
     "RFC 8446 §4.6.3: a request_update other than 0 or 1 MUST be answered with "
     "illegal_parameter; BoGo expects decode_error."),
    ("rfc-binder-length", r"^Resume-Server-BinderWrongLength(-SecondBinder)?$", OPT,
     "resumption",
     "RFC 8446 §4.2.11: PskBinderEntry is opaque<32..255>, so the runner's 31-byte binder "
     "(SHA-256 suite) is a syntax error, decode_error (§6.2); BoGo expects decrypt_error."),
    ("rfc-finished-length", r"^TrailingMessageData-TLS13-(Client|Server)Finished-TLS$", OPT,
     "handshake",
     "RFC 8446 §6.2: a message whose length is incorrect is decode_error, and a Finished has "
     "exactly the hash length (§4.4.4), so a Finished with trailing data is decode_error (as "
     "OpenSSL and tlsfuzzer expect); BoGo expects decrypt_error."),
    ("rfc-early-data-ch2", r"^SkipEarlyData-SecondClientHelloEarlyData-TLS13$", OPT,
     "early-data",
     "RFC 8446 §4.1.2: the second ClientHello MUST NOT carry early_data (early data is not "
     "permitted after a HelloRetryRequest); kitls refuses it with illegal_parameter, BoGo "
     "expects the server to ignore it and fail later with bad_record_mac."),
    ("rfc-early-data-no-psk", r"^EarlyDataWithoutResume-Client-TLS13$", OPT, "early-data",
     "RFC 8446 §4.2.10/§4.2.11: early_data in EncryptedExtensions is only valid with the "
     "accepted PSK (selected_identity 0); kitls answers an inconsistent server with "
     "illegal_parameter, BoGo expects unsupported_extension."),

    ("rfc-only-padding", r"^TLS13-OnlyPadding$", OPT, "record-layer",
     "RFC 8446 §5.4: a TLSInnerPlaintext with no non-zero octet (no content type) MUST be "
     "answered with unexpected_message; BoGo expects bad_record_mac."),
    ("rfc-sh-alpn", r"^UnexpectedUnencryptedExtension-Client-TLS13$", OPT, "extensions",
     "RFC 8446 §4.2: a recognised extension (ALPN) in a message it is not specified for "
     "(ServerHello) MUST be answered with illegal_parameter; BoGo expects "
     "unsupported_extension (as rfc-ee-key-share)."),
    ("rfc-unoffered-ext", r"^PointFormat-EncryptedExtensions-TLS13$", OPT, "extensions",
     "RFC 8446 §4.2: an extension response the client did not request MUST be answered "
     "with unsupported_extension; kitls (TLS 1.3 only) never offers ec_point_formats, "
     "BoGo expects a parse error from a client that offered it for TLS 1.2."),

    # ---- in scope: areas ---------------------------------------------------
    ("early-data", r"EarlyData|0RTT|ZeroRTT|EndOfEarlyData|HalfRTT", REQ, "early-data",
     "0-RTT is in scope (off by default, policy enforced)."),
    ("hrr", r"HelloRetryRequest|HRR|SecondClientHello|SecondServerHello|Cookie|"
            r"DisabledCurve-HelloRetryRequest|^SecondHelloRetryRequest",
     REQ, "hrr", "HelloRetryRequest and cookies are in scope."),
    ("keyupdate", r"KeyUpdate", REQ, "keyupdate", "KeyUpdate is in scope."),
    ("resumption", r"Resum|Ticket|PSK|KEMode|Binder|ObfuscatedTicketAge|TicketAge|"
                   r"PSKIdentity|SessionCache|CorruptTicket|NegotiatePSK",
     REQ, "resumption", "PSK resumption with tickets is in scope."),
    ("exporters", r"ExportKeyingMaterial|EarlyKeyingMaterial|Exporter", REQ, "exporters",
     "Keying material exporters are part of RFC 8446 (section 7.5): in scope."),
    ("cipher-suites", r"CipherSuite|^TLS-TLS13-|Cipher|AES|CHACHA|AEAD|GCM", REQ,
     "cipher-suites", "The three TLS 1.3 suites are in scope; others must be refused."),
    ("groups", r"Curve|KeyShare|ECDH|X25519|P-256|P-384|ECPoint|SupportedGroups|Group",
     REQ, "groups", "X25519, P-256 and P-384 key exchange is in scope."),
    ("alpn-sni", r"ALPN|ServerName|SNI|HostName", REQ, "alpn-sni",
     "ALPN and SNI are in scope."),
    ("client-auth-certs", r"ClientAuth|ClientCert|CertificateRequest|RequireAny|"
                          r"NoClientCertificate|SkipClientCertificate|PeerVerifyPrefs|"
                          r"CertificateVerify|SkipCertificateVerify|RequestContext",
     REQ, "certificates", "Client certificates are in scope."),
    ("certificates", r"Cert|OCSP|SCT|SignedCertificateTimestamp|KeyUsage|Intermediate|"
                     r"ServerAuth|CheckLeafCurve|ECDSACurveMismatch",
     REQ, "certificates", "Certificates, chains, key usage and OCSP stapling are in scope."),
    ("signatures", r"Sign|Verify|Signature|RSA-PSS|Ed25519|ECDSA|BadECDSA|Algorithm|"
                   r"SigAlg|NoCommonAlgorithms",
     REQ, "signatures", "TLS 1.3 signature schemes are in scope."),
    ("alerts", r"Alert|Shutdown|Unclean|close_notify|CloseNotify|UserCanceled",
     REQ, "alerts", "Alerts and close_notify are in scope."),
    ("record-layer", r"Record|Plaintext|Ciphertext|Fragment|Packed|EmptyRecords|"
                     r"MaxSendFragment|LargeMessage|SendInvalidRecordType|Partial|"
                     r"ChangeCipherSpec|AppDataBeforeHandshake|TLSFatalBadPackets|Garbage$|"
                     r"^Http(GET|POST|HEAD|PUT|CONNECT)$",
     REQ, "record-layer", "The record layer is in scope."),
    ("extensions", r"Extension|GREASE|Padding|AllExtensions|Duplicate|Unsolicited|"
                   r"Unoffered|Compression",
     REQ, "extensions", "Extension handling is in scope."),
    ("handshake", r".", REQ, "handshake",
     "Everything else in TLS 1.3 (basic handshakes, message order, versions) is in scope."),
]

# Names that carry no version token but whose runner configuration pins
# TLS 1.2 or below (found with bogo/dump-meta.sh; see --meta).  Kept short by
# the family rules above; each entry is a reviewable exception.
LEGACY_BY_CONFIG = [
    "BadRSAClientKeyExchange-1", "BadRSAClientKeyExchange-2", "BadRSAClientKeyExchange-3",
    "BadRSAClientKeyExchange-4", "BadRSAClientKeyExchange-5", "BadRSAClientKeyExchange-6",
    "BadRSAClientKeyExchange-7", "BadRSAClientKeyExchange-8",
    "ClientAuth-NoFallback-ECDSA",
    "ClientAuth-NoFallback-RSA",
    "ExpectOmitExtensions",
    "FilterExtraAlgorithms",
    "NoCommonCurves",
    "RSA-PSS-Default-Sign",
    "RSA-PSS-Default-Verify",
    "Resume-Server-DeclineBadCipher-2",
    "SendEmptySessionTicket",
    "SendSNIWarningAlert",
    "ServerAuth-SHA1-Fallback-ECDSA",
    "ServerAuth-SHA1-Fallback-RSA",
    "StrayChangeCipherSpec",
    "UnsupportedCurve",
]


def _compile():
    rules = []
    for rid, rx, cls, area, reason in RULES:
        if rid == "version-13-by-both":
            # The peer offers an old version and the shim TLS 1.3, or the
            # reverse: the two names order (shim-version, runner-version).
            # shim old + runner TLS 1.3 (VersionNegotiation-*-TLS12-TLS13):
            # the shim is told to stop at TLS 1.2: out of scope.
            # shim min old + runner TLS 1.3 (MinimumVersion-*-TLS12-TLS13):
            # TLS 1.3 is negotiated: in scope.
            rules.append(("version-negotiation-old-shim",
                          re.compile(r"^VersionNegotiation-(Client|Server)2?-" + _OLD + r"-TLS13-TLS$"),
                          OUT, "tls12-and-below",
                          "The shim is configured to stop at TLS 1.2 or below.", False))
            rules.append(("minimum-version-13-negotiated",
                          re.compile(r"^MinimumVersion-(Client|Server)2?-" + _OLD + r"-TLS13-TLS$"),
                          REQ, "handshake",
                          "A lower minimum version does not stop TLS 1.3 from being negotiated.",
                          False))
            continue
        no13 = bool(rx) and rx.startswith(_NO13)
        if no13:
            rx = rx[len(_NO13):]
        rules.append((rid, re.compile(rx) if rx else None, cls, area, reason, no13))
    return rules


COMPILED = _compile()
_V13_TOKEN = re.compile(_TOK("TLS13"))


def _bare_names(names):
    """Names with no version token whose TLS 1.3 sibling exists: the sibling
    is the same name with a TLS13 token inserted or appended."""
    bases = set()
    for n in names:
        if _V13_TOKEN.search(n):
            parts = re.split(r"([-_])", n)
            # drop one "TLS13" token and its separator
            for i, p in enumerate(parts):
                if p == "TLS13":
                    cand = parts[:max(i - 1, 0)] + parts[i + 1:] if i > 0 else parts[i + 2:]
                    bases.add("".join(cand))
    return bases


def classify_all(names):
    names = sorted(set(names))
    bare = _bare_names(names)
    legacy_cfg = set(LEGACY_BY_CONFIG)
    out = OrderedDict()
    for n in names:
        has_token = bool(_V13_TOKEN.search(n)) or bool(re.search(_TOK(_OLD), n))
        v13 = bool(_V13_TOKEN.search(n))
        for rid, rx, cls, area, reason, no13 in COMPILED:
            if no13 and v13:
                continue
            if rid == "legacy-bare-name":
                hit = (not has_token) and n in bare
            elif rid == "legacy-by-config":
                hit = n in legacy_cfg
            else:
                hit = bool(rx.search(n))
            if hit:
                out[n] = OrderedDict([("class", cls), ("area", area), ("rule", rid)])
                break
    return out


def build_profile(names):
    tests = classify_all(names)
    counts = OrderedDict()
    for area in AREAS:
        c = Counter(t["class"] for t in tests.values() if t["area"] == area)
        if c:
            counts[area] = OrderedDict([(k, c.get(k, 0)) for k in (REQ, OPT, OUT)])
    rules_used = Counter(t["rule"] for t in tests.values())
    prof = OrderedDict()
    prof["schema"] = "kitls-bogo-profile"
    prof["schema_version"] = 1
    prof["profile"] = "v1-prod"
    prof["generated_by"] = "bogo/classify.py"
    prof["runner"] = RUNNER
    prof["test_count"] = len(tests)
    prof["class_counts"] = OrderedDict(
        (k, sum(1 for t in tests.values() if t["class"] == k)) for k in (REQ, OPT, OUT))
    prof["claimed_areas"] = list(CLAIMED_AREAS)
    prof["areas"] = OrderedDict(
        (a, OrderedDict([("description", AREAS[a])] + list(counts[a].items())))
        for a in counts)
    prof["rules"] = [OrderedDict([("id", rid), ("class", cls), ("area", area),
                                  ("matches", rules_used.get(rid, 0)), ("reason", reason)])
                     for rid, _, cls, area, reason, _ in COMPILED]
    prof["tests"] = tests
    return prof


def dump_profile(prof):
    """Stable text: one test per line so diffs stay reviewable."""
    head = OrderedDict((k, v) for k, v in prof.items() if k != "tests")
    text = json.dumps(head, indent=1)
    assert text.endswith("}")
    lines = [text[:-1].rstrip() + ',\n "tests": {']
    items = list(prof["tests"].items())
    for i, (n, t) in enumerate(items):
        lines.append("  %s: %s%s" % (json.dumps(n), json.dumps(t), "," if i + 1 < len(items) else ""))
    lines.append(" }\n}\n")
    return "\n".join(lines)


def get_names(args):
    if args.tests:
        with open(args.tests, encoding="utf-8") as f:
            return [l.strip() for l in f if l.strip()]
    res = subprocess.run(["bash", os.path.join(HERE, "list-tests.sh")],
                         stdout=subprocess.PIPE, check=True, universal_newlines=True)
    return [l.strip() for l in res.stdout.splitlines() if l.strip()]


# Rules that exclude a test because of the version it negotiates (the
# others exclude by feature, whatever the version).
VERSION_RULES = ("tls12-in-token", "version-token", "tls12-only-features", "legacy-families",
                 "legacy-bare-name", "legacy-by-config", "version-negotiation-old-shim")


def meta_check(prof, meta_path):
    """Compare the name rules with the runner's own configuration: report
    tests the rules put in scope although TLS 1.2 or below, DTLS or QUIC is
    negotiated, and the reverse."""
    bad = []
    with open(meta_path, encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            t = prof["tests"].get(m["name"])
            if t is None:
                bad.append(("missing", m["name"]))
                continue
            flags = m.get("flags") or []

            def val(k):
                if k in flags and flags.index(k) + 1 < len(flags):
                    try:
                        return int(flags[flags.index(k) + 1])
                    except ValueError:
                        return None
                return None
            smax = val("-max-version") or 0x0304
            if "-no-tls13" in flags:
                smax = min(smax, 0x0303)
            smin = val("-min-version") or 0
            if "-no-tls12" in flags and "-no-tls11" in flags and "-no-tls1" in flags:
                smin = 0x0304
            rmax = m.get("runner_max") or 0x0304
            legacy = (m["protocol"] != "tls" or smax < 0x0304 or
                      (rmax < 0x0304 and smin < 0x0304) or
                      (m.get("resume") and m.get("resume_max") and m["resume_max"] < 0x0304))
            if legacy and t["class"] != OUT:
                bad.append(("in scope but legacy/dtls/quic by config", m["name"]))
            if not legacy and t["class"] == OUT and t["rule"] in VERSION_RULES:
                bad.append(("out of scope as legacy but TLS 1.3 by config", m["name"]))
    for kind, name in bad:
        print("%s: %s -> %s" % (kind, name, prof["tests"].get(name)))
    print("%d disagreement(s)" % len(bad))
    return 1 if bad else 0


def _md(s):
    return s.replace("|", "\\|")


def doc_tables(prof, summary_path=None):
    """Markdown tables for docs/bogo-profile-v1-prod.md, from a profile
    (and a bogo/summary.py summary for the per-area strict table)."""
    claimed = set(prof["claimed_areas"])
    c = prof["class_counts"]
    print("in_scope_required %d, in_scope_optional %d, out_of_scope %d.\n" % (c[REQ], c[OPT], c[OUT]))
    print("| area | claimed | required | optional | out of scope | what |")
    print("|------|---------|---------:|---------:|-------------:|------|")
    for a, v in prof["areas"].items():
        print("| %s | %s | %d | %d | %d | %s |" % (a, "yes" if a in claimed else "no", v[REQ], v[OPT],
                                                v[OUT], v["description"]))
    print()
    print("| # | rule | class | area | tests | pattern | reason |")
    print("|---|------|-------|------|------:|---------|--------|")
    used = {r["id"]: r["matches"] for r in prof["rules"]}
    for i, (rid, rx, cls, area, reason, no13) in enumerate(COMPILED, 1):
        if rx is None:
            pat = "(name list / sibling check, see below)"
        else:
            pat = "`%s%s`" % ("(no TLS13 token) " if no13 else "", _md(rx.pattern))
        print("| %d | `%s` | %s | %s | %d | %s | %s |" % (i, rid, cls, area, used.get(rid, 0), pat,
                                                         _md(reason)))
    if not summary_path:
        return 0
    with open(summary_path, encoding="utf-8") as f:
        s = json.load(f)
    res = s["results"]
    print()
    print("| area | claimed | required | pass | failed | unimplemented | optional (pass/total) |")
    print("|------|---------|---------:|-----:|-------:|--------------:|----------------------:|")
    tot = Counter()
    for a in prof["areas"]:
        names = [n for n, t in prof["tests"].items() if t["area"] == a and t["class"] != OUT]
        if not names:
            continue
        req = [n for n in names if prof["tests"][n]["class"] == REQ]
        opt = [n for n in names if prof["tests"][n]["class"] == OPT]
        st = lambda n: res.get(n, "NOT_RUN")
        row = Counter(required=len(req), passed=sum(st(n) == "PASS" for n in req),
                      failed=sum(st(n) not in ("PASS", "SKIP") for n in req),
                      unimpl=sum(st(n) == "SKIP" for n in req))
        tot.update(row)
        print("| %s | %s | %d | %d | %d | %d | %d/%d |" % (
            a, "yes" if a in claimed else "no", row["required"], row["passed"], row["failed"],
            row["unimpl"], sum(st(n) == "PASS" for n in opt), len(opt)))
    print("| **total** | | %d | %d | %d | %d | |" % (tot["required"], tot["passed"], tot["failed"],
                                                   tot["unimpl"]))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tests", help="file with one test name per line (default: ask the runner)")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the profile on disk differs from a regeneration")
    ap.add_argument("--explain", nargs="+", metavar="NAME")
    ap.add_argument("--meta", help="runner metadata (bogo/dump-meta.sh) to compare with")
    ap.add_argument("--stdout", action="store_true", help="write the profile to stdout")
    ap.add_argument("--doc-tables", action="store_true",
                    help="print the documentation's tables from the profile on disk")
    ap.add_argument("--summary", help="with --doc-tables: a bogo/summary.py summary")
    args = ap.parse_args(argv)

    if args.doc_tables:
        with open(args.out, encoding="utf-8") as f:
            return doc_tables(json.load(f), args.summary)

    if args.explain and not args.tests:
        names = args.explain
        if os.path.exists(args.out):
            with open(args.out, encoding="utf-8") as f:
                names = list(json.load(f)["tests"]) + names
        tests = classify_all(names)
        by_id = {r[0]: r for r in COMPILED}
        for n in args.explain:
            t = tests[n]
            print("%s\n  class %s, area %s, rule %s\n  %s" % (
                n, t["class"], t["area"], t["rule"], by_id[t["rule"]][4]))
        return 0

    names = get_names(args)
    prof = build_profile(names)
    text = dump_profile(prof)
    if args.meta:
        return meta_check(prof, args.meta)
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print("profile %s: %s" % (args.out, "up to date" if same else "DIFFERS from regeneration"))
        return 0 if same else 1
    if args.stdout:
        sys.stdout.write(text)
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    c = prof["class_counts"]
    print("wrote %s: %d tests (%d required, %d optional, %d out of scope)" % (
        args.out, prof["test_count"], c[REQ], c[OPT], c[OUT]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
