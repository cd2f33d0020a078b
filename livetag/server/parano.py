"""Parano mode: every payload encrypted with AES-GCM under a per-session key.

The key travels once, inside the page that starts the session, and never again; each
message is then sealed as ``base64url(nonce[12] || ciphertext || tag[16])`` (NIST SP
800-38D, 96-bit random nonces). This defeats proxies that log or rewrite WebSocket and
HTTP payloads. It is not a substitute for TLS: whoever can read the page can read the
key. The browser side uses WebCrypto, which only exists in a secure context (https or
localhost).
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ProtocolError


class Codec:
    """Identity codec: what travels is the message itself."""

    key_b64: str | None = None

    def seal(self, message: bytes) -> bytes:
        return message

    def open(self, payload: bytes | str) -> bytes | str:
        return payload


class AesGcmCodec(Codec):
    """AES-256-GCM with a fresh random key per instance (one instance per session)."""

    def __init__(self) -> None:
        key = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(key)
        self.key_b64 = base64.urlsafe_b64encode(key).decode().rstrip("=")

    def seal(self, message: bytes) -> bytes:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, message, None)).rstrip(b"=")

    def open(self, payload: bytes | str) -> bytes:
        """The plaintext of ``payload``; ``ProtocolError`` when it is not a sealed message
        of this session (tampered, truncated, or in clear)."""
        raw = payload.encode() if isinstance(payload, str) else payload
        try:
            data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
            if len(data) < 28:
                raise ValueError("too short")
            return self._aead.decrypt(data[:12], data[12:], None)
        except (ValueError, InvalidTag):
            raise ProtocolError("expected a message sealed with the session key, got something else",
                                "parano") from None


CLEAR = Codec()
