"""The end-to-end demo: five supervised services, agent workers, seed 002's scenarios."""

from baton.demo.runner import DemoFailedError, DemoOptions, demo_env, run_demo
from baton.demo.supervisor import ServiceCrashedError, ServiceSupervisor

__all__ = [
    "DemoFailedError",
    "DemoOptions",
    "ServiceCrashedError",
    "ServiceSupervisor",
    "demo_env",
    "run_demo",
]
