"""The error taxonomy: every failure openread reports is one of these.

Each class knows how it is told to a caller: its HTTP status, Azure's ``error.code`` and optional
``innererror.code``, and the exit code of the ``openread`` command. Exactly two boundary
handlers translate them (the HTTP server and the CLI); nothing else catches them.

    OpenReadError                    base; never raised itself
    ├── InvalidRequestError          400 InvalidRequest, exit 3: the caller's input is wrong
    │   ├── InvalidImageFormatError  undecodable or unsupported image format
    │   ├── InvalidImageSizeError    a side or the pixel count outside the limits
    │   ├── ImageBytesSizeError      zero bytes, or more than the byte limit
    │   ├── UnsupportedContentTypeError
    │   ├── MissingFeaturesError     no ``features`` query parameter
    │   ├── NotSupportedVisualFeatureError  an unknown feature name
    │   ├── FeatureNotEnabledError   a known Azure feature that openread does not implement
    │   ├── InvalidApiVersionError
    │   ├── BadArgumentError         a malformed parameter or body
    │   ├── ImageUrlError            an image URL that is refused, malformed or unreachable
    │   ├── InvalidPageRangeError    a v3.x ``pages`` selection that is malformed or selects no page
    │   ├── InvalidReadingOrderError a v3.x ``readingOrder`` other than basic or natural
    │   ├── InvalidDocumentError     a PDF or TIFF that is broken or password protected
    │   └── DocumentLimitError       a document with too many pages or too large a page
    ├── AuthenticationError          401, exit 3
    ├── NotFoundError                404, exit 3
    ├── MethodNotAllowedError        405, exit 3
    ├── BusyError                    429 + Retry-After, exit 5
    ├── NotReadyError                503 + Retry-After, exit 5
    ├── ModelError                   503 / exit 4: a model file is missing, altered or unloadable
    └── InternalError                500, exit 1: a bug; the message names the request id
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_BUSY",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_MODEL",
    "EXIT_OK",
    "AuthenticationError",
    "BadArgumentError",
    "BusyError",
    "DocumentLimitError",
    "FeatureNotEnabledError",
    "ImageBytesSizeError",
    "ImageUrlError",
    "InternalError",
    "InvalidApiVersionError",
    "InvalidDocumentError",
    "InvalidImageFormatError",
    "InvalidImageSizeError",
    "InvalidPageRangeError",
    "InvalidReadingOrderError",
    "InvalidRequestError",
    "MethodNotAllowedError",
    "MissingFeaturesError",
    "ModelError",
    "NotFoundError",
    "NotReadyError",
    "NotSupportedVisualFeatureError",
    "OpenReadError",
    "UnsupportedContentTypeError",
]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 3
EXIT_MODEL = 4
EXIT_BUSY = 5


class OpenReadError(Exception):
    """Base of every error openread reports; carries its own wire and CLI form."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalServerError"
    inner_code: ClassVar[str | None] = None
    exit_code: ClassVar[int] = EXIT_INTERNAL
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(self, message: str | None = None, *, inner_message: str | None = None) -> None:
        self.message = message or self.default_message
        self.inner_message = inner_message
        super().__init__(self.message)

    @property
    def retry_after(self) -> int | None:
        """Seconds a client should wait before retrying, or None when it should not retry."""
        return None


class InvalidRequestError(OpenReadError):
    """The request or its image is not acceptable (400 ``InvalidRequest``)."""

    status = 400
    code = "InvalidRequest"
    exit_code = EXIT_INPUT
    default_message = "The request is invalid."


class InvalidImageFormatError(InvalidRequestError):
    inner_code = "InvalidImageFormat"
    default_message = "Image format is not valid"


class InvalidImageSizeError(InvalidRequestError):
    inner_code = "InvalidImageSize"
    default_message = (
        "The image dimension is not allowed to be smaller than 50 and larger than 16000."
    )


class ImageBytesSizeError(InvalidRequestError):
    default_message = "The image size is not allowed to be zero or larger than 20971520 bytes."


class UnsupportedContentTypeError(InvalidRequestError):
    inner_code = "UnsupportedMediaType"


class MissingFeaturesError(InvalidRequestError):
    default_message = (
        "Either 'features' or 'model-name' needs to be specified in the query parameter"
    )


class NotSupportedVisualFeatureError(InvalidRequestError):
    inner_code = "NotSupportedVisualFeature"
    default_message = "Analyze query is invalid."


class FeatureNotEnabledError(InvalidRequestError):
    inner_code = "NotSupportedFeature"


class InvalidApiVersionError(InvalidRequestError):
    inner_code = "InvalidApiVersion"


class BadArgumentError(InvalidRequestError):
    inner_code = "BadArgument"


class ImageUrlError(InvalidRequestError):
    default_message = "The provided image url is not accessible."


class InvalidPageRangeError(InvalidRequestError):
    inner_code = "InvalidPageRange"
    default_message = (
        "The page range is invalid: use page numbers and ranges such as '1,3-5', '2-' or '-4'."
    )


class InvalidReadingOrderError(InvalidRequestError):
    inner_code = "InvalidReadingOrder"
    default_message = "The readingOrder is invalid: use 'basic' or 'natural'."


class InvalidDocumentError(InvalidRequestError):
    """A PDF or TIFF that cannot be opened (broken, or protected by a password)."""

    inner_code = "InvalidImage"
    default_message = "The input data is not a valid image or password protected."


class DocumentLimitError(InvalidRequestError):
    """A document beyond the v3.2 limits: too many pages, or a PDF page over 17 x 17 inches."""

    inner_code = "InvalidImageDimension"
    default_message = (
        "The input image dimension is out of range. The maximum PDF dimension is 17 x 17 inches."
    )


class AuthenticationError(OpenReadError):
    status = 401
    code = "401"
    exit_code = EXIT_INPUT
    default_message = (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource."
    )


class NotFoundError(OpenReadError):
    status = 404
    code = "404"
    exit_code = EXIT_INPUT
    default_message = "Resource not found"


class MethodNotAllowedError(OpenReadError):
    status = 405
    code = "405"
    exit_code = EXIT_INPUT
    default_message = "Method not allowed"


class BusyError(OpenReadError):
    """The server's queue is full; the client should retry after a short wait."""

    status = 429
    code = "429"
    exit_code = EXIT_BUSY
    default_message = "The server is busy: too many requests are in flight. Please retry."

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self._retry_after = retry_after

    @property
    def retry_after(self) -> int | None:
        return self._retry_after


class NotReadyError(OpenReadError):
    status = 503
    code = "ServiceUnavailable"
    exit_code = EXIT_BUSY
    default_message = "The service is starting and not ready yet. Please retry."

    @property
    def retry_after(self) -> int | None:
        return 1


class ModelError(OpenReadError):
    """A shipped model file is missing, altered or cannot be loaded (a deployment fault)."""

    status = 503
    code = "ServiceUnavailable"
    exit_code = EXIT_MODEL
    default_message = "A model file is missing or damaged."


class InternalError(OpenReadError):
    status = 500
    code = "InternalServerError"
    exit_code = EXIT_INTERNAL
