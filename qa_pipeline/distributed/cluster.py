"""Joining the Ray cluster: ``ray.address`` or a local instance, with the offline environment.

Shared by the batch runner (:mod:`.runner`) and live recognition on Ray actors
(:mod:`qa_pipeline.live.remote`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .. import allocator
from ..asr.numerics import worker_env
from ..config import Settings

log = logging.getLogger(__name__)

#: Ray's Unix socket paths live under its temp dir and must stay short (107 bytes in all).
MAX_RAY_TEMP_DIR = 40


def connect(settings: Settings) -> bool:
    """Join ``settings.ray.address`` or start a local instance (unless Ray is already up); True
    when this call started it (the caller then shuts it down).

    Workers get ``HF_HUB_OFFLINE=1``, pyannote's metrics off, this process's OpenMP setting and
    bounded malloc arenas (:mod:`qa_pipeline.allocator`).
    """
    import ray

    if ray.is_initialized():
        return False
    conf = settings.ray
    env = {"HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "false", **worker_env(), **allocator.worker_env()}
    kwargs: dict[str, Any] = {"configure_logging": False, "log_to_driver": False, "include_dashboard": False}
    if conf.address:
        ray.init(address=conf.address, runtime_env={"env_vars": env}, **kwargs)
    else:  # local workers inherit this process's environment (the CLI sets the offline flags)
        os.environ.update(env)
        temp_dir = ray_temp_dir(conf.temp_dir or settings.data_dir / "ray")
        ray.init(num_cpus=conf.num_cpus or os.cpu_count() or 1, object_store_memory=512 * 1024 * 1024,
                 _temp_dir=str(temp_dir), **kwargs)
    return True


def ray_temp_dir(wanted: Path) -> Path:
    """Ray's temp dir (inside the data dir); a short /tmp path when that one is too long for
    Ray's Unix sockets."""
    wanted = wanted.resolve()
    if len(str(wanted)) <= MAX_RAY_TEMP_DIR:
        wanted.mkdir(parents=True, exist_ok=True)
        return wanted
    short = Path("/tmp") / f"qa-ray-{os.getuid()}"
    short.mkdir(parents=True, exist_ok=True)
    log.warning("Ray temp dir %s is too long for Unix sockets; using %s", wanted, short)
    return short
