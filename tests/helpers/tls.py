"""A self-signed certificate and a web config file, shared by the TLS, network-error and exposition tests."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "codearts-exporter-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def htpasswd_hash(password: str) -> str:
    """A bcrypt hash as `htpasswd -nB` writes it ($2y$); cost 4 keeps the tests fast."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)


def write_web_config(directory: Path, *, tls: bool = True, users: dict[str, str] | None = None) -> Path:
    lines = []
    if tls:
        self_signed(directory)
        lines += ["tls_server_config:", "  cert_file: server.crt", "  key_file: server.key"]
    if users:
        lines.append("basic_auth_users:")
        lines += [f"  {user}: '{htpasswd_hash(password)}'" for user, password in users.items()]
    path = directory / "web.yml"
    path.write_text("\n".join(lines) + "\n")
    return path
