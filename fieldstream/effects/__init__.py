"""What the program changed: holdout-based effects of a field program on turnout.

:mod:`.estimate` holds the estimators (plain functions of counts), :mod:`.synthetic` draws
programs with a planted effect to check them against, :mod:`.coverage` runs that check over many
seeds (tests and bench/effects.py).
"""
