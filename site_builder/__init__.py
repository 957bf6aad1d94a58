"""Build, validate and maintain the PZ Server catalogue of photo-z data products."""

__version__ = "0.1.0"
