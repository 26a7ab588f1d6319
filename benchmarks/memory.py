"""Peak memory of the roto flow on a plate and on the same plate looped to 4x its length.

Each run is a fresh process (``--child``) that reports its own peak RSS; the ratio of the two peaks
shows whether any stage holds the whole shot in memory (streaming stages give a ratio near 1).

    .venv/bin/python benchmarks/memory.py [--sequence car-shadow] [--loops 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DAVIS = SHARED / "data" / "davis2016"


def looped_plate(seq: str, loops: int, dest: Path) -> Path:
    """A sequence folder whose frames are the DAVIS sequence repeated ``loops`` times (symlinks)."""
    frames = sorted((DAVIS / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    dest.mkdir(parents=True)
    n = 0
    for _ in range(loops):
        for f in frames:
            (dest / f"{n:05d}.jpg").symlink_to(f)
            n += 1
    return dest


def child(plate: str, out: str, text: str) -> None:
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from flows.roto_shot import roto_shot
    from rotoflow.pipeline import RotoJob

    t0 = time.perf_counter()
    job = RotoJob(
        plate=plate,
        prompts={"objects": [{"id": 1, "name": "object", "text": text}]},
        output_root=out,
        shot=Path(plate).name,
    )
    roto_shot(job)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(
        json.dumps({"peak_mib": peak_kib / 1024, "seconds": time.perf_counter() - t0}) + "\n"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequence", default="car-shadow")
    ap.add_argument("--text", default="car")
    ap.add_argument("--loops", type=int, default=4)
    ap.add_argument("--child", nargs=3, metavar=("PLATE", "OUT", "TEXT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="rotoflow-memory-"))
    env = {
        **os.environ,
        "ROTOFLOW_YOLOX_MODEL": str(SHARED / "models/yolox-nano/yolox_nano.onnx"),
        "ROTOFLOW_HOME": str(work / "home"),
    }
    plates = {
        "1x": str(DAVIS / "JPEGImages" / "480p" / args.sequence),
        f"{args.loops}x": str(
            looped_plate(args.sequence, args.loops, work / f"{args.sequence}_x{args.loops}")
        ),
    }
    results = {}
    for label, plate in plates.items():
        proc = subprocess.run(
            [sys.executable, __file__, "--child", plate, str(work / "out"), args.text],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            return 1
        results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
        n = len(list(Path(plate).iterdir()))
        print(
            f"{label:>4} plate: {n:4d} frames  peak RSS {results[label]['peak_mib']:8.1f} MiB"
            f"  {results[label]['seconds']:7.1f} s"
        )
    ratio = results[f"{args.loops}x"]["peak_mib"] / results["1x"]["peak_mib"]
    print(f"peak RSS ratio {args.loops}x / 1x: {ratio:.3f} (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
