"""`python -m automl`: the same as the `automl` command."""

from automl.cli import main

if __name__ == "__main__":
    main()
