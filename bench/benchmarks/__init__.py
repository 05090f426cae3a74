"""One module per benchmark. run.py's (generate, generate_10m, train_throughput, time_to_99,
dvc_noop, predict, space) each have `run(b: common.Bench) -> dict`: it adds its table rows
to `b` and returns the details run.py writes to the JSON. frontier.py's (frontier,
architectures, results) each have SETTINGS, OUT, EXP and `report(rows) -> str`.
"""
