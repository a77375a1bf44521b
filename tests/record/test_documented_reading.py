"""The snippet the docs give for reading a shard with plain h5py works, and is needed."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def snippet(doc: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), re.S)
    return next(b for b in blocks if "hdf5plugin" in b and "h5py.File" in b)


def run_fresh(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.mark.parametrize("doc", ["README.md", "docs/design.md"])
def test_the_documented_snippet_reads_a_shard(small_dataset, doc):
    code = snippet(doc).replace("DATASET", str(small_dataset)) + "\nprint(frames.shape, frames.dtype)"
    result = run_fresh(code)
    assert result.returncode == 0, result.stderr[-1000:]
    assert result.stdout.split() == ["(16,", "16,", "16,", "3)", "uint8"]


def test_plain_h5py_without_the_plugin_cannot_decompress_the_frames(small_dataset):
    code = snippet("docs/design.md").replace("DATASET", str(small_dataset)).replace("import hdf5plugin, h5py", "import h5py")
    result = run_fresh(code)
    assert result.returncode != 0 and ("plugin" in result.stderr or "filter" in result.stderr)
