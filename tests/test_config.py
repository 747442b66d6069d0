"""Every default is defined once, in biotag.config: the estimators, the training schedule, the protocol file, the
command line and the benchmark runner all give the same values."""

import dataclasses

import pytest

from biotag import TagLLMClassifier, TagLLMRegressor
from biotag.benchmark import Settings
from biotag.cli import build_parser
from biotag.config import Stage1Config, TagLLMConfig
from biotag.tags import TagSpec
from biotag.training import Schedule, stage1


def test_the_estimators_parameters_are_the_configs_fields_with_its_defaults():
    config = TagLLMConfig().to_dict()
    for cls in (TagLLMRegressor, TagLLMClassifier):
        params = cls().get_params()
        assert {k: params[k] for k in config} == config
    assert set(TagLLMClassifier().get_params()) - set(TagLLMRegressor().get_params()) == {"class_weight"}


def test_the_schedule_the_runner_and_a_new_tag_take_the_configs_defaults():
    config = TagLLMConfig()
    schedule = Schedule()
    for name in ("epochs", "max_steps", "batch_size", "lr", "weight_decay", "warmup_ratio", "patience"):
        assert getattr(schedule, name) == getattr(config, name), name
    settings = Settings()
    for name in ("epochs", "batch_size", "lr", "p", "domain_p", "model", "dtype", "device"):
        assert getattr(settings, name) == getattr(config, name), name
    assert TagSpec("<X>", "function").p == config.p
    from biotag.config import PREFIX_MEMORY
    from biotag.model.prefix import PrefixCache

    run = build_parser().parse_args(["benchmark", "run"])
    assert settings.prefix_memory == TagLLMRegressor().prefix_memory == run.prefix_memory == PREFIX_MEMORY
    assert PrefixCache("unused").memory_fraction == PREFIX_MEMORY


def test_stage1_everywhere_takes_stage1_configs_defaults():
    defaults = Stage1Config()
    spec = stage1("<SMILES>")
    assert (spec.epochs, spec.lr, spec.batch_size) == (defaults.epochs, defaults.lr, defaults.batch_size)
    args = build_parser().parse_args(["tags", "pretrain", "--domain", "smiles", "--input", "x", "--out", "y"])
    assert (args.p, args.epochs, args.lr, args.batch_size, args.val_fraction, args.seed) == \
        (defaults.p, defaults.epochs, defaults.lr, defaults.batch_size, defaults.val_fraction, defaults.seed)
    assert (args.dtype, args.device) == (TagLLMConfig.dtype, TagLLMConfig.device)


def test_the_protocol_file_takes_the_configs_settings_and_defaults(tmp_path):
    from biotag import protocol

    assert protocol._STAGE1_KEYS == Stage1Config.defaults()
    assert protocol._FUNCTION_KEYS - {"seed"} <= set(TagLLMConfig.fields())
    assert {"p", "epochs", "lr", "readout", "head_init", "enrich"} <= protocol._FUNCTION_KEYS
    file = tmp_path / "p.json"
    file.write_text('{"output": "out", "stages": [{"name": "s1", "stage": 1, "domain": "smiles", '
                    '"data": {"train": "t.csv", "columns": {"smiles": "smiles"}}}]}')
    loaded = protocol.load_protocol(file)
    assert (loaded.dtype, loaded.device, loaded.model) == (TagLLMConfig.dtype, TagLLMConfig.device, None)


@pytest.mark.parametrize("change, match", [({"readout": "mean"}, "readout"), ({"p": 0}, "p must be"),
                                           ({"lr": (1e-3, -1.0)}, "lr must be"), ({"warmup_ratio": 1.0}, "warmup")])
def test_a_bad_setting_is_refused_by_name(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TagLLMConfig(), **change)
