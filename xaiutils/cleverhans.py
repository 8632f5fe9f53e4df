"""A model whose evidence is known: planted-cue data and three small CNNs. Lesson 10.

Nobody knows which pixels the ImageNet model really uses, so lesson 09 could only ask whether
a map points at the *object* (plausibility). Here the evidence is planted: every image holds
one grey shape, the object (its class), and maybe a small coloured stamp, the **cue**, whose
colour agrees with the class in a share ``agreement`` of the images. A network trained where
the cue nearly always agrees can learn the stamp instead of the shape: a Clever Hans (the
horse that "counted" by reading its trainer's face). Test sets with the cue agreeing,
disagreeing or absent show by intervention which one it learned; then the maps can be graded
against pixel masks of both the object and the cue.

* :func:`planted_cue_data`: seeded images ``(N, 3, 64, 64)`` in [0, 1] with labels and the
  exact pixel masks of the object and of the cue;
* :class:`CueNet`: three conv layers with ReLU, global average pooling, one linear layer
  (CAM applies; the feature layer is ``"features"``);
* :func:`train` and :func:`accuracy`; :func:`load_cue_models` loads the three models shipped
  in ``data/cue_models.pt`` (``studies/train_cue_models.py`` trained them; a test retrains them
  and checks the accuracies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from xaiutils.validation import in_range, positive_int

__all__ = [
    "CLASSES",
    "CUE_COLOURS",
    "CueData",
    "CueNet",
    "accuracy",
    "load_cue_models",
    "planted_cue_data",
    "shuffled_labels",
    "test_sets",
    "train",
    "train_models",
    "training_data",
]

SIZE = 64  # pixels per side
CLASSES = ("disc", "ring", "cross")
CUE_COLOURS = ((1.0, 0.15, 0.15), (0.15, 0.8, 0.15), (0.2, 0.3, 1.0))  # red, green, blue
STAMP = 6  # the cue: a STAMP x STAMP square of its class's colour
WEIGHTS = Path(__file__).resolve().parent / "weights" / "cue_models.pt"  # inside the wheel
TRAINING_IMAGES, TRAINING_SEED = 4000, 1  # each model's images: the first n of these
# How each model of the lesson is trained: the data's arguments, how many images, whether the
# labels are shuffled, epochs and batch size.
MODELS = {
    # the cue agrees with the label on 99 % of the images
    "clever-hans": ({"agreement": 0.99}, 4000, False, 3, 64),
    # the same kind of images without the cue
    "fair": ({"cue": False}, 4000, False, 3, 64),
    # the first 128 of the Clever Hans's images with their labels shuffled, trained long
    # enough to memorise most of them (Adebayo et al.'s data randomisation)
    "shuffled": ({"agreement": 0.99}, 128, True, 150, 32),
    # for the exercises of lesson 10 (shipped so that their solutions fit in a minute):
    # agreement 0.95, and a control whose stamps carry no information (agreement 1/3)
    "clever-hans-95": ({"agreement": 0.95}, 4000, False, 3, 64),
    "control": ({"agreement": 1 / 3}, 4000, False, 3, 64),
}
LESSON_MODELS = ("clever-hans", "fair", "shuffled")
TEST_SETS = {  # name: (the data's arguments, seed)
    "cue agrees": ({"agreement": 1.0}, 2),
    "cue disagrees": ({"agreement": 0.0}, 3),
    "no cue": ({"cue": False}, 4),
}


@dataclass(frozen=True)
class CueData:
    """Planted-cue images and what is in them.

    ``images`` ``(N, 3, 64, 64)`` float32 in [0, 1]; ``labels`` ``(N,)`` the object's class;
    ``objects`` and ``cues`` ``(N, 64, 64)`` bool, the exact pixels of the shape and of the
    stamp (all False where there is no stamp); ``cue_labels`` ``(N,)`` the class whose colour
    the stamp has, ``-1`` where there is none.
    """

    images: torch.Tensor
    labels: torch.Tensor
    objects: torch.Tensor
    cues: torch.Tensor
    cue_labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: slice | torch.Tensor) -> CueData:
        """The same fields for the samples ``index`` picks."""
        return CueData(*(t[index] for t in (self.images, self.labels, self.objects, self.cues,
                                            self.cue_labels)))  # fmt: skip


def _shapes(labels: np.ndarray, centres: np.ndarray, radii: np.ndarray, angles: np.ndarray):
    """The pixel masks ``(n, 64, 64)`` of discs, rings and crosses turned by ``angles``."""
    y, x = (np.mgrid[:SIZE, :SIZE] + 0.5).astype(np.float32)
    dy = y - centres[:, 0, None, None]
    dx = x - centres[:, 1, None, None]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # coordinates turned with each shape
    r = radii[:, None, None]
    d2 = u**2 + v**2
    disc = d2 <= r**2
    ring = disc & (d2 >= (0.6 * r) ** 2)
    arm = 0.25 * r  # half the width of the cross's arms
    cross = ((np.abs(u) <= arm) & (np.abs(v) <= r)) | ((np.abs(v) <= arm) & (np.abs(u) <= r))
    masks = np.stack([disc, ring, cross])
    return masks[labels, np.arange(len(labels))]


def planted_cue_data(
    n: int,
    *,
    agreement: float = 0.99,
    cue: bool = True,
    contrast: float = 0.25,
    noise: float = 0.1,
    seed: int = 0,
) -> CueData:
    """``n`` planted-cue images, seeded: the same arguments give the same data. Lesson 10.

    Each image: grey background with Gaussian pixel noise (``noise``), one grey shape of class
    ``CLASSES[label]`` (radius 8 to 12 pixels, random position and rotation, ``contrast``
    brighter than the background) and, if ``cue``, a 6 x 6 stamp of colour ``CUE_COLOURS[c]``
    at a random place outside the shape's enclosing circle grown by 2 pixels. ``c`` is the
    label in exactly ``round(agreement * n)`` images (chosen at random) and another class,
    drawn at random, in the rest: ``agreement=1`` makes a test set where the cue agrees, ``0``
    one where it always disagrees, ``cue=False`` one without the cue.
    """
    n = positive_int(n, "n")
    agreement = in_range(agreement, "agreement", 0.0, 1.0)
    contrast = in_range(contrast, "contrast", 0.0, 1.0)
    noise = in_range(noise, "noise", 0.0, 1.0)
    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    k = len(CLASSES)
    labels = rng.integers(0, k, n)
    agree = np.zeros(n, dtype=bool)
    agree[rng.permutation(n)[: round(agreement * n)]] = True
    cue_labels = np.where(agree, labels, (labels + rng.integers(1, k, n)) % k)
    radii = rng.uniform(8, 12, n)
    centres = rng.uniform(0, 1, (n, 2)) * (SIZE - 2 * radii[:, None] - 4) + radii[:, None] + 2
    angles = rng.uniform(0, 2 * np.pi, n)
    corners = _stamp_places(rng, centres, 1.3 * radii + 2)
    noise_field = rng.standard_normal((n, SIZE, SIZE)).astype(np.float32)
    objects = np.concatenate(
        [_shapes(labels[s : s + 1000], centres[s : s + 1000], radii[s : s + 1000],
                 angles[s : s + 1000]) for s in range(0, n, 1000)]
    )  # fmt: skip
    cues = np.zeros((n, SIZE, SIZE), dtype=bool)
    if cue:
        rows = np.arange(STAMP)
        top = corners[:, 0, None, None] + rows[None, :, None]
        left = corners[:, 1, None, None] + rows[None, None, :]
        cues[np.arange(n)[:, None, None], top, left] = True
    else:
        cue_labels[:] = -1
    grey = np.clip(0.5 + noise * noise_field + np.float32(contrast) * objects, 0, 1)
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
    images[:] = grey[:, None]
    i, y, x = np.nonzero(cues)
    images[i, :, y, x] = np.asarray(CUE_COLOURS, dtype=np.float32)[cue_labels[i]]
    return CueData(
        torch.from_numpy(images),
        torch.from_numpy(labels),
        torch.from_numpy(objects),
        torch.from_numpy(cues),
        torch.from_numpy(cue_labels),
    )


def _stamp_places(rng: np.random.Generator, centres: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """A top-left corner ``(n, 2)`` per image for the stamp, at least ``keep`` pixels from the
    centre at every one of its pixels: uniform among such places (rejection sampling)."""
    n = len(centres)
    out = np.full((n, 2), -1)
    todo = np.arange(n)
    while todo.size:
        corner = rng.integers(0, SIZE - STAMP + 1, (todo.size, 2))
        near = np.clip(centres[todo], corner, corner + STAMP)  # the stamp's closest point
        ok = np.hypot(*(near - centres[todo]).T) >= keep[todo]
        out[todo[ok]] = corner[ok]
        todo = todo[~ok]
    return out


class Centre(nn.Module):
    """``x - 0.5``: the images' grey to 0, so that the first layer starts from a centred input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - 0.5


class CueNet(nn.Sequential):
    """Three 3 x 3 conv layers with ReLU (two 2 x 2 max-pools between), global average pooling,
    one linear layer: ``centre`` -> ``features`` (64 x 16 x 16 at 64 x 64 input) -> ``pool``
    -> ``fc``. Input: images in [0, 1] as :func:`planted_cue_data` makes them."""

    def __init__(self, classes: int = len(CLASSES), width: int = 16) -> None:
        c = positive_int(width, "width")
        super().__init__()
        self.centre = Centre()
        self.features = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4 * c, positive_int(classes, "classes"))


def shuffled_labels(data: CueData, seed: int = 0) -> torch.Tensor:
    """The labels of ``data`` in a random order: those :func:`train` learns with
    ``shuffle_labels=True`` and the same ``seed``."""
    g = torch.Generator().manual_seed(positive_int(seed, "seed", minimum=0))
    return data.labels[torch.randperm(len(data), generator=g)]


def train(
    data: CueData,
    *,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    shuffle_labels: bool = False,
    seed: int = 0,
) -> CueNet:
    """A :class:`CueNet` trained on ``data`` with Adam, seeded (``shuffle_labels``: on a random
    permutation of the labels, the model of the data-randomisation test). Returns it in eval
    mode."""
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    lr = in_range(lr, "lr", 0.0)
    seed = positive_int(seed, "seed", minimum=0)
    torch.manual_seed(seed)
    model = CueNet()
    g = torch.Generator().manual_seed(seed)
    labels = data.labels
    if shuffle_labels:  # the first draw of g: the permutation of shuffled_labels(data, seed)
        labels = data.labels[torch.randperm(len(data), generator=g)]
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=g)
        for start in range(0, len(data), batch_size):
            i = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(data.images[i]), labels[i])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, data: CueData, labels: torch.Tensor | None = None) -> float:
    """The share of ``data`` whose top-1 is the label (or ``labels``, e.g. the cue's)."""
    batches = [data.images[s : s + 100] for s in range(0, len(data), 100)]  # fastest here
    predicted = torch.cat([model(b).argmax(dim=1) for b in batches])
    return float((predicted == (data.labels if labels is None else labels)).float().mean())


def test_sets(n: int = 1000) -> dict[str, CueData]:
    """The three test sets of lesson 10, ``n`` images each (seeded): :data:`TEST_SETS`."""
    return {k: planted_cue_data(n, seed=seed, **kw) for k, (kw, seed) in TEST_SETS.items()}


def train_models() -> dict[str, CueNet]:
    """Train every model of :data:`MODELS` as ``studies/train_cue_models.py`` did."""
    out = {}
    for name, (_, _, shuffle, epochs, batch_size) in MODELS.items():
        data, _ = training_data(name)
        out[name] = train(data, epochs=epochs, batch_size=batch_size, shuffle_labels=shuffle)
    return out


def training_data(name: str) -> tuple[CueData, torch.Tensor]:
    """The images the model ``name`` of :data:`MODELS` was trained on, and the labels it
    learned (shuffled for ``"shuffled"``)."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {', '.join(MODELS)}, got {name!r}")
    kw, n, shuffle, _, _ = MODELS[name]
    data = planted_cue_data(TRAINING_IMAGES, seed=TRAINING_SEED, **kw).subset(slice(0, n))
    return data, shuffled_labels(data) if shuffle else data.labels


def load_cue_models(
    names: tuple[str, ...] = LESSON_MODELS, path: Path = WEIGHTS
) -> dict[str, CueNet]:
    """Trained models of lesson 10 (:data:`MODELS`), in eval mode. By default its three:
    ``"clever-hans"`` (the cue agreed with the label 99 % of the time in training), ``"fair"``
    (no cue) and ``"shuffled"`` (128 of the Clever Hans's images, labels shuffled); the
    exercises' ``"clever-hans-95"`` and ``"control"`` on request."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"names must be among {', '.join(MODELS)}, got {unknown}")
    state = torch.load(path, weights_only=True)
    models = {}
    for name in names:
        weights = state[name]
        models[name] = CueNet().to(memory_format=torch.channels_last)  # faster on a CPU
        models[name].load_state_dict(weights)
        models[name].eval()
    return models
