#!/usr/bin/env python3
"""Known-answer vectors for src/radius_crypto.c, computed independently of the C code.

Pure Python (hashlib MD5, hmac), written from the RFC text: RFC 2865 §3/§5.2 (Response
Authenticator, User-Password), RFC 2866 §3 (Accounting Request Authenticator), RFC 2868 §3.5
(Tunnel-Password), RFC 2548 §2.4.1-2.4.3 (MS-CHAP-MPPE-Keys, MS-MPPE-Send/Recv-Key),
RFC 3579 §3.2 and RFC 5176 §3 (Message-Authenticator).

    python3 test/vectors/gen_vectors.py > test/vectors/vectors.h

Every input is fixed below, so the output is reproducible; the header is committed.
"""
import hashlib
import hmac
import struct

# ---------------------------------------------------------------- inputs
SECRET_A = b"backend-secret-A"  # e.g. the UDP backend's secret
SECRET_B = b"radsec"            # e.g. the RadSec secret towards the AP
AUTH_A = bytes(range(0x10, 0x20))  # Request Authenticator of the proxied request
AUTH_B = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")  # the AP's request

PASSWORD = b"correct horse battery staple!"  # 29 octets: two blocks
TUNNEL_TAG = 0x01
TUNNEL_SALT = bytes.fromhex("8123")
TUNNEL_PASSWORD = b"tunnel-secret-pw"  # 16 octets + length octet: two blocks
SEND_SALT = bytes.fromhex("8a5b")
SEND_KEY = bytes(range(0x40, 0x60))  # 32 octets: three blocks
RECV_SALT = bytes.fromhex("8a5c")
RECV_KEY = bytes(range(0x60, 0x80))
MPPE_KEYS = bytes(range(0xa0, 0xb8))  # LM-Key(8) + NT-Key(16); padded to 32
# rg_radius_salt_new with *counter = RECRYPT_COUNTER yields 0x8000 | (counter & 0x7fff),
# then counter + 1, ...: the salts a recrypt must pick, in attribute order.
RECRYPT_COUNTER = 0x1234

VENDOR_MS = 311


# ---------------------------------------------------------------- RFC algorithms
def md5(*parts):
    h = hashlib.md5()
    for p in parts:
        h.update(p)
    return h.digest()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def hide(plain, secret, seed):
    """RFC 2865 §5.2 chain: b1 = MD5(S + seed), bi = MD5(S + c(i-1))."""
    assert len(plain) % 16 == 0
    out, prev = b"", seed
    for i in range(0, len(plain), 16):
        c = xor(plain[i:i + 16], md5(secret, prev))
        out += c
        prev = c
    return out


def unhide(hidden, secret, seed):
    out, prev = b"", seed
    for i in range(0, len(hidden), 16):
        c = hidden[i:i + 16]
        out += xor(c, md5(secret, prev))
        prev = c
    return out


def pad16(b):
    return b + b"\0" * (-len(b) % 16)


def password_hide(pw, secret, auth):
    return hide(pad16(pw), secret, auth)


def salted_hide(key, salt, secret, auth):
    """RFC 2868 §3.5 / RFC 2548 §2.4.2: salt + hidden(len octet + key + pad)."""
    assert salt[0] & 0x80
    return salt + hide(pad16(bytes([len(key)]) + key), secret, auth + salt)


def salted_unhide(value, secret, auth):
    salt, hidden = value[:2], value[2:]
    p = unhide(hidden, secret, auth + salt)
    return p[1:1 + p[0]]


def attr(t, v):
    assert len(v) <= 253
    return bytes([t, 2 + len(v)]) + v


def vsa(vendor, vtype, v):
    return attr(26, struct.pack(">I", vendor) + bytes([vtype, 2 + len(v)]) + v)


def packet(code, ident, auth, attrs):
    return bytes([code, ident]) + struct.pack(">H", 20 + len(attrs)) + auth + attrs


MA_ZERO = attr(80, b"\0" * 16)


def msgauth_sign(pkt, auth_for_hmac):
    """RFC 3579 §3.2: HMAC-MD5 keyed with the secret over the packet with the
    authenticator field as given and the Message-Authenticator value zeroed."""
    pkt = bytearray(pkt)
    off = 20
    while off < len(pkt):
        if pkt[off] == 80:
            break
        off += pkt[off + 1]
    assert off < len(pkt), "no Message-Authenticator"
    pkt[off + 2:off + 18] = b"\0" * 16
    return bytes(pkt), off + 2, auth_for_hmac


def with_msgauth(pkt, secret, auth_for_hmac):
    pkt, voff, a = msgauth_sign(pkt, auth_for_hmac)
    mac = hmac.new(secret, pkt[:4] + a + pkt[20:], hashlib.md5).digest()
    return pkt[:voff] + mac + pkt[voff + 16:]


def response_sign(pkt, request_auth, secret):
    """RFC 2865 §3: MD5(Code+ID+Length+RequestAuth+Attributes+Secret)."""
    ra = md5(pkt[:4], request_auth, pkt[20:], secret)
    return pkt[:4] + ra + pkt[20:]


def request_sign(pkt, secret):
    """RFC 2866 §3 / RFC 5176 §2.3: MD5 with 16 zero octets as authenticator."""
    ra = md5(pkt[:4], b"\0" * 16, pkt[20:], secret)
    return pkt[:4] + ra + pkt[20:]


# ---------------------------------------------------------------- vectors
vectors = []  # (name, bytes, comment)


def add(name, data, comment):
    vectors.append((name, data, comment))


add("secret_a", SECRET_A, "shared secret of the backend side")
add("secret_b", SECRET_B, "shared secret of the AP side")
add("auth_a", AUTH_A, "Request Authenticator of the proxied request")
add("auth_b", AUTH_B, "Request Authenticator of the AP's request")

# User-Password, two blocks (RFC 2865 §5.2).
add("password_plain", PASSWORD, "User-Password plaintext")
pw_hidden = password_hide(PASSWORD, SECRET_A, AUTH_A)
add("password_hidden_a", pw_hidden, "User-Password hidden with secret_a/auth_a")
assert unhide(pw_hidden, SECRET_A, AUTH_A).rstrip(b"\0") == PASSWORD

# Tunnel-Password (RFC 2868 §3.5): tag + salt + hidden.
tp_value = bytes([TUNNEL_TAG]) + salted_hide(TUNNEL_PASSWORD, TUNNEL_SALT, SECRET_A, AUTH_A)
add("tunnel_salt", TUNNEL_SALT, "Tunnel-Password salt")
add("tunnel_plain", TUNNEL_PASSWORD, "Tunnel-Password plaintext")
add("tunnel_value_a", tp_value, "Tunnel-Password value (tag 1) with secret_a/auth_a")

# MS-MPPE-Send-Key / Recv-Key (RFC 2548 §2.4.2, §2.4.3): salt + hidden.
send_value = salted_hide(SEND_KEY, SEND_SALT, SECRET_A, AUTH_A)
recv_value = salted_hide(RECV_KEY, RECV_SALT, SECRET_A, AUTH_A)
add("send_salt", SEND_SALT, "MS-MPPE-Send-Key salt")
add("send_key", SEND_KEY, "MS-MPPE-Send-Key plaintext key")
add("send_value_a", send_value, "MS-MPPE-Send-Key sub-attribute value, secret_a/auth_a")
add("recv_salt", RECV_SALT, "MS-MPPE-Recv-Key salt")
add("recv_key", RECV_KEY, "MS-MPPE-Recv-Key plaintext key")
add("recv_value_a", recv_value, "MS-MPPE-Recv-Key sub-attribute value, secret_a/auth_a")

# MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1): 32 octets hidden like User-Password.
mppe_hidden = hide(pad16(MPPE_KEYS + b"\0" * 8), SECRET_A, AUTH_A)
assert len(mppe_hidden) == 32
add("mppe_keys_plain", MPPE_KEYS, "MS-CHAP-MPPE-Keys LM-Key + NT-Key (24 octets)")
add("mppe_keys_hidden_a", mppe_hidden, "MS-CHAP-MPPE-Keys value, secret_a/auth_a")

# An Access-Accept as a backend sends it (secret_a, answering auth_a): Message-Authenticator
# first, then every hidden attribute and a plain one, signed per RFC 3579 §3.2 and
# RFC 2865 §3.
accept_attrs = (MA_ZERO + attr(18, b"Welcome") + attr(69, tp_value) +
                vsa(VENDOR_MS, 16, send_value) + vsa(VENDOR_MS, 17, recv_value) +
                vsa(VENDOR_MS, 12, mppe_hidden))
accept = packet(2, 7, AUTH_A, accept_attrs)
accept = with_msgauth(accept, SECRET_A, AUTH_A)
accept = response_sign(accept, AUTH_A, SECRET_A)
add("accept_a", accept, "Access-Accept id 7 from the backend: secret_a, request auth_a")

# The same reply after rg_radius_reply_recrypt(auth_a/secret_a -> auth_b/secret_b) with
# *salt_counter = RECRYPT_COUNTER: header and Message-Authenticator untouched (the caller
# re-signs), Tunnel-Password keeps its tag, salts come from the counter in order.
salts = [struct.pack(">H", 0x8000 | ((RECRYPT_COUNTER + i) & 0x7fff)) for i in range(3)]


def resalt(value, salt):
    salt_old, hidden = value[:2], value[2:]
    plain = unhide(hidden, SECRET_A, AUTH_A + salt_old)
    assert plain[0] <= len(plain) - 1
    return salt + hide(plain, SECRET_B, AUTH_B + salt)


tp_b = bytes([TUNNEL_TAG]) + resalt(tp_value[1:], salts[0])
send_b = resalt(send_value, salts[1])
recv_b = resalt(recv_value, salts[2])
mppe_b = hide(unhide(mppe_hidden, SECRET_A, AUTH_A), SECRET_B, AUTH_B)
recrypted_attrs = (accept[20:38] + attr(18, b"Welcome") + attr(69, tp_b) +
                   vsa(VENDOR_MS, 16, send_b) + vsa(VENDOR_MS, 17, recv_b) +
                   vsa(VENDOR_MS, 12, mppe_b))
add("accept_recrypted_b", accept[:20] + recrypted_attrs,
    "accept_a after reply_recrypt to secret_b/auth_b, salt counter 0x%04x" % RECRYPT_COUNTER)
assert salted_unhide(tp_b[1:], SECRET_B, AUTH_B) == TUNNEL_PASSWORD
assert salted_unhide(send_b, SECRET_B, AUTH_B) == SEND_KEY

# The AP's request re-signed for the AP: the accept after recrypt, re-signed with secret_b
# towards auth_b (what the proxy sends back on TLS).
accept_b = with_msgauth(accept[:20] + recrypted_attrs, SECRET_B, AUTH_B)
accept_b = response_sign(accept_b, AUTH_B, SECRET_B)
add("accept_b", accept_b, "accept_recrypted_b signed with secret_b for request auth_b")

# Access-Request (RFC 2865 §4.1) with Message-Authenticator over its own authenticator.
req_attrs = (MA_ZERO + attr(1, b"alice@example.com") + attr(2, password_hide(PASSWORD, SECRET_B,
                                                                               AUTH_B)) +
             attr(32, b"ap-1"))
req_b = with_msgauth(packet(1, 42, AUTH_B, req_attrs), SECRET_B, AUTH_B)
add("request_b", req_b, "Access-Request id 42 from the AP: secret_b, auth_b, User-Password")
# After rg_radius_request_recrypt(auth_b/secret_b -> auth_a/secret_a), authenticator field
# set to auth_a by the proxy: the User-Password value the backend must see.
add("request_password_a", password_hide(PASSWORD, SECRET_A, AUTH_A),
    "User-Password of request_b re-hidden for secret_a/auth_a")

# Status-Server (RFC 5997 §3): Message-Authenticator over its own authenticator.
status = with_msgauth(packet(12, 200, AUTH_A, MA_ZERO), SECRET_A, AUTH_A)
add("status_server_a", status, "Status-Server id 200, secret_a, auth_a")

# Accounting-Request (RFC 2866 §3): Message-Authenticator computed with zeros in the
# authenticator field, then the MD5 Request Authenticator over the signed attributes.
acct_attrs = (attr(40, struct.pack(">I", 1)) + attr(44, b"sess-0001") +
              attr(1, b"alice@example.com") + MA_ZERO)
acct = packet(4, 9, b"\0" * 16, acct_attrs)
acct = with_msgauth(acct, SECRET_A, b"\0" * 16)
acct = request_sign(acct, SECRET_A)
add("accounting_a", acct, "Accounting-Request id 9, secret_a, Message-Authenticator last")
acct_resp = packet(5, 9, acct[4:20], b"")
acct_resp = response_sign(acct_resp, acct[4:20], SECRET_A)
add("accounting_response_a", acct_resp, "Accounting-Response to accounting_a, secret_a")

# CoA-Request (RFC 5176 §2.3, §3) and its CoA-ACK; Disconnect-Request.
coa_attrs = MA_ZERO + attr(1, b"alice@example.com") + attr(44, b"sess-0001")
coa = packet(43, 77, b"\0" * 16, coa_attrs)
coa = with_msgauth(coa, SECRET_A, b"\0" * 16)
coa = request_sign(coa, SECRET_A)
add("coa_request_a", coa, "CoA-Request id 77, secret_a")
coa_ack = packet(44, 77, b"\0" * 16, MA_ZERO)
coa_ack = with_msgauth(coa_ack, SECRET_A, coa[4:20])
coa_ack = response_sign(coa_ack, coa[4:20], SECRET_A)
add("coa_ack_a", coa_ack, "CoA-ACK to coa_request_a, secret_a")
dis = packet(40, 78, b"\0" * 16, attr(44, b"sess-0002") + MA_ZERO)
dis = with_msgauth(dis, SECRET_A, b"\0" * 16)
dis = request_sign(dis, SECRET_A)
add("disconnect_request_a", dis, "Disconnect-Request id 78, secret_a")


# ---------------------------------------------------------------- output
def c_array(name, data, comment):
    lines = ["/* %s */" % comment, "static const uint8_t vec_%s[%d] __attribute__((unused)) = {" % (name, len(data))]
    for i in range(0, len(data), 12):
        lines.append("    " + " ".join("0x%02x," % b for b in data[i:i + 12]))
    lines.append("};")
    return "\n".join(lines)


print("/* Generated by test/vectors/gen_vectors.py (independent Python implementation of the")
print(" * RADIUS hiding and signing schemes). Do not edit: rerun the script. */")
print("#ifndef RG_TEST_VECTORS_H")
print("#define RG_TEST_VECTORS_H")
print("/* clang-format off */")
print()
print("#include <stdint.h>")
print()
print("#define VEC_TUNNEL_TAG      0x%02x" % TUNNEL_TAG)
print("#define VEC_RECRYPT_COUNTER 0x%04xu" % RECRYPT_COUNTER)
print()
for v in vectors:
    print(c_array(*v))
    print()
print("/* clang-format on */")
print("#endif")
