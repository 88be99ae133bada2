"""What watching key files costs a request: AK/SK signing with the pair inline against the pair in files.

With ``ak_file``/``sk_file`` every signed request first looks at both files (``os.stat``, following the
Kubernetes symlinks) so that a rotated pair is used from the next request on. Prints microseconds per signed
request, best of 5 runs of 20,000, each way. Usage: python bench/keyfiles.py
"""

from __future__ import annotations

import platform
import sys
import tempfile
import timeit
from pathlib import Path

import requests

from exporter.auth.secretfile import SecretSource
from exporter.auth.signing import AkSkSigner
from exporter.validation import Secret

AK, SK, PROJECT = "HPUAEXAMPLE0000000001", "bench-Secret-Key-3f1", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
URL = "https://codehub-ext.cn-north-4.myhuaweicloud.com/v4/repositories/2111976239/pipelines/6/jobs?page_size=100"
RUNS, REPEAT = 20_000, 5


def per_request(signer: AkSkSigner) -> float:
    """Best microseconds per signed request."""
    request = requests.Request("GET", URL).prepare()
    return min(timeit.repeat(lambda: signer(request), number=RUNS, repeat=REPEAT)) / RUNS * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory) / "..data"
        data.mkdir()
        for name, value in (("ak", AK), ("sk", SK)):
            (data / name).write_text(value + "\n")
            (Path(directory) / name).symlink_to(Path("..data") / name)  # as the kubelet lays out a Secret
        inline = AkSkSigner(AK, SecretSource("sk", Secret(SK)), PROJECT)
        files = AkSkSigner(SecretSource("ak", path=f"{directory}/ak"), SecretSource("sk", path=f"{directory}/sk"),
                           PROJECT)
        sys.stdout.write(f"python {platform.python_version()} on {platform.machine()}\n")
        for name, signer in (("inline ak/sk", inline), ("ak_file/sk_file", files)):
            sys.stdout.write(f"{name}: {per_request(signer):.1f} us per signed request\n")


if __name__ == "__main__":
    main()
