"""The tools every chart test needs: helm, and the Kubernetes schemas kubeconform uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.checks import TOOLS_HINT, helm_binary, kube_schema_versions, tools_dir


@pytest.fixture(scope="session")
def kube_versions() -> list[str]:
    versions = kube_schema_versions()
    assert versions, f"no Kubernetes schemas under {tools_dir()}: {TOOLS_HINT}"
    return versions


@pytest.fixture(scope="session")
def helm() -> Path:
    path = helm_binary()
    assert path.is_file(), f"helm is missing at {path}: {TOOLS_HINT}"
    return path
