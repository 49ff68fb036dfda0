"""Evaluation of the correlation engine, outside the domain apps and free of Django: the simulator
of an estate with injected faults (`simulation`, also the demo's live stream) and the scoring of
replayed incidents against its ground truth (`scoring`). `manage.py simulate` / `manage.py replay`
and `bench/correlation.py` drive them through the real ingest."""
