"""The scenario fuzzer: random estates, faults and noise, written as replayable streams with their truth.

    .venv/bin/python -m bench.fuzz --family mesh --seed 3 --out DIR [--hours 12] [--metric-interval 60]

See `bench.fuzz.scenario` for what is drawn at random, and `bench/correlation.py --fuzz` for scoring.
"""
