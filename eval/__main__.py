"""``python -m eval <command>``: run, score, rescore-judge, compare (see README, section Evaluation).

Errors users can cause print one ``error: ...`` line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from gem_core.errors import GemError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval",
        description="Score GEM, the built-in interpreter or any OpenAI-compatible model on ECG sets.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="ask a backend every question of a set; resumable answers.jsonl")
    r.add_argument("--backend", choices=("measure", "gem", "openai"), required=True)
    r.add_argument(
        "--set", dest="set_spec", required=True, help="a .json/.jsonl set or a folder of WFDB records"
    )
    r.add_argument("--out", required=True, help="run folder (rerunning with the same folder continues)")
    r.add_argument("--model", help="gem: checkpoint path or hub id (GEM_MODEL); openai: model name")
    r.add_argument("--limit", type=int, help="ask only the first N items")
    r.add_argument("--concurrency", type=int, default=1, help="openai: requests in flight (default 1)")
    r.add_argument("--ecg-root", help="folder that relative 'ecg' paths of the set are under")
    r.add_argument("--image-root", help="folder that relative 'image' paths of the set are under")
    r.add_argument("--max-new-tokens", type=int, help="default GEM_MAX_NEW_TOKENS (1024, GEM's setting)")
    r.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("score", help="score a run: report.json, report.md, plots/, scores.jsonl")
    s.add_argument("run_dir")
    s.add_argument("--judge-base-url", help="OpenAI-compatible judge server (.../v1); without it no judge")
    s.add_argument("--judge-model", default=None, help="default gpt-4o-2024-08-06")
    s.add_argument("--judge-concurrency", type=int, default=8, help="judge requests in flight (default 8)")
    s.add_argument("--protocol", choices=("strict", "ecgbench"), default="strict")
    s.add_argument(
        "--ratings-db", help="ratings store URL for the human table (default GEM_DB_URL / data dir)"
    )
    s.add_argument("--campaign", help="only this campaign's ratings in the human table")
    s.add_argument("--no-plots", action="store_true")
    s.add_argument("--no-progress", action="store_true")

    j = sub.add_parser(
        "rescore-judge", help="re-aggregate raw judge outputs (GEM's layout) with the fixed rules"
    )
    j.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    j.add_argument("--out", required=True, help="folder for rescore.json and rescore.md")

    c = sub.add_parser("compare", help="runs side by side with paired bootstrap 95%% CIs of the differences")
    c.add_argument("runs", nargs="+", metavar="RUN_DIR")
    c.add_argument("--out", required=True)
    c.add_argument("--n-boot", type=int, default=2000)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        return _dispatch(args)
    except GemError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was written is kept; rerun the same command to continue", file=sys.stderr)
        return 130


def _dispatch(args) -> int:
    if args.command == "run":
        from eval.run import run
        from gem_core.backends import GenerationParams
        from gem_core.settings import get_settings

        overrides = {}
        if args.model:
            overrides["model" if args.backend == "gem" else "openai_model"] = args.model
        settings = get_settings(**overrides)
        params = GenerationParams(max_new_tokens=args.max_new_tokens or settings.max_new_tokens)
        meta = run(
            args.set_spec,
            args.out,
            args.backend,
            limit=args.limit,
            concurrency=args.concurrency,
            ecg_root=args.ecg_root,
            image_root=args.image_root,
            params=params,
            settings=settings,
            progress=not args.no_progress,
        )
        print(
            json.dumps(
                {k: meta.get(k) for k in ("n_items", "n_answered", "n_failed", "n_missing_files", "status")}
            )
        )
        return 0
    if args.command == "score":
        from eval.judge import DEFAULT_JUDGE_MODEL
        from eval.score import score

        report = score(
            args.run_dir,
            judge_base_url=args.judge_base_url,
            judge_model=args.judge_model or DEFAULT_JUDGE_MODEL,
            judge_api_key=os.environ.get("GEM_JUDGE_API_KEY", os.environ.get("OPENAI_API_KEY", "")),
            judge_concurrency=args.judge_concurrency,
            protocol=args.protocol,
            ratings_db=args.ratings_db,
            campaign=args.campaign,
            plots=not args.no_plots,
            progress=not args.no_progress,
        )
        print(json.dumps(_headline(report)))
        return 0
    if args.command == "rescore-judge":
        from pathlib import Path

        from eval.judge import CRITERIA, rescore
        from eval.report import _f, _table
        from eval.run import _write_json

        result = rescore(args.paths)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "rescore.json", result)
        j = result["judge"]
        rows = [[k, _f(j[k]["mean"], 2), _f(j[k]["sd"], 2), j[k]["n"], j[k]["failed"]] for k in CRITERIA]
        md = [
            "# Judge outputs re-scored (fixed aggregation)",
            "",
            *_table(["criterion", "mean", "SD", "n", "failed"], rows),
        ]
        md += ["", f"{j['n_items']} items; {j['failed']} item-criterion failures."]
        (out / "rescore.md").write_text("\n".join(md) + "\n", encoding="utf-8")
        print(
            json.dumps(
                {k: (j[k]["mean"] if k in CRITERIA else j[k]) for k in (*CRITERIA, "failed", "n_items")}
            )
        )
        return 0
    if args.command == "compare":
        from eval.compare import compare

        result = compare(args.runs, args.out, n_boot=args.n_boot)
        print((__import__("pathlib").Path(args.out) / "compare.md").read_text(encoding="utf-8"))
        return 0 if result else 1
    raise GemError(f"unknown command {args.command}")


def _headline(report: dict) -> dict:
    out = {"items": report["items"]["total"], "answered": report["items"]["answered"]}
    if report.get("classification"):
        out["macro_f1"] = report["classification"]["macro_f1"]
    if report.get("multiple_choice"):
        out["mcq_accuracy"] = report["multiple_choice"]["accuracy"]
    if report.get("grounding"):
        out["grounding_supported_fraction"] = report["grounding"]["supported_fraction"]
    if (report.get("judge") or {}).get("n_items") is not None:
        out["judge_failed"] = report["judge"]["failed"]
    return out


if __name__ == "__main__":
    sys.exit(main())
