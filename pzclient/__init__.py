"""pzclient: list, inspect, load and download the products of a PZ Server catalogue.

    from pzclient import open_catalog
    catalog = open_catalog()                 # the site (token from $ACCESS_TOKEN) or a clone
    df = catalog["dc2-training-9816"].load() # a pandas DataFrame, cached and md5-verified

``PzServer`` offers the read methods of the upstream ``pzserver`` client, so notebooks
written for it work by changing the import. This package never imports the catalogue
builder (``site_builder``), mkdocs, jinja2 or DVC.
"""

from .catalog import Catalog, open_catalog
from .compat import PzServer
from .errors import (
                     AuthError,
                     CorruptObjectError,
                     FormatError,
                     NotTabularError,
                     ObjectNotFoundError,
                     ProductNotFoundError,
                     ProductTooBigError,
                     PzClientError,
                     RemoteError,
                     UploadNotSupportedError,
)
from .product import Product

__version__ = "0.1.0"

__all__ = [
    "AuthError", "Catalog", "CorruptObjectError", "FormatError", "NotTabularError",
    "ObjectNotFoundError", "Product", "ProductNotFoundError", "ProductTooBigError", "PzClientError",
    "PzServer", "RemoteError", "UploadNotSupportedError", "__version__", "open_catalog",
]
