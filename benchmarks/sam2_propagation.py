"""SAM 2 propagation: Rotoflow's streaming wrapper against the bare ``SAM2VideoPredictor``.

Both sides run the same ``sam2`` model (random weights in the real checkpoint format: speed does not
depend on weight values) on the same real frames in the same run, each (implementation, frame count)
in a fresh child process so that its peak RSS is its own.

- Plate: DAVIS-2016 480p sequences concatenated in :data:`ORDER` (symlinks ``00000.jpg``...; with
  ``--plate-size`` the frames are resized with OpenCV and written as JPEG). The N-frame plate is the
  first N frames of the longest one.
- Prompt: the box of car-shadow's frame-0 ground truth on the first frame; tracking runs forward
  over every frame.
- Ours: :func:`rotoflow.plate.open_plate` on the folder, ``Sam2Video.propagate(plate.read, ...)``.
- Bare: ``init_state(folder)`` (sam2's loader: every frame held as a float tensor),
  ``add_new_points_or_box``, ``propagate_in_video``, masks ``(logits[:, 0] > 0).cpu().numpy()``.
- Total time = session set-up (frame loading included) + prompt + propagation loop, with the masks
  consumed as ``(H, W) bool`` arrays at plate resolution; model loading is excluded and reported
  apart. Loop time = from the first mask handed over (the prompted frame) to the last, per frame
  after the first. The bare predictor decodes every frame during set-up and ours inside the loop,
  so only the totals compare like with like.
- Memory: peak RSS is the child's high-water mark (``ru_maxrss``, model loading included); loop
  RSS the most resident memory seen as masks are handed over. On CUDA, peak GPU memory too.
- Runs alternate (ours-100, bare-100, bare-400, ours-400, ...) so that neither side is favoured by
  a machine warming up or by other load; with ``--repeat`` the fastest run of each is shown (other
  load only slows a run down) and every run is in the JSON file. How busy the CPU was before each
  run is logged: on a shared machine the timings are only as good as that figure.

Targets (issue acceptance, CPU): ours <= 1.10x bare per frame; ours' peak RSS on 400 frames <= 1.2x
that on 100 frames. Figures are printed and written to a JSON file, not asserted.

    .venv/bin/python benchmarks/sam2_propagation.py [--frames 100 400] [--out results.json]
    .venv/bin/python benchmarks/sam2_propagation.py --device cuda --config large --image-size 1024 \\
        --plate-size 1920x1080
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAVIS = REPO.parent / "shared" / "data" / "davis2016"
FRAMES_DIR = DAVIS / "JPEGImages" / "480p"

#: Sequences concatenated into the plate, in this order (40 + 75 + 60 + 90 + 104 + ... frames).
ORDER = [
    "car-shadow",
    "car-roundabout",
    "dog",
    "camel",
    "cows",
    "breakdance",
    "blackswan",
    "bmx-trees",
    "dance-twirl",
    "drift-chicane",
]

#: ``--config`` -> the sam2 package's hydra config.
CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base-plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}

log = logging.getLogger("sam2_propagation")


# -- parent: plate and model --------------------------------------------------------------------
def source_frames(count: int) -> list[Path]:
    """The first ``count`` frames of the sequences of :data:`ORDER` played one after the other
    (from the top again if ``count`` exceeds them all)."""
    pool = [p for seq in ORDER for p in sorted((FRAMES_DIR / seq).glob("*.jpg"))]
    if not pool:
        raise SystemExit(f"no DAVIS frames under {FRAMES_DIR}")
    return [pool[i % len(pool)] for i in range(count)]


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"1920x1080"`` -> ``(1920, 1080)`` (width, height); None stays None."""
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"plate size {text!r} is not WIDTHxHEIGHT") from None
    return w, h


def make_plates(counts: list[int], size: tuple[int, int] | None, work: Path) -> dict[int, Path]:
    """One folder per frame count holding ``00000.jpg``...: symlinks to the DAVIS frames, or the
    frames resized to ``size`` (width, height) with ``cv2.INTER_AREA``/``INTER_CUBIC``."""
    sources = source_frames(max(counts))
    files = sources
    if size is not None:
        import cv2

        resized = work / f"resized-{size[0]}x{size[1]}"
        resized.mkdir()
        files = []
        log.info("resizing %d frames to %dx%d", len(sources), *size)
        for i, src in enumerate(sources):
            img = cv2.imread(str(src), cv2.IMREAD_COLOR)
            shrink = size[0] * size[1] < img.shape[0] * img.shape[1]
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            dst = resized / f"{i:05d}.jpg"
            cv2.imwrite(str(dst), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            files.append(dst)
    plates = {}
    for n in counts:
        folder = work / f"plate-{n}"
        folder.mkdir()
        for i, f in enumerate(files[:n]):
            (folder / f"{i:05d}.jpg").symlink_to(f.resolve())
        plates[n] = folder
    return plates


def prompt_box(size: tuple[int, int] | None) -> list[float]:
    """Box ``[x0, y0, x1, y1]`` (plate pixels) of the first plate frame's ground truth."""
    import cv2
    import numpy as np

    gt = cv2.imread(str(DAVIS / "Annotations" / "480p" / ORDER[0] / "00000.png"), 0)
    ys, xs = np.nonzero(gt > 127)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    if size is None:
        return box
    sx, sy = size[0] / gt.shape[1], size[1] / gt.shape[0]
    return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]


def build_model(config: str, image_size: int, dest: Path) -> tuple[Path, str, str]:
    """A random-weight SAM 2.1 checkpoint of ``config`` at ``image_size``, in the model-store layout
    that :func:`models.sam2_video.load_predictor` reads; returns (folder, weights, hydra config)."""
    from models.tiny import sam2 as tiny_sam2

    weights = f"sam2.1_hiera_{config}.pt"
    folder = tiny_sam2.build(
        dest,
        overrides=[f"++model.image_size={image_size}"],
        config=CONFIGS[config],
        weights=weights,
    )
    return folder, weights, CONFIGS[config]


# -- child: one measured run --------------------------------------------------------------------
def _peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    """Resident memory now (``/proc/self/statm``)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Ticker:
    """Called once per mask handed over: records the time and the resident memory then."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rss_max = 0.0

    def __call__(self) -> None:
        self.times.append(time.perf_counter())
        self.rss_max = max(self.rss_max, _rss_mib())


def _autocast(device: str, dtype: str):
    """The autocast context the bare predictor runs in (sam2's demo: bf16 on CUDA)."""
    import contextlib

    import torch

    if dtype == "bfloat16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _run_ours(predictor, plate_dir: str, box, device: str, dtype: str, tick: Ticker) -> int:
    """Our wrapper over our plate reader; calls ``tick`` on every mask handed over and returns
    the summed mask area in pixels."""
    import contextlib

    from models.sam2_video import Sam2Video, make_prompt
    from rotoflow.plate import open_plate

    cls = Sam2Video
    if device == "cuda" and dtype == "float32":

        class Sam2VideoFloat32(Sam2Video):  # the wrapper autocasts to bf16 on CUDA by itself
            def _autocast(self):
                return contextlib.nullcontext()

        cls = Sam2VideoFloat32
    # On CUDA with bf16 the wrapper autocasts itself; on CPU it does not, so --dtype applies here.
    outer = _autocast(device, dtype) if device == "cpu" else contextlib.nullcontext()
    area = 0
    with open_plate(plate_dir) as plate, outer:
        info = plate.info
        frames = list(info.frame_range)
        model = cls(predictor, name="sam2-bench", version="random")
        prompts = [make_prompt(1, frames[0], box=box)]
        for _frame, masks in model.propagate(
            plate.read, frames, prompts, (info.height, info.width)
        ):
            area += int(masks[1].sum())
            tick()
    return area


def _run_bare(predictor, plate_dir: str, box, device: str, dtype: str, tick: Ticker) -> int:
    """The bare predictor as its README drives it; same contract as :func:`_run_ours`."""
    import numpy as np
    import torch

    area = 0
    with torch.inference_mode(), _autocast(device, dtype):
        state = predictor.init_state(plate_dir)
        predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=np.asarray(box, "f4"))
        for _i, _ids, logits in predictor.propagate_in_video(state):
            masks = (logits[:, 0] > 0).cpu().numpy()
            area += int(masks[0].sum())
            tick()
    return area


def child(spec: dict) -> dict:
    """One (implementation, plate) run; returns its figures."""
    import torch

    torch.set_num_threads(spec["threads"])
    from models.sam2_video import load_predictor

    cuda = spec["device"] == "cuda"
    t0 = time.perf_counter()
    predictor = load_predictor(Path(spec["model"]), spec["weights"], spec["config"], spec["device"])
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    load_s = time.perf_counter() - t0
    load_rss = _peak_rss_mib()
    run = _run_ours if spec["impl"] == "ours" else _run_bare
    tick = Ticker()
    t0 = time.perf_counter()
    area = run(predictor, spec["plate"], spec["box"], spec["device"], spec["dtype"], tick)
    if cuda:
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    ticks = tick.times
    n = len(ticks)
    if n != spec["frames"]:
        raise SystemExit(f"{spec['impl']} handed over {n} masks for {spec['frames']} frames")
    bounds = [round(k * (n - 1) / 4) for k in range(5)]
    quarters = list(zip(bounds, bounds[1:], strict=False))
    return {
        "impl": spec["impl"],
        "frames": n,
        "load_s": load_s,
        "setup_s": ticks[0] - t0,
        "total_s": total,
        "s_per_frame": total / n,
        "loop_s_per_frame": (ticks[-1] - ticks[0]) / max(n - 1, 1),
        "fps": n / total,
        "loop_s_per_frame_by_quarter": [(ticks[b] - ticks[a]) / max(b - a, 1) for a, b in quarters],
        "load_peak_rss_mib": load_rss,
        "peak_rss_mib": _peak_rss_mib(),
        "loop_rss_mib": tick.rss_max,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "mask_coverage": area / (n * spec["plate_pixels"]),
    }


# -- parent: runs and report ----------------------------------------------------------------------
def run_child(spec: dict) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{spec['impl']} on {spec['frames']} frames failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over ``seconds`` (``/proc/stat``), measured between runs: other
    processes' load, which makes the timings noisy."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def schedule(counts: list[int], repeat: int) -> list[tuple[str, int]]:
    """(impl, frames) runs in an order that favours neither side: ours-100, bare-100, bare-400,
    ours-400, then the same again mirrored for the next repeat."""
    runs = []
    for rep in range(repeat):
        for k, n in enumerate(counts):
            pair = ("ours", "bare") if (k + rep) % 2 == 0 else ("bare", "ours")
            runs += [(impl, n) for impl in pair]
    return runs


def summarise(results: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (impl, frames): the figures of the fastest of its repeats (other load only ever slows a
    run down, as with ``timeit``), with the memory figures the highest over the repeats."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in results:
        groups.setdefault((r["impl"], r["frames"]), []).append(r)
    out = {}
    for key, rows in groups.items():
        best = dict(min(rows, key=lambda r: r["s_per_frame"]), runs=len(rows))
        for name in ("load_peak_rss_mib", "peak_rss_mib", "loop_rss_mib", "peak_gpu_mib"):
            if best[name] is not None:
                best[name] = max(r[name] for r in rows)
        out[key] = best
    return out


def report(summary: dict, counts: list[int], cuda: bool) -> dict:
    """Write the table and the ratios to stdout; returns the ratios.

    ``peak RSS`` is the process's high-water mark (model loading included); ``loop RSS`` the most
    resident memory seen when a mask was handed over (the working set of the propagation itself).
    """
    head = f"{'impl':<6}{'frames':>7}{'s/frame':>10}{'loop s/f':>10}{'fps':>8}{'setup s':>9}"
    head += f"{'load s':>8}{'peak RSS MiB':>14}{'loop RSS MiB':>14}"
    head += f"{'peak GPU MiB':>14}" if cuda else ""
    lines = [head, "-" * len(head)]
    for n in counts:
        for impl in ("ours", "bare"):
            r = summary[(impl, n)]
            line = (
                f"{impl:<6}{n:>7}{r['s_per_frame']:>10.4f}{r['loop_s_per_frame']:>10.4f}"
                f"{r['fps']:>8.2f}{r['setup_s']:>9.2f}{r['load_s']:>8.2f}"
                f"{r['peak_rss_mib']:>14.1f}{r['loop_rss_mib']:>14.1f}"
            )
            if cuda:
                line += f"{r['peak_gpu_mib']:>14.1f}"
            lines.append(line)
    ratios: dict = {"time_ours_over_bare": {}, "loop_time_ours_over_bare": {}, "coverage": {}}
    lines.append("")
    for n in counts:
        ours, bare = summary[("ours", n)], summary[("bare", n)]
        t = ours["s_per_frame"] / bare["s_per_frame"]
        loop = ours["loop_s_per_frame"] / bare["loop_s_per_frame"]
        ratios["time_ours_over_bare"][n] = t
        ratios["loop_time_ours_over_bare"][n] = loop
        ratios["coverage"][n] = {"ours": ours["mask_coverage"], "bare": bare["mask_coverage"]}
        lines.append(
            f"time per frame ours/bare, {n} frames: {t:.3f} (target <= 1.10); loop only {loop:.3f}"
            f"; mean mask coverage ours {ours['mask_coverage']:.4f}, bare {bare['mask_coverage']:.4f}"
        )
    lo, hi = min(counts), max(counts)
    if hi != lo:
        for impl in ("ours", "bare"):
            a, b = summary[(impl, hi)], summary[(impl, lo)]
            rss = a["peak_rss_mib"] / b["peak_rss_mib"]
            loop_rss = a["loop_rss_mib"] / b["loop_rss_mib"]
            ratios[f"rss_{hi}_over_{lo}_{impl}"] = rss
            ratios[f"loop_rss_{hi}_over_{lo}_{impl}"] = loop_rss
            target = " (target <= 1.2)" if impl == "ours" else ""
            lines.append(
                f"peak RSS {hi}/{lo} frames, {impl}: {rss:.3f}{target}; loop RSS {loop_rss:.3f}"
            )
            if cuda:
                gpu = a["peak_gpu_mib"] / b["peak_gpu_mib"]
                ratios[f"gpu_{hi}_over_{lo}_{impl}"] = gpu
                lines.append(f"peak GPU memory {hi}/{lo} frames, {impl}: {gpu:.3f}")
    sys.stdout.write("\n".join(lines) + "\n")
    return ratios


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16"],
        default="auto",
        help="auto: bfloat16 on CUDA (sam2's demo and our wrapper), float32 on CPU",
    )
    ap.add_argument("--config", choices=list(CONFIGS), default="tiny")
    ap.add_argument("--image-size", type=int, default=256, help="SAM 2 input size (real: 1024)")
    ap.add_argument("--plate-size", type=parse_size, default=None, help="WxH, e.g. 1920x1080")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads per run")
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs per (impl, frames); the fastest is shown"
    )
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: temp folder)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(child(json.loads(args.child))) + "\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    dtype = args.dtype
    if dtype == "auto":
        dtype = "bfloat16" if args.device == "cuda" else "float32"
    if args.device == "cuda" and dtype == "float32":
        log.warning("float32 on CUDA: our wrapper's own bf16 autocast is switched off for this run")
    counts = sorted(set(args.frames))
    work = Path(tempfile.mkdtemp(prefix="rotoflow-sam2-bench-"))
    plates = make_plates(counts, args.plate_size, work)
    box = prompt_box(args.plate_size)
    width, height = args.plate_size or (854, 480)
    t0 = time.perf_counter()
    model, weights, config = build_model(args.config, args.image_size, work / "model")
    log.info(
        "random-weight %s at %d px built in %.1f s",
        config,
        args.image_size,
        time.perf_counter() - t0,
    )
    results = []
    for impl, n in schedule(counts, args.repeat):
        spec = {
            "impl": impl,
            "frames": n,
            "plate": str(plates[n]),
            "plate_pixels": width * height,
            "box": box,
            "model": str(model),
            "weights": weights,
            "config": config,
            "device": args.device,
            "dtype": dtype,
            "threads": args.threads,
        }
        busy = cpu_busy()
        log.info("%s, %d frames ... (CPU %.0f%% busy before)", impl, n, 100 * busy)
        if busy > 0.1:
            log.warning("other processes are using the CPU: timings will be noisy")
        r = {**run_child(spec), "cpu_busy_before": busy}
        log.info(
            "%s, %d frames: %.4f s/frame (loop %.4f), peak RSS %.1f MiB",
            impl,
            n,
            r["s_per_frame"],
            r["loop_s_per_frame"],
            r["peak_rss_mib"],
        )
        results.append(r)
    summary = summarise(results)
    ratios = report(summary, counts, args.device == "cuda")
    out = args.out or work / "results.json"
    payload = {
        "settings": {
            "frames": counts,
            "device": args.device,
            "dtype": dtype,
            "config": config,
            "image_size": args.image_size,
            "plate_size": [width, height],
            "threads": args.threads,
            "repeat": args.repeat,
            "box": box,
            "sequences": ORDER,
        },
        "runs": results,
        "summary": list(summary.values()),
        "ratios": ratios,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, out)
    for path in work.iterdir():  # plates, resized frames and the model; the results stay
        if path.is_dir():
            shutil.rmtree(path)
        elif path != out:
            path.unlink()
    if not any(work.iterdir()):
        work.rmdir()
    log.info("results in %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
