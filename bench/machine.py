"""The machine a run was measured on, for the report."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def redis_version() -> str:
    output = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    for word in output.split():
        if word.startswith("v="):
            return word[2:]
    return output.strip() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe() -> dict:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "redis": redis_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load": load_average(),
    }
