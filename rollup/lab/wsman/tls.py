"""
Self-signed certificates for the HTTPS listeners (port 5986), made once and kept.

Each host gets its own certificate (CN and subjectAltName = its name and address), as a
Windows host's listener has. Keys are ECDSA P-256: an RSA key per host would cost tens of
milliseconds each, which adds up over hundreds of hosts.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=3650)


def _file_stem(host: str, address: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}-{address}")


def certificate_files(directory: Path, host: str, address: str) -> tuple[Path, Path]:
    """
    The certificate and key files for ``host``, created in ``directory`` if missing.

    The key file is written with mode 0600. An existing pair is reused, so the clients of a
    lab see the same certificate from one run to the next.
    """
    stem = _file_stem(host, address)
    cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A TLS server context for one listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context
