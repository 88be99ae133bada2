"""How requests carry credentials: the three auth modes and the factory that picks one.

``base`` (the mode interface and the token modes), ``iam`` (IAM password tokens), ``signing`` (AK/SK
request signing), ``secretfile`` (secrets read from ``*_file`` paths), ``keyfiles`` (a pair of such files
re-read together when they change), ``settings`` (the ``auth:`` section), ``factory`` (:func:`build_auth`).
"""

from exporter.auth.base import CodeArtsAuth, StaticTokenAuth
from exporter.auth.factory import build_auth
from exporter.auth.settings import AkSkAuth, Auth, PasswordAuth, TokenAuth

__all__ = ["AkSkAuth", "Auth", "CodeArtsAuth", "PasswordAuth", "StaticTokenAuth", "TokenAuth", "build_auth"]
