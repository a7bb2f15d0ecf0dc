"""Build the aggregator's compiled reader (``services/viewstats/domain/_reader.pyx``) in place, as
``services/viewstats/domain/_reader.so`` (git-ignored): Cython to C, then the C compiler Python was built with.
Run by ``make python`` and by the image's build stage; without it the pure-Python reader runs (same decisions).

    .cache/pyenv/bin/python deploy/local/build_reader.py
"""

import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "services" / "viewstats" / "domain" / "_reader.pyx"


def main() -> None:
    target = SOURCE.with_suffix(".so")
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "_reader.c"
        cython = [sys.executable, "-m", "cython", "-3", "--module-name", "viewstats.domain._reader"]
        subprocess.run([*cython, "-o", str(c_file), str(SOURCE)], check=True)
        compiler = (sysconfig.get_config_var("CC") or "cc").split()
        flags = ["-O2", "-fPIC", "-shared", "-fno-strict-aliasing", "-fwrapv", "-DNDEBUG", "-Wno-unused-function"]
        include = sysconfig.get_paths()["include"]
        built = Path(tmp) / target.name
        subprocess.run([*compiler, *flags, f"-I{include}", "-o", str(built), str(c_file)], check=True)
        built.replace(target)  # whole or not at all: a running process never imports a half-written module
    print(f"[python] built {target.relative_to(SOURCE.parents[3])}")


if __name__ == "__main__":
    main()
