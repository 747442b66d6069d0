"""`biotag train`: the three stages from one file, resumed after the last finished stage, alone or data-parallel."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from biotag.cli import main
from biotag.protocol import load_protocol, run_protocol
from test_distributed import TIMEOUT, _env, _free_port, _torchrun

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _write_data(folder: Path) -> None:
    rng = random.Random(0)
    smiles = ["".join(rng.choice(["C", "N", "O", "CC", "c1ccccc1"]) for _ in range(rng.randint(2, 6))) for _ in range(41)]
    proteins = ["".join(rng.choice(AMINO) for _ in range(rng.randint(8, 20))) for _ in range(17)]
    (folder / "molecules.csv").write_text("smiles\n" + "\n".join(smiles) + "\n")
    (folder / "proteins.csv").write_text("sequence\n" + "\n".join(proteins) + "\n")
    (folder / "count.csv").write_text("smiles,count\n" + "\n".join(f"{s},{s.count('C')}" for s in smiles) + "\n")
    pairs = [(rng.choice(proteins), rng.choice(smiles)) for _ in range(33)]
    (folder / "binding.csv").write_text("target,drug,y\n" + "\n".join(
        f"{p},{s},{p.count('A') + s.count('C')}" for p, s in pairs) + "\n")


def _config(folder: Path, model: str, **stage3) -> Path:
    small = dict(p=2, batch_size=8, lr=0.02)
    config = {
        "model": model, "dtype": "float32", "output": "run",
        "stages": [
            dict(name="smiles", stage=1, domain="smiles", data={"train": "molecules.csv", "columns": {"smiles": "smiles"}},
                 epochs=1, val_fraction=0.2, **small),
            dict(name="protein", stage=1, domain="protein",
                 data={"train": "proteins.csv", "columns": {"protein": "sequence"}}, epochs=1, **small),
            dict(name="count", stage=2, tag="<Count>", task="regression",
                 data={"train": "count.csv", "columns": {"smiles": "smiles"}, "target": "count"}, epochs=2, **small),
            dict(name="binding", stage=3, tag="<Binding>", task="regression",
                 data={"train": "binding.csv", "columns": {"protein": "target", "smiles": "drug"}, "target": "y"},
                 **{**small, "epochs": 2, **stage3}),
        ],
    }
    path = folder / "protocol.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def protocol_dir(tmp_path, tiny_model_dir):
    _write_data(tmp_path)
    _config(tmp_path, tiny_model_dir)
    return tmp_path


def test_the_three_stages_build_one_library_and_a_rerun_resumes(protocol_dir, tiny_model_dir, capsys):
    protocol = load_protocol(protocol_dir / "protocol.json")
    out = run_protocol(protocol, progress=False, log=print)
    assert out == protocol_dir / "run" / "binding"
    final = json.loads((out / "library.json").read_text())
    assert {t["name"] for t in final["tags"]} == {"<SMILES>", "<Protein>", "<Count>", "<Binding>"}
    assert set(final["heads"]) == {"<Count>", "<Binding>"}
    # each stage started from the one before: stage 2 kept stage 1's <SMILES>, and stage 3 froze it
    tags = {name: load_file(str(protocol_dir / "run" / name / "tags.safetensors")) for name in
            ("smiles", "count", "binding")}
    np.testing.assert_array_equal(tags["count"]["tags.<SMILES>"], tags["smiles"]["tags.<SMILES>"])
    np.testing.assert_array_equal(tags["binding"]["tags.<SMILES>"], tags["smiles"]["tags.<SMILES>"])
    np.testing.assert_array_equal(tags["binding"]["tags.<Count>"], tags["count"]["tags.<Count>"])
    record = json.loads((out / "stage.json").read_text())
    assert record["stage_spec"]["train_tags"] == ["<Binding>"]
    assert record["stage_spec"]["frozen_tags"] == ["<Protein>", "<SMILES>"]
    capsys.readouterr()

    before = {p: p.stat().st_mtime_ns for p in (protocol_dir / "run").rglob("tags.safetensors")}
    run_protocol(load_protocol(protocol_dir / "protocol.json"), progress=False, log=print)
    assert "finished before" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing retrained

    # a changed last stage reruns that stage alone
    _config(protocol_dir, tiny_model_dir, epochs=3)
    run_protocol(load_protocol(protocol_dir / "protocol.json"), progress=False, log=print)
    printed = capsys.readouterr().out
    assert printed.count("finished before") == 3 and "stage 'binding' (stage 3" in printed
    assert len(json.loads((out / "stage.json").read_text())["history"]["epochs"]) == 3


def test_two_processes_write_the_library_one_process_writes(protocol_dir, tmp_path):
    alone = subprocess.run([sys.executable, "-m", "biotag.cli", "train", str(protocol_dir / "protocol.json"),
                            "--output", str(tmp_path / "alone"), "--quiet"],
                           env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert alone.returncode == 0, alone.stderr[-3000:]
    two = subprocess.run(_torchrun("--nproc-per-node", "2", "--master-port", str(_free_port()), "-m", "biotag.cli",
                                   "train", str(protocol_dir / "protocol.json"), "--output", str(tmp_path / "two"),
                                   "--quiet"),
                         env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "on 2 processes" in two.stdout and two.stdout.count("tag library:") == 1  # the main process reports
    for stage in ("smiles", "protein", "count", "binding"):
        one, other = (load_file(str(tmp_path / run / stage / "tags.safetensors")) for run in ("alone", "two"))
        assert one.keys() == other.keys()
        for name in one:
            if one[name].dtype != bool:
                np.testing.assert_allclose(other[name], one[name], rtol=1e-5, atol=1e-5, err_msg=f"{stage}: {name}")


def test_the_example_file_reads(capsys):
    protocol = load_protocol(Path(__file__).resolve().parents[1] / "examples" / "protocol.yaml")
    assert [s.stage for s in protocol.stages] == [1, 1, 2, 3]
    assert protocol.stages[3].domains == ("protein", "smiles")


@pytest.mark.parametrize("change, message", [
    (lambda c: c["stages"][2].update(epoch=3), "unknown key(s) ['epoch']"),
    (lambda c: c["stages"][2].update(stage=4), "'stage' must be 1, 2 or 3"),
    (lambda c: c["stages"][2]["data"].pop("target"), "data.target"),
    (lambda c: c["stages"][3]["data"]["columns"].pop("protein"), "stage 3 is cross-domain"),
    (lambda c: c["stages"].pop(1), "reads ['<Protein>'], which no stage before it trains"),
    (lambda c: c.pop("output"), "'output'"),
    (lambda c: c.update(dtype="fp8"), "dtype must be one of"),
])
def test_a_wrong_file_is_one_clear_line_and_exit_2(protocol_dir, capsys, change, message):
    path = protocol_dir / "protocol.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("biotag: error:") and message in err and "Traceback" not in err


def test_bad_rows_in_a_data_file_are_named(protocol_dir, capsys):
    with (protocol_dir / "count.csv").open("a") as handle:
        handle.write("C1CC,3\nCCO,many\n")
    assert main(["train", str(protocol_dir / "protocol.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "C1CC" in err or "many" in err


def test_a_row_with_a_field_too_many_is_named_not_shifted(protocol_dir, capsys):
    with (protocol_dir / "count.csv").open("a") as handle:
        handle.write("CCO,3,extra\n")
    assert main(["train", str(protocol_dir / "protocol.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("biotag: error:") and "count.csv" in err and "line 43 (3 fields)" in err
    assert "Traceback" not in err and not (protocol_dir / "run").exists()  # checked before any stage trained
