"""Fixtures shared by the unit tests: models are loaded once per session."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

import xaiutils as xu

# Property-based tests (tests/test_properties.py): derandomised (the same examples every run, so
# a failure reproduces), no example database (nothing written into the checkout), no deadline
# (this 2-core CPU's timings vary 4x). "ci" (make test, CI): 20 examples per test, about 7 s for
# the whole suite on the idle 2-core CPU (3x that under load);
# HYPOTHESIS_PROFILE=thorough explores more when you change a method.
_COMMON = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=20, **_COMMON)
settings.register_profile("thorough", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def effnet() -> torch.nn.Module:
    return xu.load_model()


@pytest.fixture(scope="session")
def resnet18() -> torch.nn.Module:
    return xu.load_model("resnet18", pretrained=False, seed=0)


@pytest.fixture(scope="session")
def vgg16() -> torch.nn.Module:
    return xu.load_model("vgg16", pretrained=False, seed=0)


@pytest.fixture(scope="session")
def photos_batch() -> torch.Tensor:
    """chelsea, coffee: the two photos whose top-1 the course relies on most."""
    pre = xu.preprocessing()
    return pre([xu.load_photo("chelsea"), xu.load_photo("coffee")])
