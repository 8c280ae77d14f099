"""Deterministic synthetic patients for the benchmarks: TOML files in a folder, or rows of one CSV file."""

# python benchmarks/generate.py toml 10000 benchmarks/data/toml-10000
# python benchmarks/generate.py csv 100000 benchmarks/data/rows-100000.csv
#
# The same seed and count give the same bytes. The mix resembles a clinic's list (fictional
# patients): weights in kg and lb, heights in cm and ft/in, some fields not recorded, a few
# unrecognised or misspelt names, a few exclusions and, at --invalid-rate, a file with a
# mistake (a weight without its unit) that `check` must report as invalid.

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

START = date(2026, 12, 1)  # the benchmarks' --start
TENTH = Decimal("0.1")
POUND_KG = Decimal("0.45359237")

CONDITIONS = [
    "treatment-resistant depression",
    "major depressive disorder",
    "generalised anxiety disorder",
    "essential hypertension",
    "type 2 diabetes",
    "asthma",
    "migraine",
    "hypothyroidism",
    "chronic pain",
    "insomnia",
]
MEDICATIONS = [
    "sertraline 100 mg once daily",
    "sertraline 150 mg once daily",
    "fluoxetine 20 mg once daily",
    "escitalopram 10 mg once daily",
    "venlafaxine 150 mg once daily",
    "mirtazapine 30 mg at night",
    "bupropion 150 mg once daily",
    "lorazepam 1 mg at night",
    "lamotrigine 100 mg twice daily",
    "amlodipine 5 mg once daily",
    "ramipril 5 mg once daily",
    "levothyroxine 100 micrograms once daily",
    "metformin 500 mg twice daily",
    "quetiapine 50 mg at night",
    "omeprazole 20 mg once daily",
]
ALLERGIES = ["penicillin", "peanut", "latex", "codeine", "sulfonamides"]
#: Names the vocabulary should not know: each makes a needs-review finding, as it must.
UNRECOGNISED = ["sertralline 100 mg once daily", "xyloprex 20 mg", "schizofrenia", "bloodpressure"]
#: Patient facts that exclude under trd-iv-induction.
EXCLUDING = ["schizophrenia-history", "theophylline", "pregnant", "bp-185"]


def patient(rng: random.Random, n: int, invalid_rate: float) -> dict:
    """One fictional patient as a TOML-shaped dict (names only in lists, so CSV can hold it too)."""
    sex = rng.choice(("female", "male"))
    height_cm = rng.randint(150, 195) if sex == "male" else rng.randint(148, 182)
    # Exact decimals, as everywhere in ketaplan: a BMI of 18.5 to 38.0 gives the weight to 0.1 kg.
    bmi = Decimal(rng.randint(185, 380)) / 10
    weight_kg = (bmi * Decimal(height_cm) ** 2 / 10000).quantize(TENTH, ROUND_HALF_UP)
    p: dict = {"id": f"SYN-{n:06d}"}
    if rng.random() < 0.3:
        born = START - timedelta(days=rng.randint(18 * 366, 75 * 365))
        p["date_of_birth"] = born
    else:
        p["age"] = rng.randint(18, 75)
    p["sex"] = sex
    if rng.random() < 0.2:
        inches = int((Decimal(height_cm) / Decimal("2.54")).quantize(1, ROUND_HALF_UP))
        p["height"] = f"{inches // 12} ft" + (f" {inches % 12} in" if inches % 12 else "")
    else:
        p["height"] = f"{height_cm} cm"
    if rng.random() < 0.25:
        p["weight"] = f"{(weight_kg / POUND_KG).quantize(1, ROUND_HALF_UP)} lb"
    else:
        p["weight"] = f"{weight_kg} kg"
    if rng.random() < 0.9:
        p["weighed_on"] = START - timedelta(days=rng.randint(0, 35))
    if sex == "female" and rng.random() < 0.8:
        p["pregnant"] = False
        p["breastfeeding"] = False
    if rng.random() < 0.9:
        systolic = rng.randint(100, 145)
        p["blood_pressure"] = f"{systolic}/{rng.randint(60, min(systolic - 25, 92))}"
    if rng.random() < 0.8:
        p["heart_rate"] = rng.randint(55, 100)
        p["spo2"] = rng.randint(94, 100)
    if rng.random() < 0.95:
        p["allergies"] = rng.sample(ALLERGIES, k=rng.choice((0, 0, 0, 1, 1, 2)))
    if rng.random() < 0.95:
        p["conditions"] = ["treatment-resistant depression"] + rng.sample(CONDITIONS[2:], k=rng.randint(0, 2))
    if rng.random() < 0.93:
        p["medications"] = rng.sample(MEDICATIONS, k=rng.randint(0, 4))
    if rng.random() < 0.7:
        p["phq9"] = rng.randint(10, 27)
    if rng.random() < 0.3:
        p["madrs"] = rng.randint(20, 50)
    if rng.random() < 0.5:
        p["gad7"] = rng.randint(0, 21)

    roll = rng.random()
    if roll < 0.03:
        name = rng.choice(UNRECOGNISED)
        key = "conditions" if name in ("schizofrenia", "bloodpressure") else "medications"
        p.setdefault(key, []).append(name)
    elif roll < 0.07:
        kind = rng.choice(EXCLUDING)
        if kind == "schizophrenia-history":
            p.setdefault("conditions", []).append("schizophrenia")
        elif kind == "theophylline":
            p.setdefault("medications", []).append("theophylline 200 mg twice daily")
        elif kind == "pregnant" and sex == "female":
            p["pregnant"] = True
        else:
            p["blood_pressure"] = "185/105"
    if rng.random() < invalid_rate:
        p["weight"] = p["weight"].split()[0]  # the unit forgotten: check must say which file and field
    return p


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, date)):
        return str(value) if not isinstance(value, date) else value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


def to_toml(p: dict) -> str:
    scores = {k: p[k] for k in ("phq9", "madrs", "gad7") if k in p}
    lines = [f"{key} = {_toml_value(value)}" for key, value in p.items() if key not in scores]
    if scores:
        lines.append("")
        lines.append("[scores]")
        lines.extend(f"{key} = {value}" for key, value in scores.items())
    return "# Synthetic benchmark patient (fictional).\n" + "\n".join(lines) + "\n"


CSV_COLUMNS = (
    "id", "age", "date_of_birth", "sex", "height", "weight", "weighed_on", "pregnant", "breastfeeding",
    "blood_pressure", "heart_rate", "spo2", "phq9", "madrs", "gad7", "pain_nrs", "allergies", "conditions",
    "medications",
)  # fmt: skip


def to_csv_row(p: dict) -> list[str]:
    def cell(key: str) -> str:
        if key not in p:
            return ""
        value = p[key]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ";".join(value) if value else "none"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    return [cell(key) for key in CSV_COLUMNS]


def write_toml(count: int, folder: str, seed: int, invalid_rate: float) -> None:
    rng = random.Random(seed)
    for n in range(1, count + 1):
        # 100 patients per sub-folder, like a clinic filing by month: the folder walk is tested too.
        sub = os.path.join(folder, f"batch-{(n - 1) // 100:04d}")
        if (n - 1) % 100 == 0:
            os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"SYN-{n:06d}.toml"), "w", encoding="utf-8", newline="\n") as handle:
            handle.write(to_toml(patient(rng, n, invalid_rate)))


def write_csv(count: int, path: str, seed: int, invalid_rate: float) -> None:
    rng = random.Random(seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for n in range(1, count + 1):
            writer.writerow(to_csv_row(patient(rng, n, invalid_rate)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("toml", "csv"))
    parser.add_argument("count", type=int)
    parser.add_argument("target", help="a folder for toml, a file for csv")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--invalid-rate", type=float, default=0.005)
    args = parser.parse_args()
    if args.kind == "toml":
        write_toml(args.count, args.target, args.seed, args.invalid_rate)
    else:
        write_csv(args.count, args.target, args.seed, args.invalid_rate)


if __name__ == "__main__":
    main()
