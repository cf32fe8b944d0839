"""`python -m benchmarks.compare`: see the package's docstring."""

from benchmarks.compare.run import main

main()
