#!/usr/bin/env python3
"""Seed corpora for test/fuzz/fuzz_radius.c and fuzz_radius_crypto.c.

    python3 test/fuzz/make_corpus.py    (writes test/fuzz/corpus/radius*/)

Small packets covering each code path: the RFC 2865 §7 examples, VSAs (well-formed and
broken), RFC 6929 extended attributes, and replies holding Tunnel-Password, MS-MPPE keys and
MS-CHAP-MPPE-Keys hidden under the fuzz drivers' fixed secret and authenticator.
"""
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = b"backend-secret"  # must match fuzz_radius_crypto.c
AUTH = bytes(range(0x10, 0x20))


def attr(t, v):
    return bytes([t, 2 + len(v)]) + v


def vsa(vendor, subs):
    return attr(26, struct.pack(">I", vendor) + b"".join(bytes([t, 2 + len(v)]) + v
                                                         for t, v in subs))


def packet(code, ident, auth, attrs):
    return bytes([code, ident]) + struct.pack(">H", 20 + len(attrs)) + auth + attrs


def hide(plain, seed):
    out, prev = b"", seed
    for i in range(0, len(plain), 16):
        b = hashlib.md5(SECRET + prev).digest()
        prev = bytes(x ^ y for x, y in zip(plain[i:i + 16], b))
        out += prev
    return out


def pad16(b):
    return b + b"\0" * (-len(b) % 16)


def salted(key, salt):
    return salt + hide(pad16(bytes([len(key)]) + key), AUTH + salt)


def with_msgauth(pkt):
    off = 20
    while pkt[off] != 80:
        off += pkt[off + 1]
    mac = hmac.new(SECRET, pkt[:4] + AUTH + pkt[20:], hashlib.md5).digest()
    return pkt[:off + 2] + mac + pkt[off + 18:]


rfc = {
    "rfc2865_7_1_request": "01000038 0f403f9473978057bd83d5cb98f4227a 0106 6e656d6f 0212"
                           "0dbe708d93d413ce3196e43f782a0aee 0406c0a80110 050600000003",
    "rfc2865_7_1_accept": "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 060600000001"
                          "0f0600000000 0e06c0a80103",
    "rfc2865_7_3_challenge": "0b02004e 36f3c8764ae8c71157403c0c71ff9c45 1230"
                             "4368616c6c656e67652033323736393433302e2020456e74657220726573706f6e"
                             "73652061742070726f6d70742e 180a3332373639343330",
}
common = {name: bytes.fromhex(h.replace(" ", "")) for name, h in rfc.items()}
common["header_only"] = packet(12, 1, AUTH, b"")
common["vsa_ms_two_subs"] = packet(2, 2, AUTH, vsa(311, [(17, b"r2"), (16, b"send-3")]) +
                                   attr(25, b"class"))
common["vsa_broken"] = packet(2, 3, AUTH, attr(26, b"\0\0\x01\x37\x10\x09xy") +
                              attr(26, b"\0\0"))
common["extended"] = packet(2, 4, AUTH, attr(241, b"\x01first") + attr(245, b"\x05\x80frag") +
                            attr(246, b"\x01\x00x"))
common["repeated_proxy_state"] = packet(1, 5, AUTH, attr(33, b"p1") + attr(1, b"u") +
                                        attr(33, b"p2") + attr(33, b"p3"))
common["bad_attr_len"] = bytes.fromhex("0100001a" + "00" * 16 + "0101" + "0102")

crypto = {}
crypto["accept_hidden"] = with_msgauth(packet(2, 7, AUTH, attr(80, b"\0" * 16) +
                                              attr(69, b"\x01" + salted(b"tunnel-pw", b"\x81\x23")) +
                                              vsa(311, [(16, salted(bytes(32), b"\x8a\x5b"))]) +
                                              vsa(311, [(17, salted(bytes(range(32)), b"\x8a\x5c")),
                                                        (12, hide(bytes(32), AUTH))])))
crypto["tunnel_long"] = packet(2, 8, AUTH, attr(69, b"\x02" + salted(b"x" * 200, b"\x80\x01")))
crypto["tunnel_bad_len"] = packet(2, 9, AUTH, attr(69, b"\x01\x80\x01" + b"\0" * 17))
crypto["request_password"] = with_msgauth(packet(1, 10, AUTH, attr(80, b"\0" * 16) +
                                                 attr(1, b"bob") +
                                                 attr(2, hide(pad16(b"secret-password!!"), AUTH))))
crypto["request_two_passwords"] = packet(1, 11, AUTH, attr(2, bytes(16)) + attr(2, bytes(16)))
crypto["accounting"] = packet(4, 12, bytes(16), attr(40, b"\0\0\0\x01") + attr(80, bytes(16)))
crypto["mppe_keys_short"] = packet(2, 13, AUTH, vsa(311, [(12, bytes(16))]))

for sub, packets in (("radius", {**common, **crypto}), ("radius_crypto", {**crypto, **common})):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for name, data in packets.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)

# ---- fuzz_proxy.c, fuzz_coa.c, fuzz_framer.c, fuzz_config.c (issue 15) ----
# fuzz_proxy: octet 0 and 1 pick the secret lengths (1 + n % 48), octet 2 the ID, then the
# AP secret, the backend secret and the packet.
AP_SECRET, BE_SECRET = b"radsec", b"backend-secret"


def proxy_input(pkt, ident=0x42):
    return bytes([len(AP_SECRET) - 1, len(BE_SECRET) - 1, ident]) + AP_SECRET + BE_SECRET + pkt


proxy = {name: proxy_input(data) for name, data in {**common, **crypto}.items()}
proxy["chap_request"] = proxy_input(packet(1, 20, AUTH, attr(1, b"carol") +
                                           attr(3, b"\x07" + bytes(range(16)))))
proxy["status_server"] = proxy_input(with_msgauth(packet(12, 21, AUTH, attr(80, bytes(16)))))
proxy["challenge_eap"] = proxy_input(packet(11, 22, AUTH, attr(79, b"\x01\x02\x00\x05\x01") +
                                            attr(80, bytes(16)) + attr(24, b"state")))
# fuzz_coa: octet 0 the secret length, octet 1 the ID, then the secret and the packet.
COA_SECRET = b"dac-secret"
coa = {}
for name, pkt in {
    "disconnect": packet(40, 1, bytes(16), attr(1, b"bob") + attr(44, b"sess-1") +
                         attr(33, b"ps1") + attr(33, b"ps2")),
    "coa_msgauth": with_msgauth(packet(43, 2, bytes(16), attr(80, bytes(16)) + attr(1, b"amy") +
                                       attr(31, b"02-00-00-00-00-01"))),
    "coa_tunnel": packet(43, 3, bytes(16), attr(69, b"\x01" + salted(b"pw", b"\x81\x01"))),
    "coa_vsa": packet(43, 4, bytes(16), vsa(9, [(1, b"subscriber:command=reauthenticate")])),
}.items():
    coa[name] = bytes([len(COA_SECRET) - 1, 0x77]) + COA_SECRET + pkt
# fuzz_framer: a 4-octet split seed, then a stream of packets (whole, cut, malformed).
stream = b"".join(common.values()) + b"".join(crypto.values())
framer = {
    "stream": b"\x01\x00\x00\x00" + stream,
    "stream_small_pieces": b"\x03\x00\x00\x00" + stream,
    "bad_length_midway": b"\x05\x00\x00\x00" + stream[:100] + bytes.fromhex("01000005") + stream,
    "max_len": b"\x07\x00\x00\x00" + packet(2, 1, AUTH, attr(25, b"x" * 253) * 16)[:4096] + stream,
}
config = {}
conf_dir = os.path.join(HERE, "..", "config")
for name in ("good.conf",):
    with open(os.path.join(conf_dir, name), "rb") as f:
        config[name.replace(".", "_")] = f.read()
config["minimal"] = b'''listen { port = 2083 packet-timeout = 5 max-requests-per-second = 100 }
tls { certificate = "c.pem" key = "k.pem" }
org "a" { ca = {"ca.pem"} pool = "p" }
pool "p" { server "s" { host = "192.0.2.1" secret = "0123456789abcdef" } }
'''
config["errors"] = b'''listen { port = 0 packet-timeout = 0 bogus = 1 }
org "a" { ca = {} match = {"CN:("} realm "x" { pool = "nope" } }
include("/nonexistent/*.conf")
'''

for sub, inputs in (("proxy", proxy), ("coa", coa), ("framer", framer), ("config", config)):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for name, data in inputs.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(data)
