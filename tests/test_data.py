import pytest

from biotag.data import data_dir, read_tdc_table


def test_missing_data_path_says_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv("BIOTAG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing at ../shared/data from here
    with pytest.raises(FileNotFoundError, match="set BIOTAG_DATA_DIR .* biotag never downloads data"):
        data_dir()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data_dir(tmp_path / "absent")


def test_without_a_setting_the_data_is_read_beside_the_project_as_scripts_run_sh_sets_it(monkeypatch, tmp_path):
    monkeypatch.delenv("BIOTAG_DATA_DIR", raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert data_dir() == (tmp_path / "shared" / "data").resolve()
    monkeypatch.setenv("BIOTAG_DATA_DIR", str(tmp_path / "repo"))  # the setting wins
    assert data_dir() == tmp_path / "repo"


def test_a_benchmark_without_data_stops_before_any_cell_and_never_downloads(monkeypatch, tmp_path, capsys):
    from biotag import cli
    from biotag.benchmark import suite

    monkeypatch.delenv("BIOTAG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(suite, "run_benchmark", lambda *a, **kw: ran.append(a))
    assert cli.main(["benchmark", "run", "--quick", "--out", str(tmp_path / "out")]) == 2
    assert "no data directory given" in capsys.readouterr().err and ran == []
    from biotag.benchmark.tasks import tdc_dir

    with pytest.raises(FileNotFoundError):  # no fallback folder for PyTDC to download into
        tdc_dir()


def test_read_tdc_table(data_dir):
    frame = read_tdc_table("Caco2_Wang", data_dir)
    assert list(frame.columns) == ["Drug_ID", "Drug", "Y"] and len(frame) == 910
    with pytest.raises(FileNotFoundError, match="TDC table 'Nope' not found"):
        read_tdc_table("Nope", data_dir)
