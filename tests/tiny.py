"""Tiny language models built from a config (no downloads, milliseconds), for every test.

Tests import these helpers from here; fixtures built on them live in ``conftest.py``.
"""

from __future__ import annotations

import random

import torch

from biotag import Template
from biotag.heads import ClassificationHead, RegressionHead
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.training import Example

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


SMILES = ["CCO", "c1ccccc1O", "CCCCCCCCCCCNC(=O)", "CN", "OC(=O)CCCC(=O)O"]


def make_tlm(arch="llama", seed=0, p=3, randomize=True, **kwargs):
    model, tok = make_tiny_lm(arch, seed)
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=p), model)
    lib.ensure_tag(TagSpec("<Protein>", "domain", p=p), model)
    lib.ensure_tag(TagSpec("<QED>", "function", p=2), model)
    lib.add_head("<QED>", RegressionHead(lib.hidden_size))
    if randomize:
        torch.manual_seed(1)
        with torch.no_grad():
            for t in lib.tags.values():
                t.add_(torch.randn_like(t))
    return TaggedLM(model, tok, lib, **kwargs)


# ---- a learnable toy task for the training tests: count the C atoms ----

SMI = Template("smiles", function_tag="<Count>")


def toy_smiles(n, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice("CNO") for _ in range(rng.randint(3, 12))) for _ in range(n)]


def stage_setup(head="regression", p=3, readout=None):
    model, tok = make_tiny_lm()
    lib = TagLibrary.for_model(model)
    for name, kind in [("<SMILES>", "domain"), ("<Protein>", "domain"), ("<Count>", "function")]:
        lib.ensure_tag(TagSpec(name, kind, p=p), model)
    lib.add_head("<Count>", RegressionHead(32, readout=readout) if head == "regression"
                 else ClassificationHead(32, 3, readout=readout))
    return TaggedLM(model, tok, lib)


def count_examples(n, seed=0):
    # target: number of 'C' in the string: learnable from the sequence
    return [Example(SMI.build(s), float(s.count("C"))) for s in toy_smiles(n, seed)]
