"""Opaque pagination tokens: a job id and an offset, signed so that clients cannot forge them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from veil.service.errors import InvalidPaginationTokenException


class TokenCodec:
    """Encodes ``(job_id, offset)`` as a short URL-safe token, HMAC-signed with ``key``."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.sha256(b"veil pagination token\0" + key.encode()).digest()

    def _mac(self, payload: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest()[:12]).decode()

    def encode(self, job_id: str, offset: int) -> str:
        payload = json.dumps([job_id, offset], separators=(",", ":")).encode()
        return f"{base64.urlsafe_b64encode(payload).decode()}.{self._mac(payload)}"

    def decode(self, token: str, job_id: str) -> int:
        """The offset ``token`` points at for ``job_id``; raises InvalidPaginationTokenException."""
        try:
            encoded, mac = token.split(".")
            payload = base64.urlsafe_b64decode(encoded.encode())
            valid = hmac.compare_digest(self._mac(payload), mac)
            token_job, offset = json.loads(payload) if valid else (None, None)
        except (ValueError, TypeError):
            token_job, offset = None, None
        if token_job != job_id or not isinstance(offset, int) or offset < 0:
            raise InvalidPaginationTokenException("Invalid Token")
        return offset
