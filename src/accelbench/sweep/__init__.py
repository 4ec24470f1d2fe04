"""Sweeps: many configurations, measured once each, on every device you have, wherever it is.

plan.py reads and checks a TOML plan and expands it into configurations (SweepItem); identity.py
gives each a stable hash; resume.py decides from the store what to measure, skip or retry;
estimate.py says how long; executor.py measures on this machine, ray_executor.py on every device
of a Ray cluster; runner.py drives either one and stores each record as it finishes (the only
writer); cluster_run.py runs the four-stage job on every device of a cluster. devices.py names
devices and the Ray resources that advertise them. See docs/sweep.md and docs/cluster.md.
"""
