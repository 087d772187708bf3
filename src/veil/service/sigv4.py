"""AWS Signature Version 4 verification: recompute the client's signature and compare.

The canonical request and the signing key are built by botocore's own signer
(``botocore.auth.SigV4Auth``) over exactly the headers the client says it signed,
so any client that botocore would accept is accepted here. Errors carry the
codes and messages AWS answers with.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from veil.service.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_FIELD = re.compile(r"(\w+)=([^,\s]+)")


@dataclass(frozen=True)
class SignedRequest:
    """What of an HTTP request the signature covers. ``headers`` have lower-case names."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Authorization:
    """The parsed ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    fields = dict(_FIELD.findall(rest))
    scope = fields.get("Credential", "").split("/")
    if (
        algorithm != ALGORITHM
        or len(scope) != 5
        or scope[4] != "aws4_request"
        or not {"SignedHeaders", "Signature"} <= fields.keys()
    ):
        raise IncompleteSignatureException(
            f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' with algorithm {ALGORITHM}."
        )
    return Authorization(
        scope[0], scope[1], scope[2], scope[3], tuple(fields["SignedHeaders"].split(";")), fields["Signature"]
    )


def _timestamp(request: SignedRequest, auth: Authorization, now: datetime) -> str:
    stamp = request.headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException("Authorization requires a valid 'X-Amz-Date' header.") from None
    if abs(now - when) > MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier or later than {now.strftime(TIMESTAMP_FORMAT)} "
            f"by more than 15 minutes."
        )
    if stamp[:8] != auth.date:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
        )
    return stamp


def expected_signature(request: SignedRequest, auth: Authorization, secret_access_key: str, timestamp: str) -> str:
    """The signature botocore computes for ``request`` with the client's scope and signed headers."""
    url = f"http://{request.headers.get('host', 'localhost')}{request.path}" + (
        f"?{request.query}" if request.query else ""
    )
    signed = {name: request.headers.get(name, "") for name in auth.signed_headers}
    aws_request = AWSRequest(method=request.method, url=url, headers=signed, data=request.body)
    aws_request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(auth.access_key_id, secret_access_key), auth.service, auth.region)
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)


def verify(request: SignedRequest, keys: Mapping[str, str], now: datetime | None = None) -> str:
    """Check ``request``'s signature against the key pairs ``keys`` (id -> secret); returns the key id."""
    auth = parse_authorization(request.headers.get("authorization"))
    secret = keys.get(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    if "host" not in auth.signed_headers:
        raise IncompleteSignatureException("Signed headers must include 'host'.")
    timestamp = _timestamp(request, auth, now or datetime.now(UTC))
    if not hmac.compare_digest(expected_signature(request, auth, secret, timestamp), auth.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        )
    return auth.access_key_id
