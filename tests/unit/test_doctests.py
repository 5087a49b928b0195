"""Every detector module's docstring examples run (from the source: doctest
finds no examples in a compiled module)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import detectors
from tests.harness import source_module

MODULES = sorted(info.name for info in pkgutil.iter_modules(detectors.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"detectors.{name}")
    result = doctest.testmod(source_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, "no runnable example in the module"
