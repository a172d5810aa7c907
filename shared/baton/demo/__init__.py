"""The end-to-end demo: five supervised services, agent workers, the demo scenarios."""

from baton.demo.runner import (
    DemoFailedError,
    DemoOptions,
    DemoStoppedError,
    demo_env,
    run_demo,
)
from baton.demo.supervisor import ServiceCrashedError, ServiceSupervisor

__all__ = [
    "DemoFailedError",
    "DemoOptions",
    "DemoStoppedError",
    "ServiceCrashedError",
    "ServiceSupervisor",
    "demo_env",
    "run_demo",
]
