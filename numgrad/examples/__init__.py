"""Runnable examples; ``python -m numgrad.examples.digits`` trains a CNN on the bundled digits data."""
