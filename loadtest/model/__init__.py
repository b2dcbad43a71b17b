"""What a run is made of, as data: a cell's result and its summaries, a soak's record per server.

Written by running/, bench.py and soak.py, read by reporting/; it imports neither.
"""
