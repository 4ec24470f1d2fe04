"""Temporary alias of accelbench.measure.gemm_peak for fourstage.py, which part A of issue 8 is
splitting into job/ in parallel. Delete this file when job/execute.py imports
``accelbench.measure.gemm_peak`` (it is not a backend and registers nothing)."""

from accelbench.measure.gemm_peak import measure_host_gemm, remember_measurements

__all__ = ["measure_host_gemm", "remember_measurements"]
