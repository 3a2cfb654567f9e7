"""Pack what a bare GPU machine lacks to build a suite's data, into one folder.

    python benchmarks/gpu_kit.py [--suite speech-gpu] [--out .gpu-kit] [--bitrate 12] [--python 3.12]
    python benchmarks/gpu_kit.py --suite music-gpu --out .gpu-kit-music [--codec flac10bit]

A lent GPU machine has Python, PyTorch, numpy, scipy, PyYAML, pluggy, rich and click, but no
Debian packages, no network and a limit of 64 MiB on everything that travels with the working
tree. `benchmarks/gpu_run.sh` trains a suite there from this folder. For ``espeak-2mix``
(``speech-gpu``):

- ``espeak-ng.tar.xz``: eSpeak NG (program, data and every shared library it loads except the
  C library's own), with ``bin/espeak-ng`` a wrapper that points the program at them, so the
  Python process never loads these libraries;
- ``word-lists.json.xz``: the word lists of :func:`separena.data.espeak.export_word_lists`
  (read through ``$SEPARENA_WORD_LISTS`` instead of wordfreq, whose wheel is 57 MB);
- ``carried/``: the real speech and transfer pools as Ogg Opus, 12 kb/s by default
  (:func:`separena.data.carry.carry_pools`, read through ``$SEPARENA_CARRIED`` instead of the
  Debian packages).

For ``midi-4stem`` (``music-gpu``), which needs FluidSynth and soundfonts to render:

- ``carried/``: the rendered pieces of the suite's data set (train, valid and test; the transfer
  set is scored here) as FLAC of the samples rounded to 10 bits by default
  (:func:`separena.data.music.carry_midi_4stem`).

And for every suite ``wheels/``: the wheels separena needs beyond that machine's packages, for
``--python``.

Prints each part's size and the total with the working tree that travels, against the limit.
The folder should be ignored by git (``.git/info/exclude``) and named in what travels.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20
# what separena imports that the GPU machine's image lacks (its package list: docs/benchmarks/gpu_preparation.md)
WHEELS = ("soundfile", "cffi", "pycparser")
# shared libraries every Linux machine has, which must come from the machine itself
SYSTEM_LIBS = re.compile(r"^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv)\b")


def espeak_archive(path: Path) -> None:
    """eSpeak NG, its data and its libraries as ``bin/ lib/ share/espeak-ng-data`` in a tar.xz."""
    program = shutil.which("espeak-ng")
    if program is None:
        sys.exit("espeak-ng not found on PATH; install the Debian package espeak-ng")
    version = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout
    data = Path(re.search(r"Data at: (\S+)", version).group(1))
    libs = []
    for line in subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m and not SYSTEM_LIBS.match(m.group(1)):
            libs.append((m.group(1), Path(m.group(2)).resolve()))
    wrapper = ('#!/bin/sh\n# eSpeak NG with the libraries and data beside it\n'
               'root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)\n'
               'LD_LIBRARY_PATH="$root/lib" ESPEAK_DATA_PATH="$root/share" exec "$root/bin/espeak-ng.bin" "$@"\n')
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "espeak-ng"
        script.write_text(wrapper)
        script.chmod(0o755)
        with tarfile.open(path, "w:xz", preset=9) as tar:
            tar.add(script, "bin/espeak-ng")
            tar.add(program, "bin/espeak-ng.bin")
            for name, real in libs:
                tar.add(real, f"lib/{name}")
            tar.add(data, "share/espeak-ng-data")


def wheels(folder: Path, python: str) -> None:
    """Download the installed versions of :data:`WHEELS` as manylinux x86-64 wheels for ``python``."""
    from importlib.metadata import version

    folder.mkdir(parents=True, exist_ok=True)
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                                              "manylinux2014_x86_64", "manylinux1_x86_64")]
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", python, "--implementation", "cp", *platforms, "-d", str(folder), *pins],
                   check=True)


def tree_bytes() -> int:
    """Bytes of the working tree that travels besides the kit: tracked files and untracked ones
    git does not ignore (after ``benchmarks/gpu_tree.sh slim``, without the published weights)."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout
    return sum((ROOT / n).stat().st_size for n in names.decode().split("\0") if n and (ROOT / n).is_file())


def size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="speech-gpu", help="the suite whose data the kit builds")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu-kit")
    parser.add_argument("--bitrate", type=int, default=12, help="Opus kb/s of the carried real speech pools")
    parser.add_argument("--codec", default="flac10bit", help="codec of the carried music pieces")
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python (wheels are built for it)")
    args = parser.parse_args()

    from separena import default_registry

    suite = default_registry().suite(args.suite)
    if suite.dataset not in ("espeak-2mix", "midi-4stem"):
        sys.exit(f"gpu_kit: suite {args.suite} uses {suite.dataset}; expected a suite on espeak-2mix or midi-4stem")
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if suite.dataset == "espeak-2mix":
        from separena.data.carry import carry_pools
        from separena.data.espeak import export_word_lists

        codec = f"opus{args.bitrate}k"
        espeak_archive(out / "espeak-ng.tar.xz")
        export_word_lists(out / "word-lists.json.xz")
        carry_pools(out / "carried", sample_rate=suite.sample_rate, bitrate_kbps=args.bitrate)
    else:
        from separena.data.music import carry_midi_4stem

        codec = args.codec
        carry_midi_4stem(out / "carried", codec=codec, sample_rate=suite.sample_rate, **suite.dataset_params)
    wheels(out / "wheels", args.python)
    parts = {p.name: size(p) for p in sorted(out.iterdir())}
    tree = tree_bytes()
    (out / "kit.json").write_text(json.dumps({"suite": args.suite, "bytes": parts, "codec": codec,
                                              "python": args.python, "sample_rate": suite.sample_rate}, indent=1))
    for name, n in parts.items():
        print(f"{name:24s} {n / 2**20:6.1f} MiB")
    total = tree + sum(parts.values())
    print(f"{'working tree':24s} {tree / 2**20:6.1f} MiB\n{'total':24s} {total / 2**20:6.1f} MiB "
          f"(limit {LIMIT / 2**20:.0f} MiB{'' if total <= LIMIT else ': OVER'})")
    weights = size(ROOT / "published" / "weights")
    if total > LIMIT and total - weights <= LIMIT:
        print(f"the published weights ({weights / 2**20:.1f} MiB) are not needed there: "
              "`bash benchmarks/gpu_tree.sh slim` leaves them behind for the GPU calls, `restore` after")
    sys.exit(0 if total <= LIMIT else 1)


if __name__ == "__main__":
    main()
