"""`baton keys` commands: make Ed25519 key pairs for message signing.

``generate --publisher hub --dir keys/`` writes ``hub.v<N>.key`` (the private key, mode
0600, for the publisher's ``BATON_SIGNING_PRIVATE_KEYS``) and ``hub.v<N>.pub`` (for every
verifier's ``BATON_SIGNING_PUBLIC_KEYS``), ``N`` one past the newest version of that
publisher in the folder, and prints the key id and the raw public key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from baton.cli.common import EXIT, HelperGroup, emit
from baton.security.signing_key_files import (
    PRIVATE_SUFFIX,
    PUBLIC_SUFFIX,
    generate_key_pair,
    load_public_keys,
    raw_public_key,
)
from baton.security.signing_keys import key_version, publisher_of

__all__ = ["app"]

app = typer.Typer(
    cls=HelperGroup,
    help="Ed25519 key pairs for message signing (BATON_SIGNING_PRIVATE_KEYS / _PUBLIC_KEYS).",
    no_args_is_help=True,
)

_PUBLISHER = re.compile(r"[A-Za-z0-9_-]{1,56}")


@app.command()
def generate(
    publisher: Annotated[
        str, typer.Option("--publisher", help="Who signs with it: a service, `agents`, `ops`.")
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to write the key files into.", file_okay=False)
    ] = Path("keys"),
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Key version; default: one past the newest."),
    ] = None,
) -> None:
    """Write a new key pair ``<publisher>.v<N>.key`` / ``.pub`` and print its public key."""
    if _PUBLISHER.fullmatch(publisher) is None:
        emit({"error": "BadPublisher", "message": "--publisher must be [A-Za-z0-9_-]{1,56}"})
        raise typer.Exit(code=EXIT.ERROR_RESPONSE)
    if version is None:
        held = [
            key_version(p.name.removesuffix(s))
            for s in (PRIVATE_SUFFIX, PUBLIC_SUFFIX)
            for p in (directory.glob(f"*{s}") if directory.is_dir() else [])
            if publisher_of(p.name.removesuffix(s)) == publisher
        ]
        version = max([0, *held]) + 1
    key_id = f"{publisher}.v{version}"
    try:
        private, public = generate_key_pair(directory, key_id=key_id)
    except FileExistsError as exc:
        emit({"error": "KeyExists", "message": str(exc)})
        raise typer.Exit(code=EXIT.ERROR_RESPONSE) from None
    key = load_public_keys(public, variable="--dir")[key_id]
    emit(
        {
            "key_id": key_id,
            "private_key_file": str(private),
            "public_key_file": str(public),
            "public_key": raw_public_key(key),
        }
    )
