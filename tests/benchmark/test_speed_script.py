"""benchmarks/speed.py's measures run in both environments (its code path on the tiny model)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import make_tiny_lm

SPEED = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"


def test_peft_measure_pads_without_a_pad_token(tmp_path, data_dir):
    """Under transformers 4.50 the default model's tokenizer has no pad token; the PEFT measure must pad the way
    the benchmark's PEFT baselines do instead of asking the tokenizer to (which refuses)."""
    pytest.importorskip("peft")
    model, tokenizer = make_tiny_lm()
    tokenizer.pad_token = None
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    env = {**os.environ, "BIOTAG_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, str(SPEED), "--measure", "peft_prompt_tuning_train", "--model",
                           str(tmp_path / "lm"), "--n", "12", "--epochs", "1", "--batch-size", "4"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["samples_per_s"] > 0 and result["trainable_params"] > 0


def test_tag_length_script_times_every_length_against_p10(tmp_path, data_dir):
    model, tokenizer = make_tiny_lm()
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    env = {**os.environ, "BIOTAG_DATA_DIR": str(data_dir)}
    script = SPEED.parent / "results" / "speed" / "tag_length_speed.py"  # beside the results it made
    done = subprocess.run([sys.executable, str(script), "--model", str(tmp_path / "lm"), "--n", "16", "--epochs", "1",
                           "--repeats", "1", "--out", str(tmp_path / "out.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "out.json").read_text())
    assert set(record["results"]) == {"p10", "p3", "p1", "domain1_p3", "domain1_p10"}
    assert record["results"]["p10"]["speedup_vs_p10"] == 1.0 and "speedup_3=" in done.stdout
    assert record["cpu"] and record["dtype"] in ("float32", "bfloat16")
