"""Unit tests of the core package."""
