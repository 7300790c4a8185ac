"""A real tritonserver (Triton 2.51, from the nvidia-pytriton wheel in .venv-triton) on 127.0.0.1.

`make .venv-triton/.installed` (a dependency of `make test`) builds the venv and puts the
python backend stub for its Python where Triton looks for it (backends/python/), as pytriton
itself does at start. tritonserver needs LD_LIBRARY_PATH with the wheel's bundled libraries
(nvidia_pytriton.libs) and the directory of libpython3.X.so; the python backend stub embeds that
libpython and finds its site-packages through the first `python` on PATH, so .venv-triton/bin
goes first there, and the models' `import onnxruntime` resolves inside the venv.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
VENV = REPOSITORY_ROOT / ".venv-triton"


def _venv_python_version() -> str:
    (lib,) = (VENV / "lib").glob("python3.*")
    return lib.name.removeprefix("python")


def require_triton() -> Path:
    """The tritonserver distribution directory; a skip only when the venv could not be built."""
    unavailable = VENV / ".unavailable"
    if unavailable.is_file():
        # CI builds it on a machine that can: there a failed build is a failure, never a skip.
        report = pytest.fail if os.environ.get("CI") else pytest.skip
        report(f"Triton venv could not be built: {unavailable.read_text().strip()}")
    if not (VENV / ".installed").is_file():
        pytest.fail("no .venv-triton: build it with `make .venv-triton/.installed` (make test does)")
    version = _venv_python_version()
    dist = VENV / "lib" / f"python{version}" / "site-packages" / "pytriton" / "tritonserver"
    assert (dist / "bin" / "tritonserver").is_file(), dist
    return dist


def triton_environment(dist: Path) -> dict[str, str]:
    site_packages = dist.parents[1]
    libdir = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    library_path = [str(site_packages / "nvidia_pytriton.libs"), libdir]
    if os.environ.get("LD_LIBRARY_PATH"):
        library_path.append(os.environ["LD_LIBRARY_PATH"])
    return {
        **os.environ,
        "LD_LIBRARY_PATH": ":".join(library_path),
        "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": "",
    }


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextlib.contextmanager
def tritonserver(repository: Path, port: int, wait_for_ready: bool = False, timeout_s: float = 120):
    """Yield (base URL, log path) of a tritonserver on 127.0.0.1 that keeps running past failed models."""
    dist = require_triton()
    log_path = repository.parent / f"{repository.name}.tritonserver.log"
    command = [
        str(dist / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={dist / 'backends'}",
        "--http-address=127.0.0.1",
        f"--http-port={port}",
        "--allow-grpc=false",
        "--allow-metrics=false",
        "--exit-on-error=false",
        "--strict-readiness=false",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=triton_environment(dist)
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tritonserver exited with {process.returncode}: {log_path.read_text()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                path = "/v2/health/ready" if wait_for_ready else "/v2/health/live"
                if _get(url + path)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"tritonserver did not come up: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, log_path
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def repository_index(url: str) -> dict[str, dict]:
    status, body = _get(url + "/v2/repository/index", method="POST")
    assert status == 200, body
    return {entry["name"]: entry for entry in json.loads(body)}
