"""ECG-Grounding records made from the real records in ../shared/data/ecg, for the training tests.

``grounding_records(shared_ecg_dir, n)`` picks ``n`` 500 Hz 12-lead records with distinct diagnoses from
the folder's ``manifest.csv`` and gives each GEM's question and a short answer written from its labels
(the records' own diagnoses, so each answer belongs to its ECG). ``write_records`` writes them as a
JSON list (GEM's format) or JSONL.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gem_core.prompts import DEFAULT_QUESTION


def grounding_records(shared_ecg_dir: Path, n: int = 8) -> list[dict]:
    rows = list(csv.DictReader((shared_ecg_dir / "manifest.csv").open()))
    records, seen = [], set()
    for row in rows:
        dx = row["dx_names"].strip()
        if row["fs"] != "500" or row["n_leads"] != "12" or not dx or dx in seen:
            continue
        seen.add(dx)
        records.append(
            {
                "id": row["record"],
                "image": f"{row['record']}.png",
                "ecg": f"{row['source_dir']}/{row['record']}",
                "conversations": [
                    {"from": "human", "value": f"<image>\n{DEFAULT_QUESTION}"},
                    {
                        "from": "gpt",
                        "value": f"Diagnosis: {dx}. Recorded at {row['fs']} Hz for {row['duration_s']} s.",
                    },
                ],
                "machine_measurements": {"source": row["dataset"]},
            }
        )
        if len(records) == n:
            break
    assert len(records) == n, f"only {len(records)} distinct records in the manifest"
    return records


def write_records(records: list[dict], path: Path, jsonl: bool = False) -> Path:
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        path.write_text(json.dumps(records, indent=1))
    return path
