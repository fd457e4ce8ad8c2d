"""Which packages ship: every package under gitfleet/, found, plus the top-level hooks/ and
templates/ folders, shipped inside it as gitfleet.hooks and gitfleet.templates (DESIGN.md
keeps them at the top level). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["gitfleet", "gitfleet.*"]),
        "gitfleet.hooks",
        "gitfleet.templates",
    ],
    package_dir={"gitfleet.hooks": "hooks", "gitfleet.templates": "templates"},
)
