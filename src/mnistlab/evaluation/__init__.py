"""Evaluation: what a finished run is worth, read from its folder.

`evaluate` writes metrics.json and plots/, `report` the one HTML page, `compare` a table
of runs; `scores` is the one definition of loss and accuracy that training uses too.
"""
