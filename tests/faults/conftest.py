"""The fault suite runs the services as processes, with the end-to-end fixtures."""

from tests.e2e.conftest import client, e2e_env, log_dir

__all__ = ["client", "e2e_env", "log_dir"]
