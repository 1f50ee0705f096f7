"""`python -m ltsi ...` runs the command line (see ltsi/cli.py)."""

from ltsi.cli import main

if __name__ == "__main__":
    main()
