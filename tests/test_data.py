import pytest

from biotag.data import data_dir, read_tdc_table


def test_missing_data_path_says_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv("BIOTAG_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="set BIOTAG_DATA_DIR"):
        data_dir()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data_dir(tmp_path / "absent")


def test_read_tdc_table(data_dir):
    frame = read_tdc_table("Caco2_Wang", data_dir)
    assert list(frame.columns) == ["Drug_ID", "Drug", "Y"] and len(frame) == 910
    with pytest.raises(FileNotFoundError, match="TDC table 'Nope' not found"):
        read_tdc_table("Nope", data_dir)
