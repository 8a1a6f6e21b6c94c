"""GEM's knowledge-guided instruction data: measurements + labels -> an LLM -> grounded, checked answers.

    python -m training.make_data --records DIR --out FILE.json --base-url URL --model NAME [--concurrency N]

For each WFDB record under ``--records``: gem_core measures every beat (``gem_core.features``), the
record's labels come from its header (``# Dx:`` abbreviations or SNOMED CT codes) or a ``--labels`` CSV,
and both go into a prompt to any OpenAI-compatible chat server (``openai``), which writes the grounded
interpretation. Each answer is checked by ``gem_core.grounding`` against the same measurements; one
with a contradicted claim is asked again up to ``--attempts`` times, then dropped and logged. The output
is ECG-Grounding JSON (``training.sft`` reads it, ``--ecg-root`` = ``--records``), rewritten atomically
after every finished record, so a rerun skips the ids already written and a stopped run never leaves a
half-written file. A ``<out>.run.json`` beside it says what ran (settings, commit, counts, dropped ids).

Public API: ``MakeDataConfig``, ``find_records``, ``record_labels``, ``build_prompt``,
``check_answer``, ``make_data(config)`` -> ``MakeDataResult``, ``main(argv)``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a cardiologist writing teaching interpretations of 12-lead ECGs. You are given the machine "
    "measurements of one ECG (per lead and per beat) and its confirmed diagnoses. Write the interpretation "
    "a careful cardiologist would give when reading the tracing: go through rhythm and rate, intervals, "
    "axis, and the P waves, QRS complexes, ST segments and T waves lead by lead, citing the leads and the "
    "measured values that support each finding, then conclude with a diagnosis that agrees with the "
    "confirmed diagnoses. Never state a value or a finding that the measurements contradict. Do not mention "
    "that you were given measurements or labels: write as if reading the ECG itself."
)


@dataclass
class MakeDataConfig:
    records: str
    out: str
    base_url: str
    model: str
    api_key: str = "EMPTY"
    concurrency: int = 4
    attempts: int = 3  # answers asked per record before it is dropped for contradicted claims
    retries: int = 4  # per request, on connection errors, timeouts, 429 and 5xx (exponential backoff)
    backoff_s: float = 1.0
    timeout_s: float = 120.0
    labels_csv: str | None = None
    question: str = DEFAULT_QUESTION
    max_tokens: int = 1024
    temperature: float = 0.7
    limit: int | None = None
    with_image: bool = False  # send the rendered ECG image too (vision models)
    progress: bool = True


@dataclass
class MakeDataResult:
    out: Path
    written: int = 0  # new records this run
    already: int = 0  # ids found in the output from an earlier run
    dropped: list[dict] = field(default_factory=list)  # {"id", "reason"}
    requests: int = 0

    def summary(self) -> str:
        drop = ""
        if self.dropped:
            drop = " (" + ", ".join(f"{d['id']}: {d['reason'][:60]}" for d in self.dropped[:5])
            drop += " ...)" if len(self.dropped) > 5 else ")"
        return (
            f"make_data: {self.written} records written, {self.already} already done, "
            f"{len(self.dropped)} dropped{drop}; {self.requests} requests; output in {self.out}"
        )


# --- records and labels ----------------------------------------------------------------------------------


def find_records(folder: str | Path) -> list[Path]:
    """WFDB headers under ``folder`` (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GemError(f"--records {folder} is not a folder")
    headers = sorted(folder.rglob("*.hea"))
    if not headers:
        raise GemError(f"no WFDB records (.hea) under {folder}")
    return headers


def read_labels_csv(path: str | Path) -> dict[str, list[str]]:
    """``id,labels`` rows (labels separated by ';') -> {id: [label, ...]}."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    except FileNotFoundError:
        raise GemError(f"labels file {path} not found") from None
    if not rows or not {"id", "labels"} <= set(rows[0]):
        raise GemError(f"{path} needs the columns id,labels (labels separated by ';')")
    return {r["id"]: [x.strip() for x in (r["labels"] or "").split(";") if x.strip()] for r in rows}


def label_names(codes: list[str]) -> list[str]:
    """Readable statements for header labels: CPSC/challenge abbreviations and SNOMED CT codes."""
    from gem_core.labels import LABELS

    by_code = {code: lab.name for lab in LABELS.values() for code in lab.snomed}
    names = []
    for code in codes:
        code = str(code).strip()
        if code in LABELS:
            names.append(LABELS[code].name)
        elif code in by_code:
            names.append(by_code[code])
        else:
            names.append(f"SNOMED CT {code}" if code.isdigit() else code)
    return names


def record_labels(ecg, rid: str, csv_labels: dict[str, list[str]] | None) -> list[str]:
    if csv_labels is not None:
        return csv_labels.get(rid, [])
    return label_names(list(ecg.metadata.get("labels") or []))


# --- prompt and checks -----------------------------------------------------------------------------------


def build_prompt(measurements_text: str, labels: list[str], question: str = DEFAULT_QUESTION) -> str:
    """The user message: the question the answer must address, the confirmed diagnoses, the measurements."""
    diagnoses = "; ".join(labels) if labels else "none given (describe what the measurements show)"
    return (
        f"Question the interpretation answers: {question}\n\n"
        f"Confirmed diagnoses: {diagnoses}\n\n"
        f"Machine measurements (times in ms, amplitudes in mV, one value per beat):\n{measurements_text}"
    )


def check_answer(text: str, measurements) -> list[dict]:
    """The contradicted claims of ``text`` (``gem_core.grounding``); empty when nothing is contradicted."""
    from gem_core.grounding import ground

    result = ground(text, measurements, final=True)
    claims = result["claims"] if isinstance(result, dict) else result
    return [c for c in claims if c.get("verdict") == "contradicted"]


# --- talking to the server -------------------------------------------------------------------------------


class ServerDown(GemError):
    """The server cannot be reached (or refuses every try): the whole run stops."""


def chat(client, config: MakeDataConfig, messages: list[dict], counter: list[int], lock) -> str:
    """One chat completion with retries and exponential backoff (with jitter) on transient failures."""
    import openai

    delay = config.backoff_s
    for attempt in range(config.retries + 1):
        with lock:
            counter[0] += 1
        try:
            response = client.chat.completions.create(
                model=config.model,
                messages=messages,
                max_tokens=config.max_tokens,
                temperature=config.temperature,
            )
            text = (response.choices[0].message.content or "").strip() if response.choices else ""
            if not text:
                raise GemError("the server answered with an empty message")
            return text
        except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError) as err:
            transient, why = True, f"{type(err).__name__}: {err}"
        except openai.APIStatusError as err:
            transient, why = err.status_code >= 500, f"HTTP {err.status_code}: {err.message}"
            if not transient:
                raise ServerDown(
                    f"the server at {config.base_url} refused the request ({why}); check --model and --api-key"
                ) from None
        if attempt == config.retries:
            raise ServerDown(
                f"cannot get an answer from {config.base_url} after {config.retries + 1} tries ({why}); "
                "is the server running?"
            )
        time.sleep(delay * (1 + random.random() / 4))
        delay *= 2
    raise AssertionError("unreachable")


def image_part(ecg) -> dict:
    import base64
    import io

    from gem_core.render import ecg_image

    buf = io.BytesIO()
    ecg_image(ecg, "12x1").save(buf, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
    }


# --- the run ---------------------------------------------------------------------------------------------


def load_done(out: Path) -> list[dict]:
    """Records already in ``out`` (from an earlier run); a broken file is an error, never overwritten."""
    if not out.exists():
        return []
    from training.data import read_records

    return read_records(out)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def prepare(header: Path, root: Path, config: MakeDataConfig, csv_labels) -> dict:
    """Load, measure and build the messages for one record."""
    from gem_core.ecg import load_ecg
    from gem_core.features import machine_measurements_text, measure

    ecg = load_ecg(header)
    rid = header.stem
    measurements = measure(ecg)
    text = machine_measurements_text(measurements)
    labels = record_labels(ecg, rid, csv_labels)
    prompt = build_prompt(text, labels, config.question)
    user: str | list = prompt
    if config.with_image:
        user = [{"type": "text", "text": prompt}, image_part(ecg)]
    return {
        "id": rid,
        "ecg": str(header.relative_to(root).with_suffix("")),
        "measurements": measurements,
        "machine_measurements": text,
        "labels": labels,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
    }


def make_data(config: MakeDataConfig) -> MakeDataResult:
    """Generate (or continue) the instruction data; see the module docstring."""
    import openai
    from tqdm.auto import tqdm

    if config.concurrency < 1 or config.attempts < 1 or config.retries < 0:
        raise GemError("--concurrency and --attempts must be at least 1, --retries at least 0")
    root = Path(config.records)
    headers = find_records(root)
    out = Path(config.out)
    if not out.parent.is_dir():
        raise GemError(f"the folder of --out ({out.parent}) does not exist")
    csv_labels = read_labels_csv(config.labels_csv) if config.labels_csv else None
    done = load_done(out)
    done_ids = {str(r.get("id")) for r in done}
    todo = [h for h in headers if h.stem not in done_ids][: config.limit]
    result = MakeDataResult(out=out, already=len(done_ids & {h.stem for h in headers}))
    client = openai.OpenAI(
        base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_s, max_retries=0
    )
    lock = threading.Lock()
    counter = [0]
    records = list(done)
    stop = threading.Event()

    def work(header: Path) -> dict | None:
        if stop.is_set():
            return None
        try:
            item = prepare(header, root, config, csv_labels)
        except Exception as err:  # loading or measuring a bad file fails in many library-specific ways
            return {"id": header.stem, "dropped": f"unreadable record: {type(err).__name__}: {err}"}
        problems: list[dict] = []
        for _ in range(config.attempts):
            if stop.is_set():
                return None
            answer = chat(client, config, item["messages"], counter, lock)
            problems = check_answer(answer, item["measurements"])
            if not problems:
                return {
                    "id": item["id"],
                    "ecg": item["ecg"],
                    "conversations": [
                        {"from": "human", "value": f"<image>\n{config.question}"},
                        {"from": "gpt", "value": answer},
                    ],
                    "machine_measurements": item["machine_measurements"],
                    "labels": item["labels"],
                }
        claims = "; ".join(f"'{c.get('text')}' ({c.get('measured', '')})" for c in problems[:3])
        return {"id": item["id"], "dropped": f"contradicted claims after {config.attempts} answers: {claims}"}

    failure: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        futures = [pool.submit(work, h) for h in todo]
        bar = tqdm(total=len(futures), desc="records", disable=not config.progress)
        for future in as_completed(futures):
            bar.update()
            try:
                got = future.result()
            except BaseException as err:  # the first failure stops the run; the rest are cancelled
                if not failure:
                    failure.append(err)
                stop.set()
                for f in futures:
                    f.cancel()
                continue
            if got is None:
                continue
            if "dropped" in got:
                log.warning("dropped %s: %s", got["id"], got["dropped"])
                result.dropped.append({"id": got["id"], "reason": got["dropped"]})
                continue
            records.append(got)
            result.written += 1
            write_atomic(out, json.dumps(records, indent=1, ensure_ascii=False) + "\n")
        bar.close()
    result.requests = counter[0]
    if result.written or not failure:  # a run that wrote nothing and failed leaves no file behind
        write_run_info(out, config, result, status="stopped" if failure else "finished")
    if failure:
        err = failure[0]
        kept = (
            f"{result.written} new record(s) kept in {out}; rerun to continue"
            if result.written
            else ("nothing was written")
        )
        if isinstance(err, GemError):
            raise GemError(f"{err}; {kept}") from None
        raise err
    return result


def write_run_info(out: Path, config: MakeDataConfig, result: MakeDataResult, status: str) -> None:
    from training.sft import git_commit

    cfg = dataclasses.asdict(config)
    cfg["api_key"] = "***" if config.api_key not in ("", "EMPTY") else config.api_key
    payload = {
        "step": "make_data",
        "status": status,
        "config": cfg,
        "commit": git_commit(),
        "written": result.written,
        "already": result.already,
        "requests": result.requests,
        "dropped": result.dropped,
        "system_prompt": SYSTEM_PROMPT,
    }
    write_atomic(out.with_name(out.name + ".run.json"), json.dumps(payload, indent=2) + "\n")


def dry_run(config: MakeDataConfig) -> str:
    """The messages that would be sent for the first record not yet done (nothing is sent)."""
    root = Path(config.records)
    headers = find_records(root)
    done_ids = {str(r.get("id")) for r in load_done(Path(config.out))}
    todo = [h for h in headers if h.stem not in done_ids]
    if not todo:
        raise GemError(f"every record under {root} is already in {config.out}")
    csv_labels = read_labels_csv(config.labels_csv) if config.labels_csv else None
    item = prepare(todo[0], root, dataclasses.replace(config, with_image=False), csv_labels)
    return f"# record {item['id']} ({item['ecg']})\n# system\n{SYSTEM_PROMPT}\n# user\n{item['messages'][1]['content']}"


# --- command line ----------------------------------------------------------------------------------------


def parser():
    import argparse

    from training.cli import Parser

    d = MakeDataConfig(records="", out="", base_url="", model="")
    p = Parser(
        prog="python -m training.make_data",
        description="Write GEM-style grounded instruction data for a folder of ECGs with an OpenAI-compatible LLM.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--records", required=True, help="folder of WFDB records (searched recursively)")
    p.add_argument("--out", required=True, help="ECG-Grounding JSON to write (a rerun continues it)")
    p.add_argument(
        "--base-url", required=True, help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    p.add_argument("--model", required=True, help="model name on that server")
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--concurrency", type=int, default=d.concurrency, help="requests in flight")
    p.add_argument("--attempts", type=int, default=d.attempts, help="answers per record before dropping it")
    p.add_argument("--retries", type=int, default=d.retries, help="per request, with exponential backoff")
    p.add_argument("--backoff", type=float, default=d.backoff_s, help="first backoff delay (s)")
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="per request (s)")
    p.add_argument("--labels", help="CSV with columns id,labels (';'-separated); default: the headers' Dx")
    p.add_argument("--question", default=d.question)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--limit", type=int, help="at most N new records")
    p.add_argument("--with-image", action="store_true", help="send the rendered ECG image (vision models)")
    p.add_argument("--dry-run", action="store_true", help="print the prompt for one record and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    config = MakeDataConfig(
        records=args.records,
        out=args.out,
        base_url=args.base_url,
        model=args.model,
        api_key=args.api_key,
        concurrency=args.concurrency,
        attempts=args.attempts,
        retries=args.retries,
        backoff_s=args.backoff,
        timeout_s=args.timeout,
        labels_csv=args.labels,
        question=args.question,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        limit=args.limit,
        with_image=args.with_image,
        progress=not args.quiet,
    )
    try:
        if args.dry_run:
            print(dry_run(config))
            return 0
        result = make_data(config)
    except GemError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
