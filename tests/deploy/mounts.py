"""What a rendered pod's container reads from its Secret and ConfigMap volumes, written
out as files the way the kubelet mounts them.

- ``mount_volumes``: each mounted Secret or ConfigMap volume of the container, its keys
  (or ``items``) as files under a local root: mount path → local directory.
- ``localized``: an environment whose values name files under a mount path, pointed at the
  local copies, so Baton's settings load what the pod would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.deploy.checks import single_container

__all__ = ["localized", "mount_volumes"]


def mount_volumes(
    doc: dict[str, Any],
    *,
    config_maps: Mapping[str, Mapping[str, str]],
    secrets: Mapping[str, Mapping[str, str]],
    root: Path,
) -> dict[str, Path]:
    """The container's Secret and ConfigMap mounts of ``doc`` written under ``root``.

    Raises:
        KeyError: a mounted ConfigMap or Secret, or a key its ``items`` name, is missing and
            the volume is not optional (the pod would not start).
    """
    volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"].get("volumes", [])}
    mounted: dict[str, Path] = {}
    for mount in single_container(doc).get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            source, name, store = volume["secret"], volume["secret"]["secretName"], secrets
        elif "configMap" in volume:
            source, name, store = volume["configMap"], volume["configMap"]["name"], config_maps
        else:
            continue
        if name not in store and not source.get("optional"):
            raise KeyError(f"volume {mount['name']}: {name} does not exist")
        data = store.get(name, {})
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        directory = root / mount["mountPath"].lstrip("/")
        directory.mkdir(parents=True)
        for item in items:
            if item["key"] not in data:
                raise KeyError(f"volume {mount['name']}: {name} has no key {item['key']}")
            (directory / item["path"]).write_text(data[item["key"]], "utf-8")
        mounted[mount["mountPath"]] = directory
    return mounted


def localized(env: Mapping[str, str], mounted: Mapping[str, Path]) -> dict[str, str]:
    """``env`` with each value under a mount path of ``mounted`` pointed at its copy."""
    out = dict(env)
    for name, value in env.items():
        for path, directory in mounted.items():
            if value == path or value.startswith(path + "/"):
                out[name] = str(directory) + value[len(path) :]
    return out
