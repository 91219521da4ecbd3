"""FANet / FSFFNet: published parameter counts and any input size that is a multiple of 32."""

from __future__ import annotations

import numpy as np
import pytest

from fanet_training.models import build_model


@pytest.mark.parametrize(("name", "expected"), [("fanet", 1_151_411), ("fsffnet", 1_242_515)])
def test_parameter_count_at_19_classes(name: str, expected: int) -> None:
    model = build_model(name, 19, (64, 64, 3))
    assert abs(model.count_params() - expected) <= 0.02 * expected
    assert not any(layer.__class__.__name__ == "Lambda" for layer in model.layers)
    assert model.output.dtype == "float32"  # the softmax stays float32 under mixed precision


@pytest.mark.parametrize("name", ["fanet", "fsffnet"])
def test_one_model_runs_at_several_sizes(name: str) -> None:
    model = build_model(name, 11)
    for height, width in ((64, 96), (96, 160)):
        probabilities = model.predict_on_batch(np.zeros((1, height, width, 3), np.float32))
        assert probabilities.shape == (1, height, width, 11)
        np.testing.assert_allclose(np.asarray(probabilities).sum(-1), 1.0, atol=1e-4)


def test_rejects_sizes_that_are_not_multiples_of_32() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        build_model("fanet", 11, (100, 96, 3))
