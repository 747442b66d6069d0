# %% [markdown]
# # Benchmark report: Tag-LLM against expert and LLM baselines on TDC tasks
#
# This notebook reads the committed benchmark results under `benchmarks/results/` (produced by
# `biotag benchmark run`, see the README for the exact commands), puts every model's score beside the
# published TDC leaderboard, and discusses where Tag-LLM wins and loses. It trains nothing and runs in
# seconds.
#
# ADMET figures are on the **reconstructed** ADMET-group split of the offline data directory (its test
# sets may differ from the official ones by a row or so), so ranks against the leaderboard are
# indicative, not official.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from biotag.benchmark import get_task, summarize
from biotag.benchmark.models import EXPERT_MODELS, is_llm_baseline, is_tagllm
from biotag.benchmark.leaderboard import leaderboard, leaderboard_rank, published
from biotag.benchmark.report import format_score, read_runs

here = Path.cwd()
root = next(p for p in [here, *here.parents] if (p / "benchmarks" / "results").is_dir()) / "benchmarks" / "results"
dirs = sorted(d for d in root.iterdir() if (d / "results.jsonl").is_file())
results = read_runs(dirs)  # refuses a cell found in two result sets (it would count twice)
summary = summarize(results)
print("result sets:", [d.name for d in dirs])
print(f"{len(results)} cells, {int((results['status'] == 'ok').sum())} finished")
summary.pivot_table(index="task", columns="model", values="mean")

# %% [markdown]
# ## Scores per task beside the leaderboard
#
# Bars are means over seeds with the standard deviation as error bars (TDC's convention); grey bars
# are the published leaderboard entries (Feb 2025), or for the paper's QED and Descriptor tasks the
# paper's Table 2 (LLaMA-7B on its own data: scale, not a like-for-like comparison).

# %%
board = leaderboard()
tasks = list(dict.fromkeys(summary["task"]))
cols = 3
fig, axes = plt.subplots(int(np.ceil(len(tasks) / cols)), cols, figsize=(13, 3.3 * np.ceil(len(tasks) / cols)),
                         squeeze=False)
for ax, name in zip(axes.flat, tasks):
    task = get_task(name)
    ours = summary[summary["task"] == name].sort_values("mean", ascending=not task.higher_is_better)
    pub = published(task, board).sort_values("rank").head(6)  # the top of the leaderboard (or the paper's table)
    labels = list(ours["model"]) + [f"#{r} {m}"[:20] for r, m in zip(pub["rank"], pub["model"])]
    means = np.r_[ours["mean"].to_numpy(float), pub["mean"].to_numpy(float)]
    stds = np.r_[ours["std"].to_numpy(float), pub["std"].fillna(0).to_numpy(float)]
    colors = ["tab:red" if is_tagllm(m) else "tab:blue" for m in ours["model"]] + ["0.7"] * len(pub)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, means, xerr=stds, color=colors)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_title(task.leaderboard or name, fontsize=9)
    ax.set_xlabel(f"{task.metric.upper()} ({'higher' if task.higher_is_better else 'lower'} is better)", fontsize=8)
for ax in list(axes.flat)[len(tasks):]:
    ax.axis("off")
from matplotlib.patches import Patch

fig.legend(handles=[Patch(color="tab:red", label="Tag-LLM (ours)"), Patch(color="tab:blue", label="baselines (ours)"),
                    Patch(color="0.7", label="published")], loc="lower right", fontsize=8)
fig.suptitle("Test scores per task: mean ± std over seeds, beside the published leaderboard")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where Tag-LLM stands
#
# For each task and Tag-LLM method (`tagllm`, the estimators' defaults; `tagllm_paper`, the paper's setting;
# a variant run with options, such as `tagllm[head_init=probe]`): its score, the best of our expert baselines and of the other LLM baselines run there, the
# leaderboard rank its mean would take, and whether it beats the best expert baseline by more than the
# seeds' spread.

# %%
def score(row):  # mean ± std (with the number of seeds where fewer than five) and the model
    return f"{format_score(row['mean'], row['std'], row['seeds'])} ({row.name})"


rows = []
for name in tasks:
    task = get_task(name)
    s = summary[summary["task"] == name].set_index("model")
    experts = s.loc[[m for m in EXPERT_MODELS if m in s.index]]
    llm = s.loc[[m for m in s.index if is_llm_baseline(m)]]
    sign = 1 if task.higher_is_better else -1
    best = experts.loc[(sign * experts["mean"]).idxmax()] if len(experts) else None
    best_llm = llm.loc[(sign * llm["mean"]).idxmax()] if len(llm) else None
    pub = published(task, board)
    for variant in [m for m in s.index if is_tagllm(m)]:
        tag = s.loc[variant]
        margin = sign * (tag["mean"] - best["mean"]) if best is not None else np.nan
        rows.append({
            "task": name, "metric": task.metric, "Tag-LLM": score(tag),
            "best expert": score(best) if best is not None else "-",
            "best LLM baseline": score(best_llm) if best_llm is not None else "-",
            "rank": leaderboard_rank(tag["mean"], pub, task.higher_is_better) if len(pub) else None,
            "verdict": "-" if best is None else ("wins" if margin > tag["std"] + best["std"] else
                                                 "loses" if margin < -(tag["std"] + best["std"]) else "within noise"),
        })
standing = pd.DataFrame(rows)
standing

# %%
if standing.empty:
    print("Tag-LLM against the best expert baseline: no task has Tag-LLM results yet")
else:
    counts = standing["verdict"].value_counts()
    print(f"Tag-LLM against the best expert baseline on {len(standing)} (task, variant) pairs: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))

# %% [markdown]
# ## Discussion
#
# The verdicts above are computed from the committed results, so they stay true as results are added.
# At the time of writing:
# - Tag-LLM has 5 seeds on fourteen small ADMET tasks (Caco2_Wang, Half_Life_Obach, HIA_Hou, DILI, hERG,
#   Bioavailability_Ma, Pgp_Broccatelli, VDss_Lombardo, PPBR_AZ, the two clearance sets and the three CYP
#   substrate sets), 5 on BBB_Martins, 5 on each paper task (QED, Descriptor), 5 on beta-lactamase and 5
#   on DAVIS (one epoch, the frozen model in bf16: `davis-tagllm-bf16/`). Of the larger ADMET tasks it has
#   5 seeds on Lipophilicity_AstraZeneca and 3 on AMES.
# - The linear probe has 5 seeds on all 15 small ADMET tasks and on Lipophilicity_AstraZeneca, AMES and LD50_Zhu.
# - PEFT prompt tuning and LoRA have 5 seeds each on DILI, HIA, Half_Life and Caco2.
# - The expert baselines cover all 15 small ADMET tasks, both paper tasks, beta-lactamase, DAVIS (5 seeds each)
#   and, of the larger tasks, Lipophilicity_AstraZeneca and AMES (both models, 5 seeds),
#   LD50_Zhu and Solubility_AqSolDB (CatBoost, 5 seeds).
#
# The results say:
#
# - **Tag-LLM loses to the expert baselines on fourteen of the fifteen ADMET tasks it has run, by far more
#   than the seeds' spread.**
#   - Caco2: MAE about 0.46 against CatBoost's 0.28, last on the leaderboard.
#   - HIA: ROC-AUC about 0.74 against 0.98.
#   - Half_Life: Spearman about 0.19 against 0.56.
#   - DILI: ROC-AUC about 0.77 against 0.91.
#   - hERG: ROC-AUC about 0.73 against 0.87.
#   - CYP2D6_Substrate: PR-AUC about 0.45 against 0.71.
#   - Pgp: ROC-AUC about 0.85 against 0.93.
#   - VDss: Spearman about 0.36 against 0.71.
#   - PPBR: MAE about 10.1 against 8.0.
#   - Clearance: Spearman about 0.42 against 0.61 (microsome) and 0.27 against 0.46 (hepatocyte).
#   - The exception is CYP2C9_Substrate. There Tag-LLM (0.39) is within noise of CatBoost (0.41), and the
#     plain linear probe (0.45) tops both and the published leaderboard. That is one small test set (38
#     positives), so it is not a general result.
#
#   Take this at face value: on small ADMET sets, with this backbone, use the expert model.
# - **Tag-LLM does not beat a linear probe of the same frozen model, with three exceptions.** It is level on
#   Caco2, hERG, CYP3A4_Substrate, PPBR and Clearance_Microsome, better on Half_Life, VDss (0.36 against
#   0.23) and, by about one spread, Clearance_Hepatocyte, and worse on HIA, DILI, Bioavailability, Pgp and
#   the other two CYP substrate sets. Prompt tuning and LoRA land level with the linear probe on DILI and
#   HIA (5 seeds each) and Caco2 (MAE about 0.49 for LoRA and 0.46 for prompt tuning), above Tag-LLM on DILI
#   and HIA. On Half_Life prompt tuning and LoRA (5 seeds each, Spearman about 0.07 and 0.10) are level
#   with the linear probe, below Tag-LLM (0.19). All at several
#   times Tag-LLM's cost. On BBB Tag-LLM's 0.83 is above the linear probe's 0.79.
#
#   The frozen 135M model's hidden states carry some of the signal. Training a 10-vector function tag
#   on a few hundred molecules does not extract more of it than a ridge regression does.
# - **Why the experts win.** Gradient boosting on fingerprints and RDKit descriptors (MapLight) leads the
#   TDC leaderboard on many of these tasks. The descriptors encode exactly the physical chemistry (logP,
#   polar surface area, charge) that permeability and absorption depend on, and a few hundred labelled
#   molecules suffice to fit them.
# - **Why Tag-LLM struggles here.**
#   - It trains a few thousand parameters on a 135M-parameter model that saw little chemistry.
#   - Everything its head sees must pass through one hidden state of the frozen model.
#   - The paper's gains come from 7B backbones.
#   - These runs use a short schedule (3 epochs, a 500-molecule stage-1 corpus), chosen for CPU time.
# - **The levers** (`benchmarks/results/levers/levers.py`, one change at a time, committed beside the results):
#   - On HIA seed 1, four levers each lift ROC-AUC far beyond the seeds' spread (0.016) from the base's 0.71:
#     the head started at the linear probe's solution (`head_init="probe"`, LP-FT) to 0.88, a learning
#     rate of 1e-2 to 0.86, one token per SMILES character to 0.85, and a 4-vector tag to 0.81.
#     Epochs, a lower learning rate and the stage-1 tag stay within the spread.
#   - Over five HIA seeds the probe start holds: 0.86 ± 0.04 against the base's 0.74 ± 0.02, better on every
#     seed, level with prompt tuning (0.84) and LoRA (0.85) and above the linear probe (0.84) on four seeds
#     of five. Character tokens (0.79), the 4-vector tag (0.78) and lr 1e-2 (0.77) shrink to small gains.
#   - On DILI the probe start is level with the base (0.78 against 0.77 over five seeds) and below the
#     linear probe (0.81), so HIA's gain does not carry over as such.
#   - On Caco2 the three tried there go the other way: MAE 0.45 becomes 0.67 with the probe start, 0.52
#     at lr 1e-2 and 0.51 with character tokens. One classification task gaining, one level and one
#     regression task losing are not a default; the other tasks come next.
# - **QED** (paper task, 5 seeds): Tag-LLM's MSE is about 0.020, half the training mean's 0.040, against
#   0.003 for CatBoost and 0.012 for the random forest, and 0.008 for the paper's Tag-LLM on LLaMA-7B.
# - **Proteins.** On beta-lactamase (5 seeds) Tag-LLM's Spearman is 0.20, against 0.74 for ridge on
#   one-hot residues and 0.83 for CatBoost. Every sequence there is a single mutant of one enzyme, and the
#   one-residue change barely moves the frozen model's last hidden state, which is all the head sees.
# - **DAVIS** (cross-domain, `<Protein>` + `<SMILES>` + a function tag; 5 seeds, one epoch): MSE
#   0.53 on pKd, against 0.64 for the training mean and 0.28 for CatBoost on the same test sets. The tag
#   learns part of the affinity from the frozen model's reading of kinase and molecule (R² 0.16-0.22
#   against CatBoost's 0.55-0.59) and stays far behind the expert. The random forest gives 0.34.
# - **Lipophilicity_AstraZeneca**, the first larger task: MAE 0.91 for Tag-LLM and the linear
#   probe alike, against 0.49 for CatBoost and 0.99 for predicting the training mean.
# - **AMES**: ROC-AUC 0.71 for Tag-LLM (3 seeds), below the linear probe's 0.73 and far below CatBoost's 0.87.
# - **Cost.** The wall times in `report.md` show each model's fit + predict time per seed on a 2-core CPU.
#   Tag-LLM takes minutes where the forests take seconds. Its seeds 2-5 read the frozen
#   prefixes from a cache that seed 1 fills, which roughly halves their time. Prompt tuning and LoRA, without Tag-LLM's
#   prefix reuse, take 10 to 40 minutes per seed on one core.
