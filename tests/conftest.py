"""Shared test set-up: pytest-jupyter's server fixtures for the whole suite."""

pytest_plugins = ["pytest_jupyter.jupyter_server"]
