"""The package metadata installs without warnings (#27: setuptools' licence-table deprecation printed on every install)."""

import warnings
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_pyproject_reads_without_deprecation_warnings():
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated
        config = pyprojecttoml.read_configuration(PYPROJECT)
    assert config["project"]["license"] == "Apache-2.0"  # an SPDX expression, not a table


def test_the_build_asks_for_a_setuptools_that_reads_spdx_licences():
    tomllib = pytest.importorskip("tomllib")
    requires = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    assert "setuptools>=77" in requires
