"""Helpers of the lab's own tests: the lab's Docker engine, and running the
lab's real task files on this machine."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def engine_has(image):
    """Whether a Docker engine answers and has ``image``."""
    try:
        return docker("image", "inspect", image, check=False).returncode == 0
    except FileNotFoundError:
        return False
