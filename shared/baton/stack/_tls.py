"""A local certificate authority and the secured broker's certificate, made with openssl.

Kafka reads PEM directly (``ssl.keystore.type=PEM``): the keystore file holds the broker's
unencrypted PKCS#8 key followed by its certificate chain, the truststore file the CA.
Everything is made once and kept; private keys are readable by their owner only.
"""

from __future__ import annotations

import os
from pathlib import Path

from baton.stack._common import log, run_command

__all__ = ["TlsFiles", "ensure_tls"]

DAYS = "825"
OPENSSL_HINT = "Install openssl (e.g. `apt-get install openssl`)."
EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
SERVER_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth\n"
    # Clients check the host name they dial: the loopback address and its name.
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
)


class TlsFiles:
    """Where the CA and the broker's key and certificate live.

    Args:
        root: A directory of their own (``<home>/kafka-secure/tls``).
    """

    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.ca_key = root / "ca.key"
        self.ca_cert = root / "ca.pem"
        self.broker_key = root / "broker.key"
        self.broker_cert = root / "broker.pem"
        self.keystore = root / "broker-keystore.pem"

    def ready(self) -> bool:
        """Whether an earlier run made every file (the keystore is written last)."""
        return all(p.is_file() for p in (self.ca_cert, self.broker_cert, self.keystore))


async def _openssl(*args: str, what: str) -> None:
    await run_command(["openssl", *args], what=what, hint=OPENSSL_HINT, max_wait=60.0)


async def ensure_tls(*, root: Path) -> TlsFiles:
    """Make the local CA and a broker certificate it signed, unless an earlier run did.

    Raises:
        StackError: openssl is missing or fails.
    """
    files = TlsFiles(root=root)
    if files.ready():
        return files
    _private_dir(root)
    log.info("kafka (secure): making a local CA and the broker certificate in %s...", root)
    ca = ["-keyout", str(files.ca_key), "-out", str(files.ca_cert), "-days", DAYS]
    await _openssl(
        "req", "-x509", *EC, *ca, "-subj", "/CN=Baton local CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        what="making the local CA",
    )  # fmt: skip
    csr = root / "broker.csr"
    await _openssl(
        "req", *EC, "-keyout", str(files.broker_key), "-out", str(csr),
        "-subj", "/CN=localhost",
        what="making the broker key",
    )  # fmt: skip
    extensions = root / "broker.ext"
    extensions.write_text(SERVER_EXTENSIONS, "utf-8")
    await _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(files.ca_key),
        "-CAcreateserial", "-out", str(files.broker_cert), "-days", DAYS,
        "-extfile", str(extensions),
        what="signing the broker certificate",
    )  # fmt: skip
    _write_keystore(files)
    csr.unlink(missing_ok=True)
    return files


def _private_dir(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)


def _write_keystore(files: TlsFiles) -> None:
    """Key, certificate and CA in one PEM file (written last: it marks the work done)."""
    for key in (files.ca_key, files.broker_key):
        os.chmod(key, 0o600)
    chain = files.broker_cert.read_text("utf-8") + files.ca_cert.read_text("utf-8")
    partial = files.keystore.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(files.broker_key.read_text("utf-8") + chain)
    partial.replace(files.keystore)
