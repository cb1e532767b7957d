"""The cluster's secrets, made locally: CA, admin client certificate and a kubeadm bootstrap token.

The control-plane VM receives the CA (cert + key) through cloud-init and runs kubeadm init with it,
so the harness already holds a client certificate the API server trusts: it writes the admin
kubeconfig itself from the public address. Nothing secret travels back from the VM, and no SSH.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
ADMIN_USER = "fedtest-admin"
# Members of system:masters are cluster-admin without any RBAC binding, on every Kubernetes version.
ADMIN_GROUP = "system:masters"
_FILES = {"ca_cert_pem": "ca.crt", "ca_key_pem": "ca.key", "admin_cert_pem": "admin.crt",
          "admin_key_pem": "admin.key", "bootstrap_token": "bootstrap-token"}


def new_bootstrap_token() -> str:
    """A kubeadm bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}, from the OS's secure random source."""
    def pick(n: int) -> str:
        return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(n))
    return f"{pick(6)}.{pick(16)}"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class ClusterPKI:
    """PEM bytes of the CA and the admin client pair, plus the workers' bootstrap token."""

    ca_cert_pem: bytes
    ca_key_pem: bytes
    admin_cert_pem: bytes
    admin_key_pem: bytes
    bootstrap_token: str

    @classmethod
    def generate(cls, cluster_name: str, valid_for: dt.timedelta = dt.timedelta(days=7)) -> ClusterPKI:
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate VM clock skew
        ca_key = _key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fedtest-{cluster_name}-ca")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        admin_key = _key()
        admin_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_USER),
            ]))
            .issuer_name(ca_name)
            .public_key(admin_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_cert_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
            ca_key_pem=_pem_key(ca_key),
            admin_cert_pem=admin_cert.public_bytes(serialization.Encoding.PEM),
            admin_key_pem=_pem_key(admin_key),
            bootstrap_token=new_bootstrap_token(),
        )

    def ca_cert_hash(self) -> str:
        """What `kubeadm join --discovery-token-ca-cert-hash` expects: sha256 of the CA's DER SPKI."""
        spki = x509.load_pem_x509_certificate(self.ca_cert_pem).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "sha256:" + hashlib.sha256(spki).hexdigest()

    def save(self, directory: Path) -> Path:
        """Write each part as a file, mode 0600, in a 0700 folder (under work_dir, never artifacts)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        for attr, filename in _FILES.items():
            value = getattr(self, attr)
            data = value.encode() if isinstance(value, str) else value
            path = directory / filename
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(path, 0o600)
        return directory

    @classmethod
    def load(cls, directory: Path) -> ClusterPKI:
        values = {attr: (directory / filename).read_bytes() for attr, filename in _FILES.items()}
        values["bootstrap_token"] = values["bootstrap_token"].decode().strip()
        return cls(**values)
