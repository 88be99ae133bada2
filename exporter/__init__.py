"""codearts-exporter: a Prometheus exporter for Huawei Cloud CodeArts CI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("codearts-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
