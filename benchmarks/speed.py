"""Training and inference speed of biotag against PEFT prompt tuning and a plain HF forward.

Everything runs on this machine, in one invocation, on the same SMILES (Caco2_Wang
train_val), the same batch size and p = 10. Each measurement runs in its own
subprocess so that its peak memory (max RSS) is its own.

    python benchmarks/speed.py            # full run (~35 min), writes benchmarks/results/speed/speed.json
    python benchmarks/speed.py --quick    # under 5 minutes, writes benchmarks/results/speed/speed-quick.json
    python benchmarks/speed.py --only hf_forward_fp32,biotag_predict_fp32   # rerun some, keep the rest

Inference measures time ``--repeats`` passes in one process and report the median.

Training throughput is samples x epochs / wall time of the whole fit, the one-off
prefix computation included, over the same number of epochs for biotag and PEFT.
The plain (no prefix reuse) path, enrichment and stage 1 have no one-off cost, so
their rate is measured over fewer epochs (``--other-epochs``).

It also estimates, from the measured rates, the wall time of the 22-task ADMET
benchmark group x 5 seeds with the estimator defaults.

The last line carries the ratios in float32 and at ``dtype="auto"`` (what the estimators pick on this CPU:
bfloat16 where it has AVX512-BF16 or AMX): ``train_speedup=... infer_speedup=... train_speedup_auto=...
infer_speedup_auto=...``; the JSON records the CPU, its flags and that choice.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from biotag.hardware import cpu_description, native_bf16, peak_rss_mb, resolve_placement

P = 10
MEASURES = ["biotag_train", "biotag_train_bf16", "peft_prompt_tuning_train", "hf_forward_fp32", "biotag_predict_fp32",
            "biotag_predict_bf16", "biotag_train_plain", "biotag_train_enriched", "biotag_stage1"]
BF16 = {"biotag_train_bf16", "biotag_predict_bf16"}  # measured where the CPU runs bf16 natively (or with --bf16)
OTHER = {"biotag_train_plain", "biotag_train_enriched", "biotag_stage1"}  # measured over --other-epochs


def load_data(n: int) -> tuple[list[str], np.ndarray]:
    from biotag import SmilesFeaturizer
    from biotag.data import data_dir

    frame = pd.read_csv(data_dir() / "tdc" / "admet_group" / "caco2_wang" / "train_val.csv").iloc[:n]
    return SmilesFeaturizer().transform(frame["Drug"].tolist()), frame["Y"].to_numpy(dtype=float)


def tagged(args, dtype: torch.dtype = torch.float32):
    from biotag import Template, load_base_model
    from biotag.heads import RegressionHead
    from biotag.model import TaggedLM
    from biotag.tags import TagLibrary, TagSpec

    model, tokenizer = load_base_model(args.model, dtype=dtype)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=P), model)
    library.ensure_tag(TagSpec("<Caco2>", "function", p=P), model)
    library.add_head("<Caco2>", RegressionHead(library.hidden_size))
    return TaggedLM(model, tokenizer, library), Template("smiles", function_tag="<Caco2>")


def measure_biotag_train(smiles, y, args, reuse_prefix=True, enriched=False, dtype=torch.float32) -> dict:
    from biotag.training import Example, stage2, train_stage

    tlm, tpl = tagged(args, dtype)
    data = [Example(tpl.build(s), v) for s, v in zip(smiles, y)]
    spec = stage2("<Caco2>", "<SMILES>", epochs=args.epochs, batch_size=args.batch_size,
                  reuse_prefix=reuse_prefix, enrich=enriched)
    start = time.perf_counter()
    history = train_stage(tlm, spec, data, progress=False)
    seconds = time.perf_counter() - start
    result = {"samples_per_s": len(data) * args.epochs / seconds, "seconds": seconds, "epochs": args.epochs,
              "final_train_loss": history.train_loss[-1]}
    if reuse_prefix and not enriched:
        from biotag.model.batching import split_function_tag
        from biotag.model.prefix import compute_prefixes

        start = time.perf_counter()
        compute_prefixes(tlm, [split_function_tag(e.input)[0] for e in data], batch_size=max(args.batch_size, 16))
        prefix_s = time.perf_counter() - start
        result.update(prefix_per_s=len(data) / prefix_s,
                      step_samples_per_s=len(data) * args.epochs / max(seconds - prefix_s, 1e-9))
    return result


def measure_biotag_stage1(smiles, y, args) -> dict:
    from biotag.training import Example, stage1, train_stage

    tlm, _ = tagged(args)
    from biotag import Template

    data = [Example(Template("smiles").build(s)) for s in smiles]
    spec = stage1("<SMILES>", epochs=args.epochs, batch_size=args.batch_size)
    start = time.perf_counter()
    history = train_stage(tlm, spec, data, progress=False)
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(data) * args.epochs / seconds, "seconds": seconds, "epochs": args.epochs,
            "final_train_loss": history.train_loss[-1]}


def measure_peft_prompt_tuning_train(smiles, y, args) -> dict:
    """PEFT prompt tuning, the standard way: full forward + backward over every position, every step."""
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from biotag.backbone import load_base_model
    from biotag.backbone.load import model_source
    from biotag.model.batching import left_pad
    from biotag.model.prompt import pad_id

    _, tokenizer = load_base_model(args.model)
    source, _ = model_source(args.model)  # the same weights, as a plain HF directory
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, torch_dtype=torch.float32)
    # Padded as the benchmark's PEFT baselines pad: the default model's tokenizer has no pad token under
    # transformers 4.50 (the PyTDC environment), so tokenizer(padding=True) would refuse.
    model.config.pad_token_id = pad = pad_id(tokenizer)
    ids = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in smiles]
    config = PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=2 * P)  # as many as <SMILES> + <Caco2>
    model = get_peft_model(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    target = torch.as_tensor((y - y.mean()) / y.std(), dtype=torch.float32)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    for _ in range(args.epochs):
        order = rng.permutation(len(smiles))
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            input_ids, mask = left_pad([ids[j] for j in idx], pad)
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, 0]
            loss = torch.nn.functional.mse_loss(logits, target[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return {"samples_per_s": len(smiles) * args.epochs / seconds, "seconds": seconds, "epochs": args.epochs,
            "trainable_params": sum(p.numel() for p in params)}


def _repeated(run, n_items: int, repeats: int) -> dict:
    """Inference passes timed ``repeats`` times in one process; the median pass is reported (the first
    includes one-off costs: tokenization caches, kernel warm-up, which both inference measures share)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(n_items / (time.perf_counter() - start))
    return {"samples_per_s": float(np.median(rates)), "passes_per_s": [round(r, 2) for r in rates]}


@torch.no_grad()
def measure_hf_forward_fp32(smiles, y, args) -> dict:
    """A plain Hugging Face fp32 batched forward (with the LM head) over the same tagged prompts, in input order."""
    tlm, tpl = tagged(args)
    items = [tpl.build(s) for s in smiles]

    def run():
        for i in range(0, len(items), args.batch_size):
            batch = tlm.encode(items[i : i + args.batch_size])
            tlm.model(inputs_embeds=tlm.embed(batch), attention_mask=batch.attention_mask,
                      position_ids=batch.position_ids).logits

    return _repeated(run, len(items), args.repeats)


def measure_biotag_predict(smiles, y, args, dtype=torch.float32) -> dict:
    tlm, tpl = tagged(args, dtype)
    items = [tpl.build(s) for s in smiles]
    return _repeated(lambda: tlm.predict(items, "<Caco2>", batch_size=args.batch_size), len(items), args.repeats)


def run_one(name: str, args) -> dict:
    smiles, y = load_data(args.n)
    fn = {
        "biotag_train": lambda: measure_biotag_train(smiles, y, args),
        "biotag_train_bf16": lambda: measure_biotag_train(smiles, y, args, dtype=torch.bfloat16),
        "biotag_train_plain": lambda: measure_biotag_train(smiles, y, args, reuse_prefix=False),
        "biotag_train_enriched": lambda: measure_biotag_train(smiles, y, args, enriched=True),
        "biotag_stage1": lambda: measure_biotag_stage1(smiles, y, args),
        "peft_prompt_tuning_train": lambda: measure_peft_prompt_tuning_train(smiles, y, args),
        "hf_forward_fp32": lambda: measure_hf_forward_fp32(smiles, y, args),
        "biotag_predict_fp32": lambda: measure_biotag_predict(smiles, y, args),
        "biotag_predict_bf16": lambda: measure_biotag_predict(smiles, y, args, torch.bfloat16),
    }[name]
    result = fn()
    result["peak_rss_mb"] = peak_rss_mb()  # this process image only (ru_maxrss would include the parent)
    return result


def admet_estimate(results: dict, epochs: int = 10, seeds: int = 5) -> dict:
    """Wall time of the 22-task ADMET group x ``seeds`` with the estimator defaults, from the measured rates.

    Per task and seed: prefixes of train+valid once, ``epochs`` passes over the 90 %
    training part, and predicting the test set. Costs scale with each task's mean
    SMILES length relative to the benchmark's Caco2 molecules. An upper bound in
    epochs (early stopping often ends sooner) and without the runner's overheads.
    """
    from biotag.data import data_dir

    train = results["biotag_train"]
    prefix_rate, step_rate = train["prefix_per_s"], train["step_samples_per_s"]
    predict_rate = results["biotag_predict_fp32"]["samples_per_s"]
    group = data_dir() / "tdc" / "admet_group"
    ref_len = pd.read_csv(group / "caco2_wang" / "train_val.csv")["Drug"].str.len().mean()
    tasks, total = {}, 0.0
    for folder in sorted(group.iterdir()):
        if not (folder / "train_val.csv").is_file():
            continue
        tv, test = pd.read_csv(folder / "train_val.csv"), pd.read_csv(folder / "test.csv")
        scale = tv["Drug"].str.len().mean() / ref_len
        seconds = seeds * scale * (len(tv) / prefix_rate + epochs * 0.9 * len(tv) / step_rate + len(test) / predict_rate)
        tasks[folder.name] = {"train_val": len(tv), "test": len(test), "length_scale": round(scale, 2),
                              "hours": seconds / 3600}
        total += seconds
    return {"epochs": epochs, "seeds": seeds, "hours": total / 3600, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64 molecules, 2 epochs: under 5 minutes")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the biotag and PEFT fits (default 10)")
    parser.add_argument("--other-epochs", type=int, default=1, help="epochs of the plain, enriched, stage-1 fits")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bf16", action="store_true", help="measure bf16 even where the CPU lacks native bf16")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each inference measure (median)")
    parser.add_argument("--only", default=None,
                        help="comma-separated measures to (re)run; the others are kept from the existing result file")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="base model id or folder (default: biotag's default model)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.other_epochs = 64, 2, 1
    if args.measure:
        if args.measure in OTHER:
            args.epochs = args.other_epochs
        print(json.dumps(run_one(args.measure, args)))
        return
    out = Path(args.out or Path(__file__).parent / "results" / ("speed-quick.json" if args.quick else "speed.json"))
    only = set(args.only.split(",")) if args.only else set(MEASURES)
    previous = json.loads(out.read_text()) if args.only and out.is_file() else {}
    results = {}
    for name in MEASURES:
        if name not in only and name in previous.get("results", {}):
            results[name] = {**previous["results"][name], "invocation": "earlier"}
            continue
        if name in BF16 and not (native_bf16(torch.device("cpu")) or args.bf16):
            results[name] = {"skipped": "no native bf16 on this CPU (no avx512_bf16 / amx_bf16 flag); "
                                        "emulated bf16 is slower than fp32 (pass --bf16 to measure it)"}
            print(f"{name:<26} skipped: no native bf16 on this CPU", flush=True)
            continue
        cmd = [sys.executable, __file__, "--measure", name, "--n", str(args.n), "--epochs", str(args.epochs),
               "--other-epochs", str(args.other_epochs), "--batch-size", str(args.batch_size),
               "--repeats", str(args.repeats)] + (["--model", args.model] if args.model else [])
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            results[name] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
        else:
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name:<26} {json.dumps(results[name])}", flush=True)

    def rate(name):
        return results[name].get("samples_per_s", float("nan"))

    def peak(name):
        return results[name].get("peak_rss_mb", float("nan"))

    # The ratios at float32, and at what dtype="auto" (the estimators' default) picks on this CPU; the baselines
    # (PEFT prompt tuning, the plain forward) run in float32 either way.
    auto = resolve_placement(torch.device("cpu"), "auto").dtype
    suffix = "bf16" if auto == "bfloat16" else "fp32"
    train = rate("biotag_train") / rate("peft_prompt_tuning_train")
    infer = rate("biotag_predict_fp32") / rate("hf_forward_fp32")
    train_auto = rate("biotag_train" + ("_bf16" if auto == "bfloat16" else "")) / rate("peft_prompt_tuning_train")
    infer_auto = rate(f"biotag_predict_{suffix}") / rate("hf_forward_fp32")
    best_predict = f"biotag_predict_{suffix}"
    summary = {
        "dtype_auto": auto, "train_speedup": train, "infer_speedup": infer,
        "train_speedup_auto": train_auto, "infer_speedup_auto": infer_auto,
        "train_peak_memory_ratio_vs_peft": peak("biotag_train") / peak("peft_prompt_tuning_train"),
        "predict_peak_memory_ratio_vs_hf_forward": peak(best_predict) / peak("hf_forward_fp32"),
    }
    try:
        summary["admet_group_estimate"] = admet_estimate(results)
    except (KeyError, OSError) as err:
        summary["admet_group_estimate"] = {"error": repr(err)}

    print(f"\n{'measure':<26} {'epochs':>6} {'samples/s':>10} {'peak MB':>9}")
    for name, r in results.items():
        if "samples_per_s" in r:
            print(f"{name:<26} {r.get('epochs', ''):>6} {r['samples_per_s']:>10.2f} {r['peak_rss_mb']:>9.0f}")
        else:
            print(f"{name:<26} {'':>6} {'-':>10} {'-':>9}  {r.get('skipped') or r.get('error')}")
    print(f"peak memory: training {summary['train_peak_memory_ratio_vs_peft']:.2f}x PEFT's, "
          f"predict {summary['predict_peak_memory_ratio_vs_hf_forward']:.2f}x the plain forward's")
    estimate = summary["admet_group_estimate"]
    if "hours" in estimate:
        print(f"ADMET group estimate: {estimate['hours']:.1f} h for 22 tasks x {estimate['seeds']} seeds "
              f"at {estimate['epochs']} epochs (goal: 8 h)")
    out.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "measure"},
                               "cpu": cpu_description(), "torch_threads": torch.get_num_threads(),
                               "results": results, **summary}, indent=2))
    print(f"dtype auto = {auto} on {cpu_description()}")
    print(f"train_speedup={train:.1f} infer_speedup={infer:.1f} (float32) "
          f"train_speedup_auto={train_auto:.1f} infer_speedup_auto={infer_auto:.1f} ({auto})")


if __name__ == "__main__":
    main()
