"""Train lesson 10's three small CNNs and write ``xaiutils/weights/cue_models.pt``.

    .venv/bin/python studies/train_cue_models.py   # about 70 s on this 2-core CPU

The models (:data:`xaiutils.cleverhans.MODELS`): the Clever Hans, trained on 4,000 planted-cue
images whose stamp agrees with the label 99 % of the time; the fair model, trained on 4,000
images of the same kind without a stamp (three epochs of Adam each); and the model of the
data-randomisation test, trained on the first 128 of the Clever Hans's images with their labels
shuffled, for 150 epochs, long enough to memorise most of them (Adebayo et al. trained theirs to
memorise too). Two more serve the lesson's exercises: a Clever Hans trained with agreement 0.95
and a control whose stamps carry no information (agreement 1/3). Each is a
:class:`~xaiutils.cleverhans.CueNet` of 23,779 weights, seeded. The
weights ship inside the package so that the lesson needs no training (it has a minute for
everything); ``tests/test_cleverhans.py`` retrains the models and checks that their accuracies
on the three test sets are the shipped ones.
"""

from __future__ import annotations

import time

import torch

from xaiutils.cleverhans import WEIGHTS, accuracy, test_sets, train_models


def main() -> None:
    start = time.perf_counter()
    models = train_models()
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: m.state_dict() for k, m in models.items()}, WEIGHTS)
    print(f"trained in {time.perf_counter() - start:.0f} s -> {WEIGHTS}")
    for name, m in models.items():
        scores = {k: f"{accuracy(m, d):.3f}" for k, d in test_sets().items()}
        print(f"  {name:12s} {scores}")


if __name__ == "__main__":
    main()
