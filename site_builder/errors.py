"""Exceptions shown to users without a traceback.

Library code raises these (or returns lists of :class:`site_builder.catalog.issue.Issue`);
only the CLI decides how to print them and which exit code to use.
"""

from __future__ import annotations


class PzError(Exception):
    """Base class of every error that is the user's to fix (no traceback shown)."""

    exit_code = 1


class UsageError(PzError):
    """The command was called wrongly (exit code 2)."""

    exit_code = 2


class CatalogNotFoundError(UsageError):
    """The current directory is not inside a PZ Server catalogue."""


class ProductNotFoundError(UsageError):
    """A product id given on the command line does not exist."""


class DataFileError(PzError):
    """A data file cannot be read, or is not what it claims to be."""
