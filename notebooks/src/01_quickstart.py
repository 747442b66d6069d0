# %% [markdown]
# # biotag quickstart: a TDC task with Tag-LLM in a scikit-learn pipeline
#
# This notebook loads a TDC ADMET task from the offline data directory, standardizes its SMILES
# (including what happens to an invalid one), fits `TagLLMRegressor` inside a pipeline, scores it
# with TDC's metric, plots predicted against measured values, and compares with a fingerprint
# random forest.
#
# It runs top to bottom on a 2-core CPU with the default model (SmolLM2-135M-Instruct, offline).
# **Small setting**: with `BIOTAG_NOTEBOOK_SMALL=1` (the test suite sets it) it trains on 160
# molecules for 3 epochs and scores 90 of the test molecules, which takes about two minutes but is far
# from the model's best; unset it to train on the whole training set and score the whole test set
# (about 5 minutes).

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
    train, test = train.sample(160, random_state=0), test.sample(90, random_state=0)
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
# `TagLLMRegressor` trains a `<Caco2>` function tag (3 vectors of the LLM's width) and a linear
# head; the LLM stays frozen. The `<SMILES>` domain tag is fresh here (stage 1 is shown in the
# next notebook). Fitting holds out 10 % of the training rows for early stopping. Another 15 % stay
# out of fitting altogether: they calibrate the prediction intervals further down.

# %%
from sklearn.pipeline import make_pipeline

model = make_pipeline(
    SmilesFeaturizer(),
    TagLLMRegressor(function_tag="<Caco2>", epochs=3 if SMALL else 10, random_state=0),
)
calibration = train.sample(frac=0.15, random_state=0)  # kept out of fitting, for the intervals below
fitting = train.drop(calibration.index)
model.fit(fitting["Drug"], fitting["Y"])
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
# ## How far to trust a prediction: 90 % intervals
#
# Split conformal prediction turns a fitted regressor into intervals that contain the measured value for
# at least 90 % of new molecules like the calibration ones. [MAPIE](https://mapie.readthedocs.io) does it on
# top of the fitted pipeline: the calibration rows' errors set the width. It needs the `uncertainty` extra
# (`pip install "biotag[uncertainty]"`).

# %%
from mapie.regression import SplitConformalRegressor

conformal = SplitConformalRegressor(model, confidence_level=0.9, prefit=True)
conformal.conformalize(calibration["Drug"], calibration["Y"])
_, intervals = conformal.predict_interval(test["Drug"])
low, high = intervals[:, 0, 0], intervals[:, 1, 0]
covered = (low <= test["Y"]) & (test["Y"] <= high)
print(f"90 % intervals cover {covered.mean():.0%} of the {len(test)} test molecules; "
      f"median width {np.median(high - low):.2f} log units")

order = np.argsort(pred)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.fill_between(np.arange(len(test)), low[order], high[order], color="tab:blue", alpha=0.2, label="90 % interval")
ax.plot(np.arange(len(test)), pred[order], color="tab:blue", lw=1, label="prediction")
ax.scatter(np.arange(len(test)), test["Y"].to_numpy()[order], s=6, color="k", label="measured")
ax.set_xlabel("test molecules, by prediction")
ax.set_ylabel("log Papp (cm/s)")
ax.legend(loc="upper left")
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
