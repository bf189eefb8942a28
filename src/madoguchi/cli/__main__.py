"""``python -m madoguchi.cli``: the same as the ``madoguchi`` console script."""

from madoguchi.cli import main

main()
