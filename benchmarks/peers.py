"""The peers Headwater is compared with, each in its own virtual environment.

A user who does not pick Headwater writes a plain ``requests`` loop, or uses dlt's
``rest_api_source``, an Airbyte declarative (manifest) source or a Singer SDK tap. Each
peer's benchmark script (``benchmarks/peer_cases/<script>.py``, standard library plus
that peer's packages only) runs with the Python of the peer's own environment, created
on first use under ``~/.cache/headwater-bench/<peer>`` (``HEADWATER_BENCH_CACHE``
overrides the folder) with ``python -m venv`` and ``pip install`` of the pinned
versions below. An environment whose pins changed is made anew. Nothing here is
installed by the test suite or CI: only ``python -m benchmarks`` calls :func:`ensure_venv`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["PEERS", "PEER_CASES", "PeerUnavailable", "cache_dir", "ensure_venv", "script_of"]

#: The pinned requirements of each peer's environment.
PEERS: dict[str, tuple[str, ...]] = {
    "requests": ("requests==2.34.2",),
    "dlt": ("dlt[duckdb,parquet]==1.31.0", "duckdb==1.5.6"),
    "airbyte": ("airbyte-cdk==7.39.1",),
    "singer": ("singer-sdk==0.54.9", "requests==2.34.2"),
}

#: Case name -> (peer environment, script in ``benchmarks/peer_cases``).
PEER_CASES: dict[str, tuple[str, str]] = {
    "requests_loop": ("requests", "requests_loop.py"),
    "dlt_rest_api_defaults": ("dlt", "dlt_rest_api.py"),
    "dlt_rest_api_tuned": ("dlt", "dlt_rest_api.py"),
    "airbyte_manifest": ("airbyte", "airbyte_manifest.py"),
    "singer_tap": ("singer", "singer_tap.py"),
}

SCRIPTS = Path(__file__).resolve().parent / "peer_cases"


class PeerUnavailable(RuntimeError):
    """A peer's environment could not be made (its pip output is in the log named)."""


def cache_dir() -> Path:
    """Where the peers' environments live."""
    override = os.environ.get("HEADWATER_BENCH_CACHE")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "headwater-bench"


def script_of(case: str) -> Path:
    """The script of a peer case."""
    return SCRIPTS / PEER_CASES[case][1]


def _base_python() -> str:
    """A Python outside any virtual environment, for ``python -m venv``."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base


def ensure_venv(peer: str) -> Path:
    """The Python of ``peer``'s environment, created and installed when missing."""
    requirements = PEERS[peer]
    root = cache_dir() / peer
    python = root / "bin" / "python"
    marker = root / "headwater-bench-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    log = root.parent / f"{peer}.install.log"
    print(f"   installing {peer} ({', '.join(requirements)}) into {root} ...", flush=True)
    with open(log, "w") as out:
        steps = (
            [_base_python(), "-m", "venv", str(root)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                *requirements,
            ],
        )
        for step in steps:
            done = subprocess.run(
                step, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            if done.returncode != 0:
                raise PeerUnavailable(
                    f"could not install {peer} ({' '.join(step[:4])} exited {done.returncode}); "
                    f"see {log}"
                )
    marker.write_text(wanted)
    return python
