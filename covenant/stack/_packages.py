"""Find the engines' binaries, installing missing Debian packages when allowed."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from covenant.kernel.errors import EngineError, MissingPackagesError

__all__ = ["ensure_packages", "find_binary", "postgres_bindir"]


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL server's bin directory, if installed."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def find_binary(name: str) -> str | None:
    return shutil.which(name)


#: Debian package -> how to tell it is installed.
_PROBES: dict[str, Callable[[], bool]] = {
    "postgresql": lambda: postgres_bindir() is not None,
    "prometheus": lambda: find_binary("prometheus") is not None,
    "prometheus-alertmanager": lambda: find_binary("prometheus-alertmanager") is not None,
    "prometheus-postgres-exporter": lambda: find_binary("prometheus-postgres-exporter") is not None,
}


def ensure_packages(
    packages: Iterable[str], *, allow_install: bool, report: Callable[[str], None]
) -> None:
    """Make sure each Debian package is present.

    Missing packages are installed with apt-get when running as root and
    ``allow_install`` is set; otherwise the error names the packages to install.
    """
    missing = sorted({p for p in packages if not _PROBES[p]()})
    if not missing:
        return
    if not allow_install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise MissingPackagesError(missing)
    report(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EngineError(
                "apt-get", f"`{' '.join(argv)}` failed:\n{done.stderr.strip()[-2000:]}"
            )
    still = [p for p in missing if not _PROBES[p]()]
    if still:
        raise MissingPackagesError(still)
