"""Fixtures shared by the unit tests: models are loaded once per session."""

import pytest
import torch

import xaiutils as xu


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
