"""The version of vidx (its own module, so anything can import it without importing the API)."""

__version__ = "0.1.0"
