"""Memory of the speech pools when several processes or data sets hold them: memory-mapped
(how the data loads) against a private copy in each (how it loaded before), measured in one run.

    python benchmarks/pool_memory.py [--processes 2] [--datasets espeak_2mix espeak_2mix_noisy ...]

Each of ``--processes`` worker processes (as ``separena bench --jobs N`` starts them) builds
every data set of ``--datasets`` from the cache, then reads its training pools from end to end
(what a long training run does by drawing crops). With ``--private`` each data set's pools are
copied into the process's own memory first. The script reports, for both ways, the seconds to
load (mapped; the copies are made after), and the memory the workers hold together: the sum of their proportional set sizes (PSS:
a page shared by ``k`` processes counts ``1/k`` in each) and of their private pages. The data
must be built already (run the data set once, e.g. ``separena bench --suite smoke``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time


def _smaps() -> dict[str, int]:
    """MiB of this process: resident, proportional, private (clean + dirty)."""
    out = {"rss": 0, "pss": 0, "private": 0}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            kib = int(rest.split()[0]) if rest.strip() else 0
            if key == "Rss":
                out["rss"] += kib
            elif key == "Pss":
                out["pss"] += kib
            elif key in ("Private_Clean", "Private_Dirty"):
                out["private"] += kib
    return {k: v // 1024 for k, v in out.items()}


def _speech_stream(data):
    stream = data.train
    while hasattr(stream, "base"):  # noisy / reverberant streams wrap the speech stream
        stream = stream.base
    return stream


def _worker(datasets: list[str], private: bool, ready, go, results) -> None:
    import numpy as np
    import torch

    from separena.data import speech

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    total, held = 0.0, []
    for name in datasets:
        held.append(getattr(speech, name)())  # all held at once, as condition_robustness.py holds them
        stream = _speech_stream(held[-1])
        for pool in (stream.pool, stream.real, getattr(stream, "tts", None)):
            if pool is None:
                continue
            if private:  # the map is let go: nothing of the file stays mapped
                pool.audio = np.array(pool.audio)
            total += float(np.abs(pool.audio[::1024]).sum())  # every page read, as training draws crops
        if private:
            stream.audio = torch.from_numpy(stream.pool.audio)
    seconds = time.perf_counter() - t0
    ready.put(1)
    go.wait()  # every worker holds its data while each one measures
    results.put({"seconds": seconds, **_smaps(), "check": total})
    go.wait()


def measure(datasets: list[str], processes: int, private: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Barrier(processes + 1)
    workers = [ctx.Process(target=_worker, args=(datasets, private, ready, go, results)) for _ in range(processes)]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get()
    go.wait()
    rows = [results.get() for _ in workers]
    go.wait()
    for w in workers:
        w.join()
    return {"private": private, "processes": processes, "datasets": datasets,
            "load_seconds_max": round(max(r["seconds"] for r in rows), 1),
            "pss_mib_total": sum(r["pss"] for r in rows), "private_mib_total": sum(r["private"] for r in rows),
            "rss_mib_each": [r["rss"] for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--datasets", nargs="+", default=["espeak_2mix", "espeak_2mix_noisy", "espeak_2mix_reverb"])
    args = ap.parse_args()
    mapped = measure(args.datasets, args.processes, private=False)
    copied = measure(args.datasets, args.processes, private=True)
    for row in (mapped, copied):
        print(json.dumps(row))
    print(f"memory of {args.processes} workers with {len(args.datasets)} data sets each: mapped / private "
          f"PSS {mapped['pss_mib_total'] / copied['pss_mib_total']:.2f}, "
          f"private pages {mapped['private_mib_total'] / copied['private_mib_total']:.2f}; "
          f"load of every data set, mapped: {mapped['load_seconds_max']} s")


if __name__ == "__main__":
    main()
