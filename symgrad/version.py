"""The version of symgrad (also the JSON report's ``symgrad`` field)."""
__version__ = "0.1.0"
