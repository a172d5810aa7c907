"""The command contracts: what each service answers, what a request carries, what it replies.

:mod:`~baton.protocol.commands.names` declares each service's commands (one ``StrEnum`` per
service), the reply's type and the dispatch of a request to its handler;
:mod:`~baton.protocol.commands.requests` the model of each command's data, checked by the
responder before a handler runs and handed to it; :mod:`~baton.protocol.commands.replies`
the model of each command's reply, which the service builds and callers read. Renaming a
command is a change to the enum member's value here and nowhere else.
"""

from baton.protocol.commands.names import (
    COMMANDS,
    REPLY_SUFFIX,
    HubCommand,
    MonitorCommand,
    RecoveryCommand,
    ResourceCommand,
    StatusCommand,
    command_of,
    dispatch,
    reply_type,
    unknown_command,
)
from baton.protocol.commands.replies import (
    REPLIES,
    CommandReply,
    OpenReply,
    parse_reply,
    reply_data,
)
from baton.protocol.commands.requests import (
    REQUESTS,
    CommandRequest,
    parse_request,
    request_data,
    validate_request,
)

__all__ = [
    "COMMANDS",
    "REPLIES",
    "REPLY_SUFFIX",
    "REQUESTS",
    "CommandReply",
    "CommandRequest",
    "HubCommand",
    "MonitorCommand",
    "OpenReply",
    "RecoveryCommand",
    "ResourceCommand",
    "StatusCommand",
    "command_of",
    "dispatch",
    "parse_reply",
    "parse_request",
    "reply_data",
    "reply_type",
    "request_data",
    "unknown_command",
    "validate_request",
]
