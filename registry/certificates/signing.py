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


def decode_payload(token: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The payload if its signature holds under one of ``keys`` (by key id); else PayloadError."""
    token = token.strip()
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
