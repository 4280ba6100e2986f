"""Terrarium's benchmark suite: fan-out figures as ratios against baselines, in one run.

Not a test suite: it measures. ``python -m bench`` starts the server under
test (Terrarium inside a real Jupyter server) and two baselines (a bare
Tornado server doing what jupyter_server does, and a ``websockets`` server
using ``broadcast()``), drives them identically from a separate client
process, prints one table per scenario and a summary of the targets T1-T8.
See ``bench/README.md``.
"""
