"""Extending ganlab: a new component is one .py and one YAML, found with no other file edited."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ganlab
from conftest import TINY

TOY = '''"""A toy penalty: weight * mean(D(real)^2)."""
from ganlab.registry import REGULARIZERS
from ganlab.regularizers.base import Regularizer


@REGULARIZERS.register("toy")
class Toy(Regularizer):
    name = "toy"

    def __init__(self, weight: float):
        super().__init__()
        self.weight = weight

    def d_terms(self, ctx):
        ctx.stats.report("reg/toy", ctx.out_real.logits.pow(2).mean())
        return {"toy": self.weight * ctx.out_real.logits.pow(2).mean()}
'''


def test_a_new_regularizer_is_one_py_and_one_yaml(tmp_path):
    package = tmp_path / "src" / "ganlab"
    shutil.copytree(Path(ganlab.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "regularizers" / "toy.py").write_text(TOY)
    (package / "conf" / "regularizer" / "toy.yaml").write_text("# @package regularizer.toy\nweight: 0.5\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ganlab.cli.train", *TINY, "model.g_width=8", "model.d_width=8",
           "regularizer=[toy]", f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    for m in lines:   # the penalty joined D's loss with its YAML's weight
        assert m["loss/d/toy"] == pytest.approx(0.5 * m["reg/toy"])
