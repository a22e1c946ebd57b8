"""Tests of the sweepd Python package (standard library unittest):

    python3 -m unittest discover -s python/tests -t python
"""
