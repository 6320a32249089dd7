"""sc-asterisk benchmarks: each figure measured beside its baseline in the same run.

Run ``python -m bench`` (or ``make bench``); ``--quick`` for a smaller run under five minutes,
``--only NAME`` for one benchmark. Results go to ``bench/results.json`` and a table on stdout.
Benchmarks are not tests: they never fail on timing, they report.
"""
