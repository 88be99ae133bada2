"""Secrets given inline or as a ``*_file`` path, read when they are needed so a rotated file is picked up."""

from __future__ import annotations

from exporter.errors import CredentialsError
from exporter.validation import Secret


class SecretSource:
    """One configured secret: a fixed value, or a file read again on every :meth:`read`.

    The file's trailing line break (``echo pw > file``) is not part of the secret.
    """

    def __init__(self, field: str, value: Secret | None = None, path: str | None = None) -> None:
        if (value is None) == (path is None):
            raise ValueError(f"{field}: give exactly one of a value and a file")
        self.field = field
        self._value = value
        self.path = path

    @property
    def from_file(self) -> bool:
        """True when the secret lives in a file (and may change while the exporter runs)."""
        return self.path is not None

    def read(self) -> Secret:
        """The secret now; raises :class:`CredentialsError` naming the field and file if it cannot be read."""
        if self._value is not None:
            return self._value
        assert self.path is not None  # noqa: S101 - guaranteed by __init__
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read().rstrip("\r\n")
        except OSError as err:
            raise CredentialsError(f"cannot read {self.field}_file {self.path}: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise CredentialsError(f"cannot read {self.field}_file {self.path}: not UTF-8 text") from None
        if not text:
            raise CredentialsError(f"{self.field}_file {self.path} is empty")
        return Secret(text)

    def __repr__(self) -> str:
        where = f"file={self.path!r}" if self.path is not None else "value=***"
        return f"SecretSource({self.field}, {where})"
