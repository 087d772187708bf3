"""The job API's errors, and the one place where veil's errors become protocol errors.

Each class is named exactly as the AWS error code a client expects in ``__type``
(boto3 raises ``ClientError`` with that code and the ``Message``).
"""

from __future__ import annotations

from veil.errors import ConfigError, InputError, InvalidKey, JobNotFound, ObjectNotFound, ObjectTooLarge, VeilError


class ApiError(Exception):
    """An error answered in the AWS JSON protocol's shape: ``{"__type", "Message"}``."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "Message": self.message}


class MissingAuthenticationTokenException(ApiError):
    pass


class IncompleteSignatureException(ApiError):
    pass


class UnrecognizedClientException(ApiError):
    pass


class InvalidSignatureException(ApiError):
    pass


class UnknownOperationException(ApiError):
    pass


class SerializationException(ApiError):
    pass


class InvalidParameterException(ApiError):
    pass


class InvalidS3ObjectException(ApiError):
    pass


class InvalidImageFormatException(ApiError):
    pass


class ImageTooLargeException(ApiError):
    pass


class VideoTooLargeException(ApiError):
    pass


class ResourceNotFoundException(ApiError):
    pass


class InvalidPaginationTokenException(ApiError):
    pass


class IdempotentParameterMismatchException(ApiError):
    pass


class InternalServerError(ApiError):
    status = 500


def api_error(error: Exception) -> ApiError:
    """The protocol error for any exception raised while serving a request."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, JobNotFound):
        return ResourceNotFoundException("The requested job was not found.")
    if isinstance(error, ObjectTooLarge):
        return ImageTooLargeException(str(error))
    if isinstance(error, (ObjectNotFound, InvalidKey)):
        return InvalidS3ObjectException(
            "Unable to get object metadata from S3. Check object key, region and/or access permissions."
        )
    if isinstance(error, InputError):
        return InvalidParameterException(str(error))
    if isinstance(error, VeilError):
        return InternalServerError(str(error))
    return InternalServerError(f"internal error: {type(error).__name__}")


def rest_status(error: Exception) -> int:
    """The HTTP status of the native REST API for an exception raised while serving a request."""
    if isinstance(error, (JobNotFound, ObjectNotFound)):
        return 404
    if isinstance(error, (InvalidKey, InputError, ConfigError, ObjectTooLarge)):
        return 400
    return 500
