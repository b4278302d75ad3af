"""TLS for the proxy: contexts from PEM files, and a local certificate authority for `--tls`.

Clients such as the OpenAI Node SDK always dial `wss://`. `LocalCA` makes that one flag: it
creates a private CA once (kept in a folder, by default the user's data directory) and, for each
listen address, a certificate signed by it; the user tells the client to trust the CA's
certificate (`NODE_EXTRA_CA_CERTS=…/ca.pem`, `SSL_CERT_FILE=…/ca.pem`) once, and every later run
reuses it. The CA's key never leaves the folder (owner-only); certificates are made with the
`cryptography` package.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from recorder.errors import InputError

CA_DAYS = 3650
LEAF_DAYS = 397  # what browsers accept for a server certificate
_RENEW_BEFORE = dt.timedelta(days=30)


def server_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A server-side context from a PEM certificate chain (and key); InputError if unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot load the TLS certificate {certfile}: {exc}") from None
    return context


def client_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """A client-side context that verifies servers with the system's CAs, or with `ca_file`."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot load the CA bundle {ca_file}: {exc}") from None


def default_tls_dir() -> Path:
    """Where `--tls` keeps its CA: $XDG_DATA_HOME/rt/tls (~/.local/share/rt/tls)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "rt" / "tls"


@dataclass(frozen=True)
class LocalCertificate:
    """A certificate for the proxy's listen address, and the CA that signed it."""

    ca_file: Path  # what clients trust
    cert_file: Path  # the certificate chain the proxy serves
    key_file: Path
    created_ca: bool  # whether the CA was made just now (clients must be told to trust it)

    def context(self) -> ssl.SSLContext:
        return server_context(self.cert_file, self.key_file)


class LocalCA:
    """A private CA in `directory` (created on first use) that issues certificates for hosts."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_tls_dir()
        self.ca_file = self.directory / "ca.pem"
        self.ca_key_file = self.directory / "ca-key.pem"

    def certificate_for(self, host: str) -> LocalCertificate:
        """A certificate for `host` (an IP address or a name; loopback names get both
        `localhost` and 127.0.0.1 and ::1), reusing what the folder holds while it is valid."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            created = self._ensure_ca()
            safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host) or "host"
            cert_file = self.directory / f"{safe}.pem"
            key_file = self.directory / f"{safe}-key.pem"
            if created or not _still_valid(cert_file, _names(host)):
                self._issue(host, cert_file, key_file)
        except OSError as exc:
            raise InputError(f"cannot keep the local CA in {self.directory}: {exc}") from None
        return LocalCertificate(self.ca_file, cert_file, key_file, created)

    def _ensure_ca(self) -> bool:
        if self.ca_file.exists() and self.ca_key_file.exists() and _still_valid(self.ca_file, None):
            return False
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rt record local CA")])
        now = dt.datetime.now(dt.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self.ca_key_file, _key_pem(key))
        _write_public(self.ca_file, _cert_pem(certificate))
        return True

    def _issue(self, host: str, cert_file: Path, key_file: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key = serialization.load_pem_private_key(self.ca_key_file.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        names: list[x509.GeneralName] = []
        for name in _names(host):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        _write_private(key_file, _key_pem(key))
        _write_public(cert_file, _cert_pem(certificate) + _cert_pem(ca_cert))


def _names(host: str) -> list[str]:
    loopback = {"localhost", "127.0.0.1", "::1"}
    if host in loopback:
        return ["localhost", "127.0.0.1", "::1"]
    if host in ("0.0.0.0", "::"):
        return ["localhost", "127.0.0.1", "::1", *_host_names()]
    return [host]


def _host_names() -> list[str]:
    import socket

    name = socket.gethostname()
    return [name] if name and name not in ("localhost",) else []


def _still_valid(path: Path, names: list[str] | None) -> bool:
    """Whether the PEM certificate at `path` exists, is not about to expire and (for a leaf)
    names every one of `names`."""
    if not path.exists():
        return False
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return False
    if certificate.not_valid_after_utc - _RENEW_BEFORE < dt.datetime.now(dt.timezone.utc):
        return False
    if names is None:
        return True
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    have |= set(san.get_values_for_type(x509.DNSName))
    return all(str(_normal(n)) in have for n in names)


def _normal(name: str) -> object:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return name


def _key_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(certificate: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined, no-any-return]


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
