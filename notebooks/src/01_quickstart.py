# %% [markdown]
# # biotag quickstart: a TDC task with Tag-LLM in a scikit-learn pipeline
#
# This notebook loads a TDC ADMET task from the offline data directory, standardizes its SMILES
# (including what happens to an invalid one), fits `TagLLMRegressor` inside a pipeline, scores it
# with TDC's metric, plots predicted against measured values, and compares with a fingerprint
# random forest.
#
# It runs top to bottom on a 2-core CPU with the default model (SmolLM2-135M-Instruct, offline).
# **Small setting**: with `BIOTAG_NOTEBOOK_SMALL=1` (the test suite sets it) it trains on 240
# molecules for 3 epochs, which takes about two minutes but is far from the model's best; unset it
# to train on the whole training set (about 5 minutes).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from biotag import SmilesFeaturizer, TagLLMRegressor
from biotag.data import data_dir

SMALL = os.environ.get("BIOTAG_NOTEBOOK_SMALL", "0") == "1"
root = data_dir() / "tdc" / "admet_group" / "caco2_wang"  # $BIOTAG_DATA_DIR, e.g. ../shared/data
train, test = pd.read_csv(root / "train_val.csv"), pd.read_csv(root / "test.csv")
if SMALL:
    train = train.sample(240, random_state=0)
print(f"Caco2_Wang: {len(train)} training and {len(test)} test molecules; target: log Papp (cm/s)")
train.head()

# %% [markdown]
# ## Standardizing SMILES
#
# `SmilesFeaturizer` parses each SMILES with RDKit, keeps the largest fragment (drops salts),
# neutralizes charges and writes a canonical SMILES. Invalid input is never dropped silently: by
# default every bad row is reported at once, with its position.

# %%
from biotag.exceptions import InvalidSmilesError

featurizer = SmilesFeaturizer()
print(featurizer.transform(["OCC", "c1ccccc1O.[Na+].[Cl-]"]))
try:
    featurizer.transform(["CCO", "C1CC", "c1ccccc1"])
except InvalidSmilesError as err:
    print("error:", err)
    print("rows:", [issue.index for issue in err.issues])

# %% [markdown]
# To keep a table aligned instead of stopping, ask for missing values and filter yourself:

# %%
print(SmilesFeaturizer(errors="nan").transform(["CCO", "C1CC", "c1ccccc1"]))

# %% [markdown]
# ## Tag-LLM in a pipeline
#
# `TagLLMRegressor` trains a `<Caco2>` function tag (10 vectors of the LLM's width) and a linear
# head; the LLM stays frozen. The `<SMILES>` domain tag is fresh here (stage 1 is shown in the
# next notebook). Fitting holds out 10 % of the training rows for early stopping.

# %%
from sklearn.pipeline import make_pipeline

model = make_pipeline(
    SmilesFeaturizer(),
    TagLLMRegressor(function_tag="<Caco2>", epochs=3 if SMALL else 10, random_state=0),
)
model.fit(train["Drug"], train["Y"])
pred = model.predict(test["Drug"])
print(model[-1].history_.epochs)

# %% [markdown]
# ## Scoring with TDC's metric
#
# Caco2_Wang is scored by mean absolute error. `metric_value` uses PyTDC's `Evaluator` when PyTDC
# is installed (the `tdc` extra) and the same formula otherwise.

# %%
from biotag.benchmark.tasks import metric_value

mae = metric_value("mae", test["Y"], pred)
baseline = metric_value("mae", test["Y"], np.full(len(test), train["Y"].mean()))
print(f"Tag-LLM test MAE {mae:.3f}   (predicting the training mean: {baseline:.3f})")

# %%
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(test["Y"], pred, s=12, alpha=0.7, label=f"Tag-LLM (MAE {mae:.3f})")
lims = [min(test["Y"].min(), pred.min()) - 0.2, max(test["Y"].max(), pred.max()) + 0.2]
ax.plot(lims, lims, color="0.5", lw=1, label="y = x")
ax.set_xlabel("measured log Papp (cm/s)")
ax.set_ylabel("predicted log Papp (cm/s)")
ax.set_title("Caco2_Wang test set: predicted vs measured")
ax.legend()
plt.show()

# %% [markdown]
# ## A fingerprint baseline in a few lines
#
# A random forest on Morgan count fingerprints is the classic expert baseline. On this task it is
# hard to beat with a 135M-parameter LLM: see the benchmark report notebook for the full picture.

# %%
from sklearn.ensemble import RandomForestRegressor

from biotag.benchmark.features import morgan_counts

rf = RandomForestRegressor(n_estimators=300, random_state=0, n_jobs=2)
rf.fit(morgan_counts(train["Drug"].tolist()), train["Y"])
rf_pred = rf.predict(morgan_counts(test["Drug"].tolist()))
print(f"random forest (Morgan counts) test MAE {metric_value('mae', test['Y'], rf_pred):.3f}")
