"""Apply the rule in COMMANDS.md to this folder's cells and print the tables of NOTES.md.

    python benchmarks/results/optimizer-sweep/summarize.py [FOLDER]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
HIGHER = {"caco2_wang": False, "hia_hou": True, "dili": True, "half_life_obach": True}
TASKS = tuple(HIGHER)


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]


def main() -> None:
    cells = [r for r in records(HERE) if r["status"] == "ok"]
    earlier = {(r["task"], r["seed"]): r for r in records(HERE / "earlier-defaults") if r["status"] == "ok"}
    arms = sorted({r["model"] for r in cells})
    means = {a: {t: np.mean([r["valid_value"] for r in cells if r["model"] == a and r["task"] == t]) for t in TASKS}
             for a in arms}
    ranks = {a: [] for a in arms}
    for t in TASKS:
        order = sorted(arms, key=lambda a: -means[a][t] if HIGHER[t] else means[a][t])
        for i, a in enumerate(order):
            ranks[a].append(i + 1)
    print("| arm | training loss not above the start after epoch 1 | training beat the start (best epoch > 0) | "
          + " | ".join(f"{t} valid" for t in TASKS) + " | mean rank | pairs won / lost against the earlier defaults |")
    print("|---|---|---|" + "---|" * len(TASKS) + "---|---|")
    for a in arms + ["earlier defaults"]:
        mine = [r for r in cells if r["model"] == a] if a in arms else list(earlier.values())
        checked = [r for r in mine if "first_epoch_train_loss" in r]
        ok = sum(r["first_epoch_train_loss"] <= r["start_train_loss"] for r in checked)
        beat = sum((r.get("best_epoch") or 0) > 0 for r in mine)
        if a in arms:
            won = lost = 0
            for r in mine:
                other = earlier.get((r["task"], r["seed"]))
                if other is None or r["valid_value"] == other["valid_value"]:
                    continue
                better = (r["valid_value"] > other["valid_value"]) == HIGHER[r["task"]]
                won, lost = won + better, lost + (not better)
            tasks = [f"{means[a][t]:.4f}" for t in TASKS]
            tail = f"{np.mean(ranks[a]):.2f} | {won} / {lost} |"
        else:
            tasks = [f"{np.mean([r['valid_value'] for r in mine if r['task'] == t]):.4f}" for t in TASKS]
            tail = "- | - |"
        print(f"| `{a}` | {ok} of {len(checked)} | {beat} of {len(mine)} | " + " | ".join(tasks) + f" | {tail}")
    print()
    print("| arm | task | seed | training loss: start, after epoch 1 | epochs' training losses | validation losses |")
    print("|---|---|---|---|---|---|")
    for r in sorted(cells, key=lambda r: (r["model"], r["task"], r["seed"])):
        print(f"| `{r['model']}` | {r['task']} | {r['seed']} | {r.get('start_train_loss')}, "
              f"{r.get('first_epoch_train_loss')} | {', '.join(map(str, r.get('train_losses', [])))} | "
              f"{', '.join(map(str, r.get('val_losses', [])))} |")


if __name__ == "__main__":
    main()
