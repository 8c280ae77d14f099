"""Where `ketaplan check`'s time goes, per patient: each stage timed around its call, in one process.

# python benchmarks/bench_stages.py [--count 10000] [--protocol examples/protocols/trd-iv-induction.toml] [--runs 3]

Not a ratio against a floor (bench_batch.py is the measure): a profile to read beside it. The stages
are the calls `check` makes for a patient TOML file, in its order, over the generated files
(benchmarks/generate.py, seed 2026): reading the file, decoding it, the tomllib parse, the loader's
validation (`patient_from_table`), the engine's `Inputs` and `decide()`. A second `tomllib` parse of the
same text ("floor parse") shows what the parse costs in this loop. The first run fills the run's memos
(distinct lists, weights, dates) as `check` does; later runs find them filled. Files that the loader
refuses are left out of the figures (about 0.5 %).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from time import perf_counter

from _common import DATA, PROTOCOL, REPO, START, load_average, machine

sys.path.insert(0, str(REPO))
os.environ.setdefault("KETAPLAN_CACHE_DIR", str(DATA / "cache"))  # as the other scripts' runs

STAGES = ("read", "decode", "parse", "validate", "inputs", "decide", "floor parse")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--protocol", default=str(PROTOCOL))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from ketaplan import api, batch
    from ketaplan.engine.plan import Inputs, decide
    from ketaplan.errors import KetaplanError, PatientError
    from ketaplan.load.patient import patient_from_table
    from ketaplan.load.protocol import load_protocol_file
    from ketaplan.load.reader import Source, decode, parse_toml, read_regular_file

    folder = DATA / f"toml-{args.count}"
    if not (folder / ".complete").exists():
        sys.exit(f"no data: run python benchmarks/bench_batch.py --count {args.count} (or generate.py) first")
    files = [path for path, problem in batch._toml_files_below(str(folder)) if problem is None]
    loaded_protocol = load_protocol_file(args.protocol)
    start, now, today = date.fromisoformat(START), datetime.now(UTC).replace(microsecond=0), date.today()
    provider, version = api.holiday_provider(loaded_protocol)
    print(f"machine: {machine()}; load average at start {load_average()}")
    print(f"{len(files)} files in {folder.relative_to(REPO)}; protocol {Path(args.protocol).name}; µs per patient")
    print("run  " + "".join(f"{name:>12}" for name in STAGES) + f"{'sum':>10}")
    for run in range(1, args.runs + 1):
        totals = dict.fromkeys(STAGES, 0.0)
        counted = 0
        for path in files:
            t0 = perf_counter()
            data = read_regular_file(path, PatientError, "patient")
            t1 = perf_counter()
            text = decode(data, path, PatientError)
            t2 = perf_counter()
            document = parse_toml(text, path, PatientError)
            t3 = perf_counter()
            try:
                patient = patient_from_table(document, Source(path, text, PatientError), start)
            except KetaplanError:
                continue
            t4 = perf_counter()
            inputs = Inputs(start, now, today, "", loaded_protocol.sha256, provider, version, path, loaded_protocol.name)
            t5 = perf_counter()
            try:
                decide(patient, loaded_protocol.protocol, inputs)
            except KetaplanError:
                continue
            t6 = perf_counter()
            tomllib.loads(text, parse_float=Decimal)
            t7 = perf_counter()
            for name, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)):
                totals[name] += seconds
            counted += 1
        per = {name: totals[name] / counted * 1e6 for name in STAGES}
        own = sum(per[name] for name in STAGES[:-1])
        print(f"{run:<5}" + "".join(f"{per[name]:>12.1f}" for name in STAGES) + f"{own:>10.1f}")
    print(f"load average at end {load_average()}")


if __name__ == "__main__":
    main()
