"""Experiments: claims about tuning, tested with automl itself.

Each folder is one experiment, run as `python -m experiments.NAME`; it runs study files with
`automl run`, reads the trials back and writes a page of docs/ from the numbers. Unlike
benchmarks/, which measure what automl costs, an experiment asks whether advice holds. Neither
is part of the installed package.
"""
