"""Build configuration that pyproject.toml cannot express statically: ship the top-level templates/ and profiles/
folders inside the package (as generator/templates and generator/profiles), so a wheel works from any folder.

Metadata and dependencies live in pyproject.toml; generator/resources.py finds the files in either place.
"""

from setuptools import find_packages, setup

DATA = {"generator.templates": "templates", "generator.profiles": "profiles"}

setup(
    packages=find_packages(include=["generator", "generator.*"]) + sorted(DATA),
    package_dir=DATA,
    package_data={"generator": ["py.typed"], "generator.templates": ["*/*.j2"], "generator.profiles": ["*.json"]},
)
