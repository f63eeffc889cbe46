"""Jobs: the charts' hook Jobs (`<release>-init-db`, `-init-config`) found and cleared."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional
from urllib.parse import quote

from .errors import JobStillActive
from .transport import Transport, is_true


@dataclass
class JobInfo:
    name: str
    active: int
    succeeded: int
    failed: int
    finished: bool
    condition: Optional[str]              # "Complete" / "Failed" / None
    created: Optional[str] = None

    def describe(self) -> str:
        state = self.condition or ("finished" if self.finished else "running")
        return f"Job {self.name}: {state} (active={self.active}, succeeded={self.succeeded}, failed={self.failed}, created {self.created})"


class Jobs(Transport):
    @staticmethod
    def _job_info(job: dict) -> JobInfo:
        meta = job.get("metadata") or {}
        status = job.get("status") or {}
        conds = status.get("conditions") or []
        condition = None
        for ctype in ("Complete", "Failed"):
            if is_true(conds, ctype):
                condition = ctype
                break
        succeeded = int(status.get("succeeded") or 0)
        return JobInfo(
            name=meta.get("name", ""),
            active=int(status.get("active") or 0),
            succeeded=succeeded,
            failed=int(status.get("failed") or 0),
            finished=succeeded >= 1 or condition is not None,
            condition=condition,
            created=meta.get("creationTimestamp"),
        )

    def _jobs_path(self) -> str:
        return f"/apis/batch/v1/namespaces/{quote(self.namespace, safe='')}/jobs"

    def get_job(self, name: str) -> JobInfo | None:
        job = self._get_or_none(self._jobs_path() + f"/{quote(name, safe='')}", resource="jobs.batch",
                                namespace=self.namespace, name=name)
        return None if job is None else self._job_info(job)

    def hook_jobs(self, names: Iterable[str]) -> list[JobInfo]:
        """The Jobs among `names` that exist (finished or not)."""
        return [job for job in (self.get_job(n) for n in names) if job is not None]

    def delete_job(self, name: str) -> JobInfo | None:
        """Delete a finished Job (propagation Background, so its pods go too).

        Raises `JobStillActive` for a Job that is still running; returns None when it is already gone.
        """
        job = self.get_job(name)
        if job is None:
            return None
        if not job.finished:
            raise JobStillActive(
                f"refusing to delete Job {self.namespace}/{name}: it is still running ({job.describe()}); "
                f"wait for it to finish or investigate it first"
            )
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        self._delete(self._jobs_path() + f"/{quote(name, safe='')}", body, resource="jobs.batch", name=name)
        return job
