"""The lesson's four claims about tuning, measured with automl itself.

`python -m experiments.lesson` runs the study files in studies/lesson/ (runs.py), judges each
claim from the trials (claim1.py .. claim4.py, with stats.py, trials.py and betas.py), draws the
figures (plots.py) and writes docs/lesson-findings.md (page.py); docs/lesson/results.json keeps
the trials, so the page can be rendered again without training.
"""
