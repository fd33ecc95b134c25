"""openread: a self-hosted drop-in for the Azure AI Vision Image Analysis 4.0 Read API.

    >>> import openread
    >>> result = openread.read("sign.jpg")           # bytes, path, PIL image or numpy array
    >>> print(result.text)
    >>> body = openread.to_azure_json(result)         # Azure's JSON, as the server returns it

``read`` uses one engine per process, loaded on first use; build an ``Engine`` yourself to
choose settings or to control when the models load. Importing this package does no I/O.
"""

from __future__ import annotations

from .bulk import bulk  # the function (pyarrow, tqdm and ray load only when it runs)
from .engine import Engine, ImageInput, read
from .errors import (
    BusyError,
    ImageBytesSizeError,
    ImageUrlError,
    InternalError,
    InvalidImageFormatError,
    InvalidImageSizeError,
    InvalidRequestError,
    ModelError,
    OpenReadError,
)
from .result import Appearance, Block, Line, Point, ReadResult, Word
from .settings import ImageLimits, Settings, SettingsError
from .wire import to_azure_json

__version__ = "0.1.0"

__all__ = [
    "Appearance",
    "Block",
    "BusyError",
    "Engine",
    "ImageBytesSizeError",
    "ImageInput",
    "ImageLimits",
    "ImageUrlError",
    "InternalError",
    "InvalidImageFormatError",
    "InvalidImageSizeError",
    "InvalidRequestError",
    "Line",
    "ModelError",
    "OpenReadError",
    "Point",
    "ReadResult",
    "Settings",
    "SettingsError",
    "Word",
    "__version__",
    "bulk",
    "read",
    "to_azure_json",
]
