import subprocess
import sys

import pandas as pd
import pytest

from biotag.cli import main


def test_validate_csv_all_valid(tmp_path, capsys):
    src = tmp_path / "mols.csv"
    pd.DataFrame({"id": ["a", "b"], "smiles": ["OCC", "c1ccccc1O"]}).to_csv(src, index=False)
    assert main(["validate", str(src), "--domain", "smiles", "--column", "smiles"]) == 0
    out = pd.read_csv(tmp_path / "mols.canonical.csv")
    assert out["smiles_canonical"].tolist() == ["CCO", "Oc1ccccc1"]
    assert pd.read_csv(tmp_path / "mols.invalid.csv").empty
    assert "2 rows, 2 valid, 0 invalid" in capsys.readouterr().out


def test_validate_csv_reports_invalid_rows(tmp_path):
    src = tmp_path / "mols.tsv"
    src.write_text("smiles\tY\nOCC\t1\nC1CC\t2\n\t3\nCC(=O)[O-].[Na+]\t4\n")
    out, rep = tmp_path / "o.csv", tmp_path / "r.csv"
    code = main(["validate", str(src), "--domain", "smiles", "--column", "smiles", "--out", str(out), "--report", str(rep)])
    assert code == 1
    canon = pd.read_csv(out)
    assert len(canon) == 4  # nothing dropped
    assert canon["smiles_canonical"].tolist()[0] == "CCO" and canon["smiles_canonical"].tolist()[3] == "CC(=O)O"
    assert canon["smiles_canonical"].isna().tolist() == [False, True, True, False]
    report = pd.read_csv(rep)
    assert report["row"].tolist() == [1, 2]
    assert "syntax error" in report["reason"][0] and "missing" in report["reason"][1]


def test_validate_fasta(tmp_path):
    src = tmp_path / "p.fasta"
    src.write_text(">a\nmkt\nay\n>b\nMK1\n>c\nMKX\n")
    assert main(["validate", str(src), "--domain", "protein", "--nonstandard", "keep"]) == 1
    out = pd.read_csv(tmp_path / "p.canonical.csv")
    assert out["id"].tolist() == ["a", "b", "c"]
    assert out["sequence_canonical"].tolist()[0] == "MKTAY" and out["sequence_canonical"].tolist()[2] == "MKX"


def test_console_script_exit_status(tmp_path):
    src = tmp_path / "one.csv"
    src.write_text("smiles\nCCO\n")
    ok = subprocess.run([sys.executable, "-m", "biotag.cli", "validate", str(src), "--domain", "smiles"])
    assert ok.returncode == 0
    missing = subprocess.run(
        [sys.executable, "-m", "biotag.cli", "validate", str(tmp_path / "nope.csv"), "--domain", "smiles"],
        capture_output=True, text=True,
    )
    assert missing.returncode != 0 and "not found" in missing.stderr
    usage = subprocess.run([sys.executable, "-m", "biotag.cli", "validate", str(src)], capture_output=True)
    assert usage.returncode == 2


def test_tags_pretrain_and_inspect_on_a_tiny_model(tmp_path, capsys):
    from biotag.tags import TagLibrary
    from tiny import make_tiny_lm

    model, tok = make_tiny_lm()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "smiles.txt").write_text("\n".join(["CCO", "c1ccccc1O", "CCN", "CC(=O)O"] * 5) + "\n")
    code = main(["tags", "pretrain", "--domain", "smiles", "--input", str(tmp_path / "smiles.txt"),
                 "--out", str(tmp_path / "lib"), "--model", str(tmp_path / "m"), "--p", "4", "--epochs", "2"])
    assert code == 0
    lib = TagLibrary.load(tmp_path / "lib")
    assert list(lib.specs) == ["<SMILES>"] and lib.tags["<SMILES>"].shape == (4, 32)
    capsys.readouterr()
    assert main(["tags", "inspect", str(tmp_path / "lib"), "--model", str(tmp_path / "m"), "--neighbors", "3"]) == 0
    shown = capsys.readouterr().out
    assert "<SMILES>" in shown and "shape (4, 32)" in shown and "vector 3:" in shown
    assert str(tmp_path / "m") in shown  # the base model it was trained on


def test_tags_pretrain_names_invalid_rows(tmp_path, capsys):
    (tmp_path / "smiles.txt").write_text("CCO\nC1CC(\nCCN\n")
    assert main(["tags", "pretrain", "--domain", "smiles", "--input", str(tmp_path / "smiles.txt"),
                 "--out", str(tmp_path / "lib"), "--model", str(tmp_path / "unused")]) == 2
    assert "row 1: 'C1CC('" in capsys.readouterr().err


def test_the_corpus_size_is_a_positive_number_or_all():
    from biotag.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["benchmark", "run", "--corpus", "all"]).corpus == "all"
    assert parse(["benchmark", "run", "--corpus", "300"]).corpus == 300
    for bad in ["0", "-5", "many"]:
        with pytest.raises(SystemExit) as exit_info:
            parse(["benchmark", "run", "--corpus", bad])
        assert exit_info.value.code == 2


def test_devices_are_torch_devices_this_machine_has(monkeypatch):
    import torch

    from biotag.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["benchmark", "run", "--devices", "cpu,cpu"]).devices == ["cpu", "cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for bad in ["cuda:0", "gpu7", ","]:
        with pytest.raises(SystemExit) as exit_info:
            parse(["benchmark", "run", "--devices", bad])
        assert exit_info.value.code == 2


def test_user_mistakes_exit_2_with_one_line_and_no_traceback(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)))
    (tmp_path / "ragged.csv").write_text("name,smiles\naspirin, acetyl,CC(=O)Oc1ccccc1C(=O)O\nethanol,CCO\n")
    (tmp_path / "ok.csv").write_text("smiles\nCCO\n")
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "results.jsonl").write_text('{"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": 1, '
                                                         '"status": "failed", "error": "out of memory"}\n')
    cases = [
        (["validate", str(tmp_path / "empty.csv"), "--domain", "smiles"], "is empty"),
        (["validate", str(tmp_path / "binary.csv"), "--domain", "smiles"], "utf-8"),
        (["validate", str(tmp_path / "ragged.csv"), "--domain", "smiles", "--column", "smiles"],
         "header has 2 field.* line 2 \\(3 fields\\)"),
        (["validate", str(tmp_path / "missing.csv"), "--domain", "smiles"], "input file not found"),
        (["validate", str(tmp_path / "ok.csv"), "--domain", "smiles", "--out", str(tmp_path / "no" / "out.csv")],
         "non-existent directory"),
        (["benchmark", "run", "--tasks", "nonexistent", "--out", str(tmp_path / "r")], "unknown task 'nonexistent'"),
        (["benchmark", "report", str(tmp_path), "--out", str(tmp_path / "rep")], "no results"),
        (["benchmark", "report", str(tmp_path / "failed"), "--out", str(tmp_path / "rep")],
         "no cell finished: 1 failed, e.g. caco2_wang / tagllm / seed 1: out of memory"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("biotag: error: ") and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err and __import__("re").search(message, err, flags=2), (argv, err)
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "run", "--seeds", "x"])
    assert exit_info.value.code == 2 and "comma-separated list of seeds" in capsys.readouterr().err
