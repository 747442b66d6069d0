
import pytest

from biotag.training import StageSpec, stage1, stage2, stage3


def test_stage_spec_validation_and_json_round_trip():
    spec = stage2("<QED>", "<SMILES>", lr=3e-3, epochs=2)
    assert spec.train_tags == ("<QED>",) and spec.frozen_tags == ("<SMILES>",) and spec.head == "<QED>"
    assert StageSpec.from_dict(spec.to_dict()) == spec
    import json

    assert StageSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    enriched = stage2("<QED>", "<SMILES>", enrich=True)
    assert enriched.train_tags == ("<QED>", "<SMILES>") and enriched.frozen_tags == ()
    assert stage3("<BA>", ("<Protein>", "<SMILES>")).frozen_tags == ("<Protein>", "<SMILES>")
    with pytest.raises(ValueError, match="StageSpec.lr must be > 0, got -1"):
        stage1("<SMILES>", lr=-1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        stage1("<SMILES>", batch_size=0)
    with pytest.raises(ValueError, match="both trained and frozen"):
        StageSpec("x", ("<A>",), "lm", frozen_tags=("<A>",))
    with pytest.raises(ValueError, match="loss must be one of"):
        StageSpec("x", ("<A>",), "mse")
    with pytest.raises(ValueError, match="unknown StageSpec field"):
        StageSpec.from_dict({**spec.to_dict(), "lrr": 1})
