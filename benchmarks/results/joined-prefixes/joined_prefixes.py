"""Cross-domain prefixes with each lead stored once (``JoinedPrefixKV``), measured on DAVIS pairs.

DAVIS pairs 379 kinases (about 460 tokens each) with 68 molecules (about 55): in
``<Protein> kinase <SMILES> molecule <BindingAffinity>`` everything before the function tag is frozen,
so its keys/values are cached, and the kinase part is the same for every pair of that kinase. In one
run, on the default model and a sample of pairs (a few kinases, all their DAVIS molecules):

- the positions the prefix store holds, against the positions of the same prefixes stored whole;
- seconds per pair to compute the prefixes, and per pair for a training step (forward + backward of the
  function tag) through them, against the plain training step (the whole input forward and backward)
  on a few of the same pairs; the largest readout difference between the two paths;
- the whole data set's store, from its token counts: every distinct kinase once plus each pair's molecule.

    python benchmarks/results/joined-prefixes/joined_prefixes.py --kinases 4 --out benchmarks/results/joined-prefixes/joined-prefixes.json

The training step is also timed with the model's own attention in place of biotag's grouped-query
attention (``biotag.backbone.attention``): the model's own copies each key/value head once per query head.

With ``--dtypes float32,bfloat16`` the timings are taken for the frozen model in each precision, in
the same run, and the bfloat16 speedups are reported (the tags and the head stay float32).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import pandas as pd
import torch

from biotag import Template
from biotag.data import data_dir
from biotag.heads import RegressionHead
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.backbone import load_base_model
from unittest import mock

from biotag.backbone import attention
from biotag.model.batching import split_function_tag, split_lead
from biotag.model.prefix import PrefixStore, compute_prefixes, forward_from_prefixes
from biotag.hardware import DTYPES, torch_dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinases", type=int, default=4, help="kinases in the sample (each with all its pairs)")
    parser.add_argument("--plain", type=int, default=8, help="pairs for the plain training step")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtypes", default="float32",
                        help="comma-separated precisions of the frozen model, each timed in this run")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dtypes = args.dtypes.split(",")
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        parser.error(f"--dtypes: unknown precision(s) {unknown}; choose from {sorted(DTYPES)}")

    pairs = pd.read_csv(data_dir() / "tdc" / "davis.tab", sep="\t")
    kinases = pairs["X2"].drop_duplicates().sample(args.kinases, random_state=0)
    sample = pairs[pairs["X2"].isin(kinases)].reset_index(drop=True)

    timings = {d: _time_pairs(sample, d, args) for d in dtypes}
    first = timings[dtypes[0]]
    tlm, template = first.pop("_tlm"), first.pop("_template")
    encoder = tlm.encoder()
    everything = [split_function_tag(x)[0] for x in template.build_many(list(zip(pairs["X2"], pairs["X1"])))]
    leads = {split_lead(p)[0] for p in everything}
    lead_positions = sum(len(encoder.encode_row(lead)[0]) for lead in leads)
    rest_positions = sum(len(encoder.encode_row(split_lead(p)[1])[0]) for p in everything)
    whole_positions = sum(len(encoder.encode_row(p)[0]) for p in everything)

    def store_gb(per_position: int) -> dict:
        return {"bytes_per_position": per_position,
                "gb_joined": round((lead_positions + rest_positions) * per_position / 1e9, 1),
                "gb_if_stored_whole": round(whole_positions * per_position / 1e9, 1),
                "gb_of_kinase_leads": round(lead_positions * per_position / 1e9, 1)}

    result = {
        "args": vars(args), "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "sample": {"kinases": args.kinases, "pairs": len(sample), **first.pop("sample")},
        **{k: v for k, v in first.items() if k != "bytes_per_position"},
        "davis": {"pairs": len(pairs), "kinases": len(leads), **store_gb(first["bytes_per_position"])},
    }
    for d in dtypes[1:]:
        other = timings[d]
        other.pop("_tlm"), other.pop("_template"), other.pop("sample")
        result[d] = {**{k: v for k, v in other.items() if k != "bytes_per_position"},
                     "speedup_over_" + dtypes[0]: {k: round(first["seconds_per_pair"][k] / v, 2)
                                                    for k, v in other["seconds_per_pair"].items()},
                     "davis": store_gb(other["bytes_per_position"])}
    print(json.dumps(result, indent=2))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def _time_pairs(sample: pd.DataFrame, dtype: str, args: argparse.Namespace) -> dict:
    """Seconds per pair for the prefixes, a training step through them and the plain step, in one precision."""
    model, tokenizer = load_base_model(dtype=torch_dtype(dtype))
    library = TagLibrary.for_model(model)
    for name, kind in (("<Protein>", "domain"), ("<SMILES>", "domain"), ("<BindingAffinity>", "function")):
        library.ensure_tag(TagSpec(name, kind), model)
    library.add_head("<BindingAffinity>", RegressionHead(library.hidden_size))
    tlm = TaggedLM(model, tokenizer, library)
    template = Template(("protein", "smiles"), function_tag="<BindingAffinity>")
    items = template.build_many(list(zip(sample["X2"], sample["X1"])))
    prefixes = [split_function_tag(x)[0] for x in items]
    tag = library.tags["<BindingAffinity>"]

    start = time.perf_counter()
    cached = compute_prefixes(tlm, prefixes, batch_size=args.batch_size)
    compute_s = time.perf_counter() - start
    like = [(k.unsqueeze(0), v.unsqueeze(0)) for k, v in zip(cached[0].lead.store.keys, cached[0].lead.store.values)]
    stored = cached[0].lead.store.keys[0].shape[1]
    whole = sum(p.length for p in cached)

    tag.requires_grad_(True)

    def prefix_steps() -> float:
        start = time.perf_counter()
        for i in range(0, len(cached), args.batch_size):
            forward_from_prefixes(tlm, cached[i : i + args.batch_size], "<BindingAffinity>").pow(2).sum().backward()
        return (time.perf_counter() - start) / len(cached)

    prefix_step_s = prefix_steps()
    with mock.patch.object(attention, "_applies", lambda model: False):  # the model's own attention
        own_attention_step_s = prefix_steps()  # the model's own attention: keys/values copied per query head
    few = items[: args.plain]
    start = time.perf_counter()
    tlm.readout(tlm.encode(few)).pow(2).sum().backward()
    plain_step_s = (time.perf_counter() - start) / len(few)
    with torch.no_grad():
        plain = tlm.readout(tlm.encode(few))
        difference = (forward_from_prefixes(tlm, cached[: args.plain], "<BindingAffinity>") - plain).abs().max().item()
    return {
        "_tlm": tlm, "_template": template,
        "bytes_per_position": PrefixStore.bytes_per_position(like),
        "sample": {"positions_stored": stored, "positions_if_stored_whole": whole,
                   "storage_ratio_whole_over_joined": round(whole / stored, 2)},
        "seconds_per_pair": {"compute_prefixes": round(compute_s / len(cached), 3),
                             "training_step_from_prefixes": round(prefix_step_s, 3),
                             "training_step_from_prefixes_own_attention": round(own_attention_step_s, 3),
                             f"plain_training_step_{args.plain}_pairs": round(plain_step_s, 3)},
        "training_step_speedup": round(plain_step_s / prefix_step_s, 1),
        "grouped_attention_speedup": round(own_attention_step_s / prefix_step_s, 2),
        "max_abs_readout_difference": difference,
        "max_abs_readout": plain.abs().max().item(),  # the scale of that difference
    }


if __name__ == "__main__":
    main()
