"""The line classifier in bounded batches gives what it gives one crop at a time."""

from __future__ import annotations

import numpy as np

from openread import Engine
from openread.pipeline.orient import OrientOptions, _flip_probabilities


def test_classifier_batches_do_not_change_the_answer(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    crops = [
        rng.integers(
            0, 256, size=(int(rng.integers(12, 60)), int(rng.integers(20, 400)), 3)
        ).astype(np.uint8)
        for _ in range(70)
    ]
    classifier = engine.models.classifier
    batched = _flip_probabilities(classifier, crops, OrientOptions(classifier_batch=32))
    alone = [_flip_probabilities(classifier, [crop], OrientOptions())[0] for crop in crops]
    assert len(batched) == 70
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert _flip_probabilities(classifier, [], OrientOptions()) == []
