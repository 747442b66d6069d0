import pytest
import torch

from biotag import checks, files, hardware, progress
from biotag.backbone import fingerprint
from tiny import make_tiny_lm


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    files.atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_tensor_files_round_trip_and_report_an_unreadable_file_as_missing(tmp_path):
    store = files.TensorFiles(tmp_path)
    store.write("CCO", {"h": torch.arange(3.0)}, {"input": "CCO"})
    tensors, meta = store.read("CCO")
    assert tensors["h"].tolist() == [0.0, 1.0, 2.0] and meta == {"input": "CCO"}
    store.file("CCO").write_bytes(b"\x00" * 10)
    assert store.read("CCO") is None and store.read("never written") is None


def test_the_model_digest_follows_every_weight_sampled_or_not():
    model, _ = make_tiny_lm()
    sampled, full = fingerprint.model_digest(model), fingerprint.model_digest(model, sample=None)
    assert sampled == fingerprint.model_digest(make_tiny_lm()[0])  # the same weights: the same digest
    with torch.no_grad():
        model.model.norm.weight[0] += 1.0
    assert fingerprint.model_digest(model) != sampled and fingerprint.model_digest(model, sample=None) != full


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.5"])
def test_a_share_outside_0_to_1_is_refused_by_name(value):
    with pytest.raises(ValueError, match="prefix_memory must be between 0 and 1"):
        checks.check_fraction(value, "prefix_memory")


@pytest.mark.parametrize("flags, expected", [
    (frozenset({"avx2", "avx512f"}), "float32"),  # AVX512 without BF16: bf16 is emulated, slower than float32
    (frozenset({"avx2"}), "float32"),
    (frozenset({"avx2", "avx512f", "avx512_bf16"}), "bfloat16"),
    (frozenset({"avx2", "amx_bf16", "amx_tile"}), "bfloat16"),
    (frozenset(), "float32"),  # no /proc/cpuinfo (macOS, Windows): the safe precision
])
def test_auto_precision_on_a_cpu_follows_its_native_bf16_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    assert hardware.resolve_placement(torch.device("cpu"), "auto").dtype == expected
    assert hardware.resolve_placement(torch.device("cpu"), "float16").dtype == "float16"  # an explicit precision is kept
    assert ("avx512_bf16" in hardware.cpu_description()) == ("avx512_bf16" in hardware.cpu_flags())


@pytest.mark.parametrize("native, expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_on_a_gpu_asks_whether_bf16_is_native_not_emulated(monkeypatch, native, expected):
    asked = {}

    def is_bf16_supported(including_emulation=True):
        asked["including_emulation"] = including_emulation
        return native or including_emulation  # torch says True for an emulating GPU unless told otherwise

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert hardware.resolve_placement(torch.device("cuda"), "auto").dtype == expected
    assert asked == {"including_emulation": False}
    with pytest.raises(ValueError, match="dtype must be one of"):
        hardware.resolve_placement(torch.device("cpu"), "float64").dtype


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch):
    monkeypatch.undo()  # the real flags, not the suite's CPU without native bf16 (conftest.py)
    flags = hardware.cpu_flags()
    assert isinstance(flags, frozenset)
    if hardware.Path("/proc/cpuinfo").is_file() and hardware.platform.machine() == "x86_64":
        assert "sse2" in flags


def test_progress_bars_show_only_inside_showing_progress():
    assert progress.progress_bar(3, "x").disable
    with progress.showing_progress(True):
        assert not progress.progress_bar(3, "x").disable
        with progress.showing_progress(False):
            assert progress.progress_bar(3, "x").disable
    assert progress.progress_bar(3, "x").disable
