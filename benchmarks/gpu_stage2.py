"""Stage-2 training and prediction speed on a CUDA GPU: the default model's architecture, and a 7B one.

Tag-LLM's stage 2 (a function tag and its head on frozen domain tags, the frozen prefixes computed once) is timed
on ``--n`` SMILES for ``--epochs`` epochs, in float32 and in bfloat16, then prediction. The frozen model is built
from its config with random weights: the speed of a forward and backward pass does not depend on the weights'
values, and a GPU machine may have no copy of the weights (nor a way to download them). ``--arch`` is a folder with
the default model's ``config.json`` and tokenizer; the 7B model is that config resized to Llama-2-7B's shape
(hidden 4096, 32 layers, 32 heads, MLP 11008), with the same tokenizer.

    python benchmarks/gpu_stage2.py --arch DIR --smiles FILE --out benchmarks/results/gpu-stage2/gpu-stage2.json

Each figure is one timed run after a warm-up fit on a few molecules; the ratio bf16/fp32 is measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

P = 10
SEVEN_B = dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
               intermediate_size=11008, head_dim=128)


DEVICE = torch.device("cuda")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def build(arch: Path, dtype: torch.dtype, resize: dict | None):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from biotag import Template
    from biotag.heads import RegressionHead
    from biotag.model import TaggedLM
    from biotag.tags import TagLibrary, TagSpec
    from biotag.backbone.load import freeze

    config = AutoConfig.from_pretrained(arch)
    for key, value in (resize or {}).items():
        setattr(config, key, value)
    torch.manual_seed(0)
    with DEVICE:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.biotag_model_id = f"random weights, {arch.name} config" + (" resized to 7B" if resize else "")
    model = freeze(model)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=P), model)
    library.ensure_tag(TagSpec("<Task>", "function", p=P), model)
    library.add_head("<Task>", RegressionHead(library.hidden_size))
    library.to(DEVICE)
    tokenizer = AutoTokenizer.from_pretrained(arch)
    n_params = sum(p.numel() for p in model.parameters())
    return TaggedLM(model, tokenizer, library), Template("smiles", function_tag="<Task>"), n_params


def measure(arch: Path, smiles: list[str], dtype: torch.dtype, resize: dict | None, args) -> dict:
    from biotag.model.batching import split_function_tag
    from biotag.model.prefix import compute_prefixes
    from biotag.training import Example, stage2, train_stage

    tlm, template, n_params = build(arch, dtype, resize)
    y = [float(len(s) % 7) for s in smiles]  # a target to fit; its values do not change the work done
    data = [Example(template.build(s), v) for s, v in zip(smiles, y)]

    def fit(rows, epochs):
        spec = stage2("<Task>", "<SMILES>", epochs=epochs, batch_size=args.batch_size)
        sync()
        start = time.perf_counter()
        train_stage(tlm, spec, rows, progress=False)
        sync()
        return time.perf_counter() - start

    fit(data[:32], 1)  # warm-up: kernels, allocator
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = fit(data, args.epochs)
    sync()
    start = time.perf_counter()
    compute_prefixes(tlm, [split_function_tag(e.input)[0] for e in data], batch_size=max(args.batch_size, 16))
    sync()
    prefix_s = time.perf_counter() - start
    items = [e.input for e in data]
    tlm.predict(items[:32], "<Task>", batch_size=args.batch_size)
    sync()
    start = time.perf_counter()
    tlm.predict(items, "<Task>", batch_size=args.batch_size)
    sync()
    predict_s = time.perf_counter() - start
    out = {
        "model": tlm.model.biotag_model_id, "params": n_params, "dtype": str(dtype).removeprefix("torch."),
        "n": len(data), "epochs": args.epochs, "batch_size": args.batch_size, "p": P,
        "fit_s": round(seconds, 2), "train_samples_per_s": round(len(data) * args.epochs / seconds, 1),
        "prefix_s": round(prefix_s, 2),
        "step_samples_per_s": round(len(data) * args.epochs / max(seconds - prefix_s, 1e-9), 1),
        "predict_samples_per_s": round(len(data) / predict_s, 1),
    }
    if DEVICE.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        del tlm
        torch.cuda.empty_cache()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", type=Path, required=True, help="folder with the default model's config + tokenizer")
    parser.add_argument("--smiles", type=Path, required=True, help="a file of SMILES, one per line")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--no-7b", action="store_true")
    parser.add_argument("--device", default="cuda", help="cuda (what this measures); cpu only to try the script")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_stage2.py needs a CUDA GPU")
    smiles = [s for s in args.smiles.read_text().split() if s][: args.n]
    runs = []
    plan = [(torch.float32, None), (torch.bfloat16, None)] + ([] if args.no_7b else [(torch.bfloat16, SEVEN_B)])
    for dtype, resize in plan:
        runs.append(measure(args.arch, smiles, dtype, resize, args))
        print(json.dumps(runs[-1]), flush=True)
    import transformers

    result = {
        "gpu": torch.cuda.get_device_name() if DEVICE.type == "cuda" else "none (cpu)", "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "runs": runs,
        "bf16_over_fp32_train": round(runs[1]["train_samples_per_s"] / runs[0]["train_samples_per_s"], 2),
        "bf16_over_fp32_predict": round(runs[1]["predict_samples_per_s"] / runs[0]["predict_samples_per_s"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bf16_over_fp32_train={result['bf16_over_fp32_train']} "
          f"bf16_over_fp32_predict={result['bf16_over_fp32_predict']}")


if __name__ == "__main__":
    main()
