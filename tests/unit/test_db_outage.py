"""Which database errors are outages (waited out) and which are the statement's fault."""

from __future__ import annotations

import asyncpg
import pytest

from baton.db.database import is_outage


class _Conn:
    def __init__(self, *, closed: bool, detached: bool = False) -> None:
        self._closed = closed
        self._detached = detached

    def is_closed(self) -> bool:
        if self._detached:
            raise asyncpg.InterfaceError("connection has been released back to the pool")
        return self._closed


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        ConnectionResetError(),
        asyncpg.ConnectionDoesNotExistError("closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
    ],
)
def test_lost_server_is_an_outage(error: BaseException) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.UndefinedTableError("no such table"),
        ValueError("bad input"),
    ],
)
def test_statement_errors_are_not(error: BaseException) -> None:
    assert not is_outage(error)


def test_interface_error_counts_only_from_a_lost_connection() -> None:
    error = asyncpg.InterfaceError("connection is closed")
    assert is_outage(error, conn=_Conn(closed=True))
    assert not is_outage(error, conn=_Conn(closed=False))
    assert not is_outage(error)
    assert is_outage(error, conn=_Conn(closed=False, detached=True))  # the server went away
