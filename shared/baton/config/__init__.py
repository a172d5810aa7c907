"""Configuration, built once at start from a mapping of environment variables.

:class:`BatonSettings` holds what every process shares (``BATON_*``); each service reads its
own section (:class:`ServiceConfig`, ``BATON_HUB_*``...). Both are pydantic-settings models
read from a mapping the entry point passes (``os.environ``), validated at start: a bad value
or an unknown ``BATON_*`` name stops the process with a
:class:`~baton.errors.ConfigError` naming the variable. Secrets may come from mounted files
(``<VARIABLE>_FILE``).
"""

from baton.config.environment import OTHER_VARIABLES, SECTION_PREFIXES
from baton.config.names import (
    DEFAULT_PREFIX,
    LOCAL_KAFKA_BOOTSTRAP,
    LOCAL_KAFKA_HOST,
    LOCAL_KAFKA_PORT,
    LOCAL_PG_DSN,
    LOCAL_PG_PORT,
    SERVICES,
    TopicNames,
    deployment_schema,
    local_pg_dsn,
)
from baton.config.service import ServiceConfig
from baton.config.settings import BatonSettings

__all__ = [
    "DEFAULT_PREFIX",
    "LOCAL_KAFKA_BOOTSTRAP",
    "LOCAL_KAFKA_HOST",
    "LOCAL_KAFKA_PORT",
    "LOCAL_PG_DSN",
    "LOCAL_PG_PORT",
    "OTHER_VARIABLES",
    "SECTION_PREFIXES",
    "SERVICES",
    "BatonSettings",
    "ServiceConfig",
    "TopicNames",
    "deployment_schema",
    "local_pg_dsn",
]
