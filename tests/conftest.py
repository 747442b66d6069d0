"""Shared fixtures: a tiny llama-style LM built from a config (no downloads, milliseconds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ARCHITECTURES = ("llama", "mistral", "qwen2", "gpt2")
ALPHABET = list(" ()[]=#@+-/\\%.0123456789BCFHIKLNOPSabcdefghiklmnopqrstuvwxyzADEGMQRTVWY")


def make_tokenizer():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    for ch in ALPHABET:
        vocab.setdefault(ch, len(vocab))
    # Two merges, so the model's tokenizer and char-level tokenization differ.
    merges = [("c", "c"), ("C", "C")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def make_tiny_lm(arch: str = "llama", seed: int = 0):
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tokenizer = make_tokenizer()
    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            pad_token_id=0, eos_token_id=1, bos_token_id=1,
        )
        model = LlamaForCausalLM(config)
    elif arch in ("mistral", "qwen2"):
        Config, Model = (MistralConfig, MistralForCausalLM) if arch == "mistral" else (Qwen2Config, Qwen2ForCausalLM)
        config = Config(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            pad_token_id=0, eos_token_id=1, bos_token_id=1,
        )
        model = Model(config)
    elif arch == "gpt2":
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=512,
                            pad_token_id=0, eos_token_id=1, bos_token_id=1)
        model = GPT2LMHeadModel(config)
    else:
        raise ValueError(arch)
    model.biotag_model_id = f"tiny-{arch}-seed{seed}"
    return model.eval(), tokenizer


@pytest.fixture
def tiny_lm():
    return make_tiny_lm()


@pytest.fixture
def computed_prefixes(monkeypatch) -> list:
    """Every prefix the model actually runs over, cached or not."""
    import biotag.tags.prefix as prefix_module

    seen: list = []
    real = prefix_module.compute_prefixes

    def spy(tlm, prefixes, **kw):
        seen.extend(prefixes)
        return real(tlm, prefixes, **kw)

    monkeypatch.setattr(prefix_module, "compute_prefixes", spy)
    return seen


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("BIOTAG_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"data directory {path} not found; set BIOTAG_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """The tiny LM saved as a Hugging Face model directory, loadable by path like any model."""
    path = tmp_path_factory.mktemp("tiny-llama")
    model, tok = make_tiny_lm()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


_MEASURED: list[tuple[str, list]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.user_properties:
        _MEASURED.append((report.nodeid, report.user_properties))


def pytest_terminal_summary(terminalreporter):
    """Print the figures that slow tests record (record_property), so CI logs carry them."""
    if _MEASURED:
        terminalreporter.section("measured figures")
        for nodeid, props in _MEASURED:
            terminalreporter.write_line(f"{nodeid}: " + ", ".join(f"{k}={v}" for k, v in props))
