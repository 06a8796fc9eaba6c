"""Shim so `pip install -e .` works with the metadata in setup.cfg."""
from setuptools import setup

setup()
