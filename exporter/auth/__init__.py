"""How requests carry credentials: the three auth modes and the factory that picks one.

``base`` (the mode interface and the token modes), ``iam`` (IAM password tokens), ``signing`` (AK/SK
request signing), ``secretfile`` (secrets read from ``*_file`` paths), ``keyfiles`` (a pair of such files
re-read together when they change), ``settings`` (the ``auth:`` section), ``factory`` (:func:`build_auth`).
"""

# Only the settings records here: the configuration loader imports them, and importing this package must not
# load requests (the modes and the factory do: import them from exporter.auth.base and exporter.auth.factory).
from exporter.auth.settings import AkSkAuth, Auth, PasswordAuth, TokenAuth

__all__ = ["AkSkAuth", "Auth", "PasswordAuth", "TokenAuth"]
