"""Training and inference speed of biotag against PEFT prompt tuning and a plain HF forward.

Everything runs on this machine, in one invocation, on the same SMILES (Caco2_Wang
train_val), the same batch size and p = 10. Each measurement runs in its own
subprocess so that its peak memory (max RSS) is its own.

    python benchmarks/speed.py            # full run, writes benchmarks/results/speed.json
    python benchmarks/speed.py --quick    # a few minutes

The last line carries the two ratios: ``train_speedup=... infer_speedup=...``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

P = 10
MEASURES = ["biotag_train", "biotag_train_plain", "peft_prompt_tuning_train", "hf_forward_fp32",
            "biotag_predict_fp32", "biotag_predict_bf16"]


def load_data(n: int) -> tuple[list[str], np.ndarray]:
    from biotag import SmilesFeaturizer
    from biotag.data import data_dir

    frame = pd.read_csv(data_dir() / "tdc" / "admet_group" / "caco2_wang" / "train_val.csv").iloc[:n]
    return SmilesFeaturizer().transform(frame["Drug"].tolist()), frame["Y"].to_numpy(dtype=float)


def tagged(dtype: torch.dtype = torch.float32):
    from biotag import Template, load_base_model
    from biotag.tags import RegressionHead, TaggedLM, TagLibrary, TagSpec

    model, tokenizer = load_base_model(dtype=dtype)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=P), model)
    library.ensure_tag(TagSpec("<Caco2>", "function", p=P), model)
    library.add_head("<Caco2>", RegressionHead(library.hidden_size))
    return TaggedLM(model, tokenizer, library), Template("smiles", function_tag="<Caco2>")


def measure_biotag_train(smiles, y, args, reuse_prefix=True) -> dict:
    from biotag.training import Example, stage2, train_stage

    tlm, tpl = tagged()
    data = [Example(tpl.build(s), v) for s, v in zip(smiles, y)]
    spec = stage2("<Caco2>", "<SMILES>", epochs=args.epochs, batch_size=args.batch_size, reuse_prefix=reuse_prefix)
    start = time.perf_counter()
    history = train_stage(tlm, spec, data, progress=False)
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(data) * args.epochs / seconds, "seconds": seconds,
            "final_train_loss": history.train_loss[-1]}


def measure_peft_prompt_tuning_train(smiles, y, args) -> dict:
    """PEFT prompt tuning, the standard way: full forward + backward over every position, every step."""
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from biotag.tags import load_base_model
    from biotag.tags.base import _cached_gguf, default_model_path

    _, tokenizer = load_base_model()
    source = _cached_gguf(default_model_path(), None)  # the same weights, as a plain HF directory
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, torch_dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=2 * P)  # as many as <SMILES> + <Caco2>
    model = get_peft_model(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    tokenizer.padding_side = "left"
    target = torch.as_tensor((y - y.mean()) / y.std(), dtype=torch.float32)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for _ in range(args.epochs):
        order = rng.permutation(len(smiles))
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            batch = tokenizer([smiles[j] for j in idx], return_tensors="pt", padding=True)
            loss = torch.nn.functional.mse_loss(model(**batch).logits[:, 0], target[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(smiles) * args.epochs / seconds, "seconds": seconds,
            "trainable_params": sum(p.numel() for p in params)}


@torch.no_grad()
def measure_hf_forward_fp32(smiles, y, args) -> dict:
    """A plain Hugging Face fp32 batched forward (with the LM head) over the same tagged prompts, in input order."""
    tlm, tpl = tagged()
    items = [tpl.build(s) for s in smiles]
    start = time.perf_counter()
    for i in range(0, len(items), args.batch_size):
        batch = tlm.encode(items[i : i + args.batch_size])
        tlm.model(inputs_embeds=tlm.embed(batch), attention_mask=batch.attention_mask,
                  position_ids=batch.position_ids).logits
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(items) / seconds, "seconds": seconds}


def measure_biotag_predict(smiles, y, args, dtype=torch.float32) -> dict:
    tlm, tpl = tagged(dtype)
    items = [tpl.build(s) for s in smiles]
    start = time.perf_counter()
    tlm.predict(items, "<Caco2>", batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(items) / seconds, "seconds": seconds}


def run_one(name: str, args) -> dict:
    smiles, y = load_data(args.n)
    fn = {
        "biotag_train": lambda: measure_biotag_train(smiles, y, args),
        "biotag_train_plain": lambda: measure_biotag_train(smiles, y, args, reuse_prefix=False),
        "peft_prompt_tuning_train": lambda: measure_peft_prompt_tuning_train(smiles, y, args),
        "hf_forward_fp32": lambda: measure_hf_forward_fp32(smiles, y, args),
        "biotag_predict_fp32": lambda: measure_biotag_predict(smiles, y, args),
        "biotag_predict_bf16": lambda: measure_biotag_predict(smiles, y, args, torch.bfloat16),
    }[name]
    result = fn()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64 molecules, 1 epoch: a few minutes")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs = 64, 1
    if args.measure:
        print(json.dumps(run_one(args.measure, args)))
        return
    results = {}
    for name in MEASURES:
        cmd = [sys.executable, __file__, "--measure", name, "--n", str(args.n), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            results[name] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
        else:
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name:<26} {json.dumps(results[name])}", flush=True)
    train = results["biotag_train"].get("samples_per_s", float("nan")) / \
        results["peft_prompt_tuning_train"].get("samples_per_s", float("nan"))
    infer = max(results["biotag_predict_fp32"].get("samples_per_s", 0), results["biotag_predict_bf16"].get("samples_per_s", 0)) / \
        results["hf_forward_fp32"].get("samples_per_s", float("nan"))
    print(f"\n{'measure':<26} {'samples/s':>10} {'peak MB':>9}")
    for name, r in results.items():
        print(f"{name:<26} {r.get('samples_per_s', float('nan')):>10.2f} {r.get('peak_rss_mb', float('nan')):>9.0f}")
    out = Path(args.out or Path(__file__).parent / "results" / ("speed-quick.json" if args.quick else "speed.json"))
    out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "measure"},
                               "results": results, "train_speedup": train, "infer_speedup": infer}, indent=2))
    print(f"train_speedup={train:.1f} infer_speedup={infer:.1f}")


if __name__ == "__main__":
    main()
