"""Exceptions of the client: one base class, one subclass per thing a user can fix.

Every message says what went wrong and what to do about it; none contains the token.
"""

from __future__ import annotations

__all__ = [
    "AuthError", "CorruptObjectError", "FormatError", "NotTabularError", "ObjectNotFoundError",
    "ProductNotFoundError", "ProductTooBigError", "PzClientError", "RemoteError",
    "UploadNotSupportedError",
]


class PzClientError(Exception):
    """Base class of every error the client raises on purpose."""


class AuthError(PzClientError):
    """The server refused the token (401: missing or invalid; 403: lacks a scope)."""


class RemoteError(PzClientError):
    """The server could not be reached, or answered with an unexpected status."""


class ObjectNotFoundError(PzClientError):
    """A data object is missing from the DVC remote (or from the local DVC cache)."""


class CorruptObjectError(PzClientError):
    """A data object does not have the md5 its DVC pointer promises, even after a refetch."""


class FormatError(PzClientError):
    """A file cannot be read as a table in the format its metadata declares."""


class ProductNotFoundError(PzClientError, KeyError):
    """No product has this id."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class NotTabularError(PzClientError, ValueError):
    """The product is not a table (e.g. training results): download it instead of loading it."""


class ProductTooBigError(PzClientError, ValueError):
    """The main file is larger than the in-memory limit of ``PzServer.get_product``."""


class UploadNotSupportedError(PzClientError, NotImplementedError):
    """Products are added by pull request, not uploaded through the client."""
