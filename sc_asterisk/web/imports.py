"""Contact imports started from the web: each runs ``contacts.import_contacts`` (the CLI's
import) in a thread of its own while the browser polls its progress; the refused rows are kept
as a CSV file to download.

Jobs live in the web process (a restart forgets them; the import itself is a batch in the
database, and running the same file again changes nothing). The upload and its rejects file
sit in a private temporary directory removed when the job is forgotten: the newest
:data:`KEEP` jobs are kept.
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..contacts import ImportOptions, import_contacts, open_import
from ..db import Database
from ..errors import ScError

KEEP = 20


@dataclass
class ImportJob:
    id: str
    owner: str
    file_name: str
    directory: Path
    total: int = 0                 # bytes to read
    done: int = 0
    state: str = "running"         # running, complete, failed
    error: str | None = None
    summary: dict | None = None
    started: float = field(default_factory=time.time)

    @property
    def upload(self) -> Path:
        return self.directory / self.file_name

    @property
    def rejects(self) -> Path:
        return self.directory / "rejects.csv"

    def view(self) -> dict:
        return {"id": self.id, "file_name": self.file_name, "state": self.state,
                "done": self.done, "total": self.total, "error": self.error,
                "summary": self.summary,
                "rejects": self.rejects.exists() and bool((self.summary or {}).get("rejected"))}


class ImportJobs:
    """The web process's contact imports."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def new(self, owner: str, file_name: str) -> ImportJob:
        """A job with an empty private directory to receive the upload in."""
        name = Path(file_name).name or "upload.csv"
        job = ImportJob(secrets.token_hex(8), owner, name,
                        Path(tempfile.mkdtemp(prefix="sc-import-")))
        with self._lock:
            self._jobs[job.id] = job
            for old in sorted(self._jobs.values(), key=lambda j: j.started)[:-KEEP]:
                if old.state != "running":
                    self._forget(old)
        return job

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def discard(self, job: ImportJob) -> None:
        with self._lock:
            self._forget(job)

    def _forget(self, job: ImportJob) -> None:
        self._jobs.pop(job.id, None)
        shutil.rmtree(job.directory, ignore_errors=True)

    def start(self, job: ImportJob, db: Database, key: str, options: ImportOptions) -> None:
        """Check the file (a bad one is refused here, before any thread), then import it in
        a thread of its own."""
        options.rejects_path = job.rejects
        options.workers = 0      # no fork from the web server's threads
        opened = open_import(job.upload, options)
        job.total = opened[0].total

        def advance(n: int) -> None:
            job.done = min(job.total, job.done + n)

        def run() -> None:
            try:
                summary = import_contacts(db, job.upload, key, options, advance, opened)
            except ScError as exc:
                job.state, job.error = "failed", exc.one_line()
            except Exception as exc:     # noqa: BLE001 - the job reports it, the server lives
                job.state, job.error = "failed", f"import failed: {type(exc).__name__}"
            else:
                job.summary = {"batch": summary.batch_id, "rows": summary.rows,
                               "created": summary.created, "updated": summary.updated,
                               "unchanged": summary.unchanged,
                               "rejected": dict(summary.rejected),
                               "duplicates": summary.duplicates,
                               "blank_rows": summary.blank_rows,
                               "already_imported": summary.reused_batch}
                job.done, job.state = job.total, "complete"
            finally:
                job.upload.unlink(missing_ok=True)     # the rows are in the database now
        threading.Thread(target=run, name=f"import-{job.id}", daemon=True).start()
