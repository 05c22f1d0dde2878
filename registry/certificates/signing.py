"""Ed25519 signatures over a canonical JSON of the certificate snapshot, and the compact signed
payload that the QR code carries so that a certificate can be checked with no network.

The issuer key never lives in the repository: it is generated on first use into the data folder
(``REGISTRY_SIGNING_KEY_PATH`` overrides the place) with mode 0600. Each key has a short id, the
first 16 hex digits of the SHA-256 of its raw public key, printed on every certificate so that a
rotated key still verifies the certificates it signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.bounds import digits as all_digits

PAYLOAD_PREFIX = "SW1."  # compact payload format, version 1


def canonical(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, UTF-8 characters as they are."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_pem(text: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(text.encode() if isinstance(text, str) else text)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, text: str) -> str:
        return b64url(self.private.sign(text.encode()))

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key at ``path``; a new one written there (0600) when there is none yet."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return cls(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Create exclusively with 0600: two processes starting at once cannot both write a key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load_or_create(path)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return cls(key)


def signature_ok(public: Ed25519PublicKey, text: str, signature: str) -> bool:
    try:
        public.verify(unb64url(signature), text.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


def snapshot_digest(snapshot_text: str) -> str:
    """The QR payload binds the full snapshot through this (128 bits of SHA-256)."""
    return b64url(hashlib.sha256(snapshot_text.encode()).digest()[:16])


# The QR payload's fields, in order: serial, kind, masked name, period, headline, issue date,
# valid until, key id (first 8 hex digits), digest of the snapshot. Positional and "|"-joined
# rather than JSON: every byte saved is a smaller, easier to scan code.
PAYLOAD_FIELDS = ("s", "k", "n", "p", "f", "i", "u", "kid", "h")


def compact_payload(snapshot: dict[str, Any], snapshot_text: str, masked_name: str) -> dict[str, Any]:
    """What the QR code states on its own: enough to compare with the paper at a glance."""
    return {
        "s": snapshot["serial"],
        "k": snapshot["kind"],
        "n": masked_name,
        "p": snapshot["period"],
        "f": snapshot["headline"],
        "i": snapshot["issued_at"][:10],
        "u": snapshot["valid_until"],
        "kid": snapshot["key_id"][:8],
        "h": snapshot_digest(snapshot_text),
    }


def encode_payload(signer: Signer, payload: dict[str, Any]) -> str:
    text = "|".join(str(payload[k]).replace("|", "｜") for k in PAYLOAD_FIELDS)
    body = b64url(text.encode())
    return f"{PAYLOAD_PREFIX}{body}.{signer.sign(body)}"


class PayloadError(ValueError):
    """The text is not a registry payload, or its signature does not hold."""


# --- format 2: a short address for paper -------------------------------------------------------
#
# Format 1 put the whole signed payload (name, headline, dates, digest) in the code: version 13,
# 69×69 modules, which a photocopy or a 150 dpi scan blurs beyond reading. Format 2 carries only
# the serial, the valid-until date and an Ed25519 signature over the two, as an address the
# registry answers: ``HTTP://HOST/V/SW2026-XXXXXXXXXX/<8 + 155 digits>``. The address part is
# upper case so that QR's alphanumeric mode (5.5 bits a character) holds it, and the date and
# signature are decimal digits so that numeric mode (3.3 bits a digit) holds them: about 100
# bytes in all, a version 6 code (41×41) at error correction M. The photo of the paper still
# verifies offline (the signature holds under a published key); what the paper says beyond the
# serial and the date is checked online, or against the PDF's embedded snapshot.

SHORT_PREFIX = "SW2."
SHORT_PATH = "/V/"
SIGNATURE_DIGITS = 155  # 2**512 < 10**155


def _short_text(serial: str, valid_until: str) -> str:
    return f"SW2|{serial}|{valid_until.replace('-', '')}"


def short_token(signer: Signer, serial: str, valid_until: str) -> str:
    """``SW2.<serial>.<yyyymmdd><signature as 155 digits>``: what is stored and embedded."""
    signature = int.from_bytes(signer.private.sign(_short_text(serial, valid_until).encode()), "big")
    return f"{SHORT_PREFIX}{serial}.{valid_until.replace('-', '')}{signature:0{SIGNATURE_DIGITS}d}"


def short_url_parts(origin: str, token: str) -> list[str]:
    """The QR code's segments, each in the densest mode its characters allow: the address in
    upper case (alphanumeric; a path with lower-case letters falls back to bytes), the digits."""
    serial, digits = token[len(SHORT_PREFIX) :].split(".")
    scheme, _, rest = origin.partition("://")
    host, slash, path = rest.partition("/")
    head = f"{scheme.upper()}://{host.upper()}{slash}{path}{SHORT_PATH}{serial}/"
    return [head, digits]


def short_url(origin: str, token: str) -> str:
    return "".join(short_url_parts(origin, token))


def _decode_short(serial: str, digits: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    if len(digits) != 8 + SIGNATURE_DIGITS or not all_digits(digits):
        raise PayloadError("二维码内容已损坏。")
    day, number = digits[:8], int(digits[8:])
    if number >= 1 << 512:
        raise PayloadError("二维码内容已损坏。")
    valid_until = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    signature = number.to_bytes(64, "big")
    text = _short_text(serial, valid_until).encode()
    for kid, key in keys.items():
        try:
            key.verify(signature, text)
        except InvalidSignature:
            continue
        return {"v": "2", "s": serial, "u": valid_until, "kid": kid[:8]}
    raise PayloadError("签名不符：二维码内容被改动或伪造，或不是人才库出具的证明。")


def payload_matches(payload: dict[str, Any], serial: str, snapshot_text: str, valid_until: str) -> bool:
    """Whether a decoded payload belongs to this certificate (format 2 by serial and date,
    format 1 by serial and the digest of the whole snapshot)."""
    if payload.get("s") != serial:
        return False
    if payload.get("v") == "2":
        return payload.get("u") == valid_until
    return payload.get("h") == snapshot_digest(snapshot_text)


def decode_payload(token: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The payload if its signature holds under one of ``keys`` (by key id); else PayloadError.
    Format 2 (``SW2.`` or its short address) gives serial ``s``, valid until ``u`` and the key's
    id ``kid``; format 1 (``SW1.``, the certificates issued before) gives every field it holds."""
    token = token.strip()
    if token.startswith(SHORT_PREFIX) and token.count(".") == 2:
        serial, digits = token[len(SHORT_PREFIX) :].split(".")
        return _decode_short(serial, digits, keys)
    if SHORT_PATH in token.upper() and "q=" not in token:
        serial, _, digits = token.upper().rsplit(SHORT_PATH, 1)[1].partition("/")
        return _decode_short(serial, digits.split("?", 1)[0], keys)
    if "q=" in token:  # a whole verification URL was scanned
        token = token.split("q=", 1)[1].split("&", 1)[0]
    if not token.startswith(PAYLOAD_PREFIX) or token.count(".") != 2:
        raise PayloadError("不是人才库证明的二维码内容。")
    body, signature = token[len(PAYLOAD_PREFIX) :].split(".")
    try:
        values = unb64url(body).decode().split("|")
    except ValueError as exc:
        raise PayloadError("二维码内容已损坏。") from exc
    if len(values) != len(PAYLOAD_FIELDS):
        raise PayloadError("二维码内容已损坏。")
    payload = dict(zip(PAYLOAD_FIELDS, values, strict=True))
    key = next((k for kid, k in keys.items() if kid.startswith(payload["kid"]) and payload["kid"]), None)
    if key is None:
        raise PayloadError(f"没有密钥 {payload['kid']} 的公钥，无法核验。")
    if not signature_ok(key, body, signature):
        raise PayloadError("签名不符：二维码内容被改动或伪造。")
    return payload
