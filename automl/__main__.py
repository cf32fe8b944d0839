"""`python -m automl`: the same as the `automl` command."""

from automl.cli.app import main

if __name__ == "__main__":
    main()
