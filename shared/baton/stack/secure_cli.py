"""``python -m baton.stack.secure_cli up|down|status|env [USER]``: the secured local broker.

Until ``baton stack up --secure`` wires it, this is its command line. ``env USER`` prints
the ``export`` lines that connect a process as ``USER`` (password by file, never shown).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from baton.config import BatonSettings
from baton.errors import BatonError
from baton.stack.secure_kafka import ADMIN, SecureKafkaStack

__all__ = ["main"]

USAGE = "usage: python -m baton.stack.secure_cli up|down|status|env [USER]"


def main(*, argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run one command; returns the exit code."""
    if not argv or argv[0] not in ("up", "down", "status", "env"):
        print(USAGE, file=sys.stderr)
        return 2
    stack = SecureKafkaStack(settings=BatonSettings.from_env(env))
    if argv[0] == "env":
        user = argv[1] if len(argv) > 1 else ADMIN
        lines = stack.env(user=user)
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in lines.items()))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        report = asyncio.run(getattr(stack, argv[0])())
    except BatonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(report.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:], env=os.environ))
