"""The local PostgreSQL cluster: binaries, where it lives, initdb, start and stop.

As root the server runs as the ``postgres`` OS user (PostgreSQL refuses root). When that
user cannot reach ``<home>`` (``/root`` is private), the cluster lives in its home directory
instead; ``<home>/postgres/cluster.json`` records where.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import time
from pathlib import Path
from urllib.parse import urlsplit

from baton.config import LOCAL_PG_DSN, LOCAL_PG_PORT, local_pg_dsn
from baton.errors import StackError
from baton.stack._common import log, pid_alive, read_pid, run_command, terminate

__all__ = ["DATABASE", "HOST", "PG_HINT", "ROLE", "PgCluster", "find_pg_bin"]

PG_HINT = (
    "Install the PostgreSQL server (e.g. `apt-get install postgresql`), "
    "or set BATON_PG_DSN to a running server."
)
_LOCAL = urlsplit(LOCAL_PG_DSN)
HOST = _LOCAL.hostname or "127.0.0.1"
ROLE, DATABASE = _LOCAL.username or "baton", _LOCAL.path.lstrip("/") or "baton"


def find_pg_bin() -> Path | None:
    """Directory with ``initdb`` and ``pg_ctl``: newest Debian version first, then PATH."""
    found = []
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        version = Path(path).parent.name
        if version.isdigit() and all(Path(path, b).exists() for b in ("initdb", "pg_ctl")):
            found.append((int(version), Path(path)))
    if found:
        return max(found)[1]
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).parent if initdb and pg_ctl else None


def _reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` may traverse every existing ancestor of ``path`` (ACLs ignored)."""
    groups = {user.pw_gid, *(g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem)}
    for parent in [*reversed(path.parents), path]:
        try:
            info = parent.stat()
        except FileNotFoundError:
            break
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


class PgCluster:
    """One local cluster: ``data``, ``run`` (socket) and ``server.log`` in one directory.

    Args:
        root: ``<home>/postgres``.
        port: The port it listens on (``BATON_STACK_PG_PORT``).
    """

    def __init__(self, *, root: Path, port: int = LOCAL_PG_PORT) -> None:
        self.root = root
        self.port = port
        self.dsn = local_pg_dsn(port=port)
        self.state_file = root / "cluster.json"
        self.as_root = os.geteuid() == 0
        self.dir = self._choose_dir()
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "run"
        self.log_file = self.dir / "server.log"

    def _choose_dir(self) -> Path:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return Path(json.loads(self.state_file.read_text("utf-8"))["cluster"])
        if not self.as_root:
            return self.root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            return self.root
        if _reachable_by(self.root, owner):
            return self.root
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:10]
        return Path(owner.pw_dir) / f"baton-{digest}"

    def managed_pid(self) -> int | None:
        """Pid of this cluster's running postmaster, from ``postmaster.pid``."""
        pid = read_pid(self.data_dir / "postmaster.pid")
        return pid if pid is not None and pid_alive(pid, cmd_contains="postgres") else None

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else args

    def _bin_for_data(self) -> Path | None:
        try:
            version = (self.data_dir / "PG_VERSION").read_text("utf-8").strip()
        except OSError:
            return None
        candidate = Path("/usr/lib/postgresql", version, "bin")
        return candidate if (candidate / "pg_ctl").exists() else None

    async def binaries(self) -> Path:
        """Server binaries; as root, installs Debian's ``postgresql`` when they are missing.

        Raises:
            StackError: none found and none can be installed; says what to install.
        """
        if (bin_dir := self._bin_for_data() or find_pg_bin()) is not None:
            return bin_dir
        if not self.as_root or shutil.which("apt-get") is None:
            raise StackError(
                "PostgreSQL server binaries (initdb, pg_ctl) were not found in "
                f"/usr/lib/postgresql/*/bin or on PATH. {PG_HINT}"
            )
        log.info("postgres: installing the server with apt-get (first run only)...")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
        try:
            await run_command(install, what="installing PostgreSQL", env=env)
        except StackError:
            await run_command(["apt-get", "update"], what="apt-get update", env=env)
            await run_command(install, what="installing PostgreSQL", hint=PG_HINT, env=env)
        if (bin_dir := find_pg_bin()) is None:
            raise StackError(f"apt-get installed postgresql but initdb is missing. {PG_HINT}")
        return bin_dir

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self.as_root:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise StackError(
                    "as root, PostgreSQL must run as the `postgres` OS user, which does not "
                    f"exist. {PG_HINT}"
                ) from None
            for path in (self.dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.state_file.write_text(json.dumps({"cluster": str(self.dir)}) + "\n", "utf-8")

    def _configure(self) -> None:
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# baton stack: local development server\n"
                f"listen_addresses = '{HOST}'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\nmax_connections = 200\n"
            )
        (self.data_dir / "pg_hba.conf").write_text(
            f"# baton stack: local development only, trust on {HOST}\n"
            f"host all all {HOST}/32 trust\n",
            "utf-8",
        )

    async def init(self, *, bin_dir: Path) -> None:
        """Create the cluster once (``initdb``; superuser ``baton``, trust on loopback)."""
        self._prepare_dirs()
        if (self.data_dir / "PG_VERSION").exists():
            return
        log.info("postgres: creating a cluster in %s...", self.data_dir)
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", ROLE]
        await run_command(
            self._as_owner([*initdb, "--auth=trust", "--no-locale", "--encoding=UTF8"]),
            what="initialising the PostgreSQL cluster",
            hint=f"Remove {self.data_dir} if it holds a broken earlier attempt.",
        )
        self._configure()

    async def start(self, *, bin_dir: Path, max_wait: float) -> None:
        """Start the server with ``pg_ctl`` in a session of its own; wait until it runs."""
        log.info("postgres: starting server on %s:%d (log: %s)...", HOST, self.port, self.log_file)
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file)]
        # The port given here wins over the one initdb's configuration recorded, so a
        # changed BATON_STACK_PG_PORT moves an existing cluster too.
        pg_ctl += ["-o", f"-p {self.port}"]
        await run_command(
            self._as_owner([*pg_ctl, "-w", "-t", str(int(max_wait)), "start"]),
            what="starting PostgreSQL",
            hint=f"See {self.log_file}.",
            new_session=True,
            max_wait=max_wait + 10,
        )

    async def stop(self, *, pid: int) -> None:
        """Stop the server (``pg_ctl stop -m fast``, or SIGTERM without binaries)."""
        bin_dir = self._bin_for_data() or find_pg_bin()
        if bin_dir is None:
            await terminate(pid, name="postgres")
            return
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast"]
        await run_command(
            self._as_owner([*pg_ctl, "-w", "-t", "60", "stop"]),
            what="stopping PostgreSQL",
            max_wait=90.0,
        )

    async def ensure_database(self, *, max_wait: float) -> None:
        """Wait until the server accepts connections; create the ``baton`` database once."""
        import asyncpg

        admin_dsn = f"postgresql://{ROLE}@{HOST}:{self.port}/postgres"
        deadline = time.monotonic() + max_wait
        while True:
            try:
                conn = await asyncpg.connect(admin_dsn, timeout=5)
                break
            except Exception as exc:  # refused, starting up, not yet accepting: retry
                if time.monotonic() > deadline:
                    raise StackError(
                        f"PostgreSQL at {HOST}:{self.port} does not accept connections ({exc}); "
                        f"see {self.log_file}."
                    ) from None
                await asyncio.sleep(0.5)
        try:
            if not await conn.fetchval("select 1 from pg_database where datname = $1", DATABASE):
                log.info("postgres: creating database %s...", DATABASE)
                await conn.execute(f'create database "{DATABASE}" owner "{ROLE}"')
        finally:
            await conn.close()
        await self._ensure_roles()

    async def _ensure_roles(self) -> None:
        """The migration owner and DML-only app roles, with their rights on ``baton``."""
        import asyncpg

        from baton.db.roles import ensure_roles  # asyncpg loads only when a stack starts

        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await ensure_roles(conn, database=DATABASE)
        finally:
            await conn.close()
