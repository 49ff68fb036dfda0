"""Mine log templates from a file: one message per line in, `LineId,EventId,EventTemplate` out."""
from __future__ import annotations

import csv
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from correlation.logtemplates import TemplateMiner


class Command(BaseCommand):
    help = "Reduce every line of FILE (one log message per line) to its template; write LineId,EventId,EventTemplate."

    def add_arguments(self, parser):
        parser.add_argument("file", help="log messages, one per line (UTF-8; CRLF is fine)")
        parser.add_argument("--output", "-o", required=True, help="CSV to write ('-' for standard output)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, **o):
        try:
            with open(o["file"], encoding="utf-8", errors="replace", newline="") as fh:
                lines = [line.rstrip("\r\n") for line in fh]
        except OSError as exc:
            raise CommandError(f"cannot read {o['file']}: {exc.strerror}") from exc
        miner = TemplateMiner()
        # Templates generalise as lines come in: each line's final template is written once all are read.
        ids = [miner.add(line).template_id for line in tqdm(lines, unit="line", disable=o["quiet"], file=sys.stderr)]
        try:
            out = sys.stdout if o["output"] == "-" else open(o["output"], "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {o['output']}: {exc.strerror}") from exc
        try:
            writer = csv.writer(out)
            writer.writerow(["LineId", "EventId", "EventTemplate"])
            for n, tid in enumerate(ids, start=1):
                live = miner.resolve(tid)
                writer.writerow([n, f"E{live}", miner.templates[live].text])
        finally:
            if out is not sys.stdout:
                out.close()
        if not o["quiet"]:
            self.stderr.write(f"{len(lines)} lines, {len(miner.templates)} templates -> {o['output']}")
