"""The only module that talks to Label Studio (label-studio-sdk 2.x, raw HTTP where it lacks).

Connection: `LABEL_STUDIO_URL` + `LABEL_STUDIO_API_KEY` (the SDK's own names) select any server;
else `[label_studio] url` in corpus.toml with the key from `LABEL_STUDIO_API_KEY`; else the
embedded server recorded by `corpus server start`. Every failure becomes a `LabelStudioError`
naming the URL and what to do; the API key is never put in a message.

This module only speaks HTTP (requests, retries, pagination, snapshots); what to push, the
ledger of pushed tasks and project set-up rules live in `corpus.labelstudio.push`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from corpus.errors import LabelStudioError
from corpus.lock import temp_path
from corpus.workspace import Workspace

PROJECT_STATE = "project"
EMBEDDED = "embedded"
LIST_PAGE = 1000  # tasks per listing request (keyset pagination on the task id)
IMPORT_TIMEOUT = 600.0  # one bulk import request; a 2,000-task batch takes 2-4 s
# A server that stops answering must not hang a command: every request has a connect and a read
# timeout (CORPUS_LS_TIMEOUT seconds, default 60; bulk imports get IMPORT_TIMEOUT to read).
CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "CORPUS_LS_TIMEOUT"
RETRIES = 5  # per batch, on 5xx / 429 / connection errors, with exponential backoff
RELATIONS_KEY = "relations"  # the <Relations> block in config_labels()


@dataclass
class PushCounts:
    sent: int = 0
    batches: int = 0
    retries: int = 0
    recovered: int = 0  # tasks of a failed request that the server had committed after all


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _server_message(body: Any) -> str:
    """The human part of a Label Studio error body (DRF: {"field": ["msg"]} or {"detail"})."""
    if isinstance(body, dict):
        if isinstance(body.get("validation_errors"), dict) and body["validation_errors"]:
            return _server_message(body["validation_errors"])  # {"detail": "Validation error"}
        if "detail" in body and body["detail"]:
            return str(body["detail"])
        parts = []
        for key, value in body.items():
            if key in ("id", "status_code", "version", "exc_info"):
                continue
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            parts.append(f"{key}: {value}")
        return "; ".join(parts) or json.dumps(body)[:500]
    return str(body)[:1000]


def request_timeout() -> float:
    """Seconds a request may wait for an answer: CORPUS_LS_TIMEOUT, else 60."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LabelStudioError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds above 0.",
            hint=f"Set {TIMEOUT_ENV} to e.g. 120, or unset it (default {DEFAULT_TIMEOUT:.0f}).",
        )
    return value


def check_url(url: str, origin: str) -> None:
    """A clear error for an address httpx cannot use (rather than a traceback later)."""
    where = {"env": "LABEL_STUDIO_URL", "config": "[label_studio] url in corpus.toml"}.get(
        origin, "The Label Studio URL"
    )
    try:
        parsed = httpx.URL(url)
        ok = parsed.scheme in ("http", "https") and bool(parsed.host)
        problem = "it needs http:// or https:// and a host"
    except (httpx.InvalidURL, ValueError) as e:
        ok, problem = False, str(e)
    if not ok:
        raise LabelStudioError(
            f"{where} {url!r} is not a usable address ({problem}).",
            hint="Use the server's base address, e.g. http://localhost:8080.",
        )


def task_sentence_id(task: dict[str, Any]) -> str:
    return str((task.get("data") or {}).get("sentence_id") or "")


def refresh_project_url(ws: Workspace | None, base_url: str) -> None:
    """Point the recorded embedded-server project at the server's current port."""
    state = ws.read_state(PROJECT_STATE) if ws is not None else {}
    if state.get("server") == EMBEDDED and state.get("project_id"):
        url = f"{base_url}/projects/{state['project_id']}/data"
        if state.get("url") != url:
            ws.write_state(PROJECT_STATE, {**state, "url": url})


class LabelStudio:
    """A connection to one Label Studio server (use `LabelStudio.connect(workspace)`)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        workspace: Workspace | None = None,
        origin: str = "explicit",
        transport: httpx.BaseTransport | None = None,
        retry_wait: float = 1.0,
    ):
        check_url(url, origin)
        self.url = url.rstrip("/")
        self.timeout = request_timeout()
        self.workspace = workspace
        self.origin = origin  # "embedded" | "env" | "config" | "explicit"
        self.retry_wait = retry_wait
        self._api_key = api_key
        local = httpx.URL(self.url).host in ("127.0.0.1", "localhost", "::1")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
            transport=transport,
            trust_env=not local,  # a proxy from the environment must not catch 127.0.0.1
        )
        self._sdk_client: Any = None

    @property
    def sdk(self) -> Any:
        """The label-studio-sdk client, made on first use (importing the SDK takes ~1.5 s, and
        a push does not need it)."""
        if self._sdk_client is None:
            from label_studio_sdk import LabelStudio as SDK

            self._sdk_client = SDK(
                base_url=self.url,
                api_key=self._api_key,
                httpx_client=self._http,
                timeout=self.timeout,
            )
        return self._sdk_client

    def __repr__(self) -> str:  # never shows the key
        return f"LabelStudio({self.url!r}, origin={self.origin!r})"

    # --- connection -------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        workspace: Workspace | None = None,
        *,
        check: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> LabelStudio:
        """The server to use: LABEL_STUDIO_URL/KEY, else corpus.toml's url, else the embedded."""
        url = os.environ.get("LABEL_STUDIO_URL", "").strip()
        origin = "env"
        if not url and workspace is not None:
            url = str(workspace.section("label_studio").get("url") or "").strip()
            origin = "config"
        if url:
            key = os.environ.get("LABEL_STUDIO_API_KEY", "").strip()
            if not key:
                raise LabelStudioError(
                    "LABEL_STUDIO_API_KEY is not set, so the server cannot be used.",
                    url=url,
                    hint="Copy your access token from Label Studio (Account & Settings) into "
                    "LABEL_STUDIO_API_KEY, or unset LABEL_STUDIO_URL to use the embedded server.",
                )
        else:
            from corpus.labelstudio import server  # process handling: only for the embedded one

            info = server.read_info(workspace) if workspace is not None else None
            if info is None or not server.is_our_server(info.pid, Path(info.data_dir)):
                raise LabelStudioError(
                    "No Label Studio server to talk to: the embedded server is not running and "
                    "LABEL_STUDIO_URL is not set.",
                    hint="Run `corpus server start`, or set LABEL_STUDIO_URL and "
                    "LABEL_STUDIO_API_KEY to use your own server.",
                )
            url, key, origin = info.url, info.api_key, EMBEDDED
        client = cls(url, key, workspace=workspace, origin=origin, transport=transport)
        if check:
            client.whoami()
        if origin == EMBEDDED:
            refresh_project_url(workspace, url)
        return client

    @property
    def server_key(self) -> str:
        """Which server a recorded project lives on (the embedded one changes port per start)."""
        return EMBEDDED if self.origin == EMBEDDED else self.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabelStudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors -----------------------------------------------------------------------------

    def _error(self, what: str, status: int | None, body: Any) -> LabelStudioError:
        msg = _redact(_server_message(body), self._api_key)
        if status in (401, 403):
            hint = (
                "The embedded server's key is recorded by `corpus server start`: run it again."
                if self.origin == EMBEDDED
                else "Check LABEL_STUDIO_API_KEY: copy the access token from Label Studio "
                "(Account & Settings)."
            )
            return LabelStudioError(
                f"Label Studio rejected the API key while trying to {what} (HTTP {status}: {msg})",
                url=self.url,
                hint=hint,
            )
        if status == 404:
            return LabelStudioError(
                f"Not found while trying to {what} (HTTP 404: {msg})",
                url=self.url,
                hint="Was the project deleted in Label Studio? Run `corpus project create`."
                if "project" in what
                else None,
            )
        if status is not None and status >= 500:
            return LabelStudioError(
                f"Label Studio failed while trying to {what} (HTTP {status}: {msg[:300]})",
                url=self.url,
                hint="See the server's log (embedded: .corpus/label-studio.log), then re-run.",
            )
        return LabelStudioError(
            f"Label Studio refused to {what} (HTTP {status}: {msg})", url=self.url
        )

    def _not_label_studio(self, what: str, r: httpx.Response) -> LabelStudioError | None:
        """An error when `r` is not an answer of Label Studio's API (which always sends JSON),
        e.g. a web page at a wrong LABEL_STUDIO_URL; None when it is JSON (or empty)."""
        ctype = r.headers.get("content-type", "")
        if "json" in ctype or not r.content:
            return None
        return LabelStudioError(
            f"The server does not answer like Label Studio's API: asked to {what}, it sent "
            f"HTTP {r.status_code} {ctype.split(';')[0].strip() or 'without a content type'} "
            "instead of JSON",
            url=self.url,
            hint="Check LABEL_STUDIO_URL: the base address of a Label Studio server, e.g. "
            "http://localhost:8080 (no path), or unset it to use the embedded server.",
        )

    def _unreachable(self, what: str, exc: Exception) -> LabelStudioError:
        if isinstance(exc, httpx.TimeoutException):
            limit = self.timeout if not isinstance(exc, httpx.ConnectTimeout) else CONNECT_TIMEOUT
            return LabelStudioError(
                f"Label Studio did not answer within {min(limit, self.timeout):g} s while "
                f"trying to {what} ({type(exc).__name__})",
                url=self.url,
                hint="The server may be frozen or overloaded: check it (embedded: `corpus server "
                f"status`, .corpus/label-studio.log); {TIMEOUT_ENV}=SECONDS waits longer.",
            )
        hint = (
            "Start it with `corpus server start`."
            if self.origin == EMBEDDED
            else "Check that LABEL_STUDIO_URL is right and the server is up, or unset it to use "
            "the embedded server (`corpus server start`)."
        )
        return LabelStudioError(
            f"Cannot reach Label Studio to {what} ({type(exc).__name__}: "
            f"{_redact(str(exc), self._api_key) or 'no answer'})",
            url=self.url,
            hint=hint,
        )

    def _sdk(self, what: str, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        from label_studio_sdk.core.api_error import ApiError  # the SDK: ~1.5 s, only when used

        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            raise self._error(what, e.status_code, e.body) from None
        except httpx.TransportError as e:
            raise self._unreachable(what, e) from None

    def _headers(self) -> dict[str, str]:
        if self._api_key.startswith("eyJ") and self._api_key.count(".") == 2:
            # A personal access token (JWT): the SDK exchanges and refreshes it.
            return {"Authorization": self.sdk._client_wrapper.get_headers()["Authorization"]}
        return {"Authorization": f"Token {self._api_key}"}  # a legacy token

    def _raw(self, method: str, path: str, what: str, ok: tuple[int, ...] = (200,), **kw: Any):
        """A raw API call; raises LabelStudioError unless the status is in `ok`."""
        try:
            r = self._http.request(method, path, headers=self._headers(), **kw)
        except httpx.TransportError as e:
            raise self._unreachable(what, e) from None
        if (bad := self._not_label_studio(what, r)) is not None:
            raise bad
        if r.status_code not in ok:
            try:
                body = r.json()
            except ValueError:
                body = r.text
            raise self._error(what, r.status_code, body)
        return r

    # --- server -----------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        r = self._raw("GET", "/api/current-user/whoami", "check the API key")
        return r.json()

    def version(self) -> str:
        r = self._raw("GET", "/api/version/", "read the server version")
        return r.json().get("release", "")

    # --- projects ---------------------------------------------------------------------------

    def validate_config(self, config_xml: str, project_id: int | None = None) -> None:
        """Have the server validate a labeling config (with a project: against its labels)."""
        path = f"/api/projects/{project_id}/validate/" if project_id else "/api/projects/validate/"
        try:
            r = self._http.post(path, json={"label_config": config_xml}, headers=self._headers())
        except httpx.TransportError as e:
            raise self._unreachable("validate the labeling config", e) from None
        if r.status_code in (200, 204):
            return
        if r.status_code == 400:
            try:
                msg = _server_message(r.json())
            except ValueError:
                msg = r.text[:1000]
            raise LabelStudioError(
                f"Label Studio rejected the labeling config: {msg}",
                url=self.url,
                hint="The config is generated from the workspace ontology: fix the ontology "
                "file and run `corpus project create` again.",
            )
        raise self._error("validate the labeling config", r.status_code, r.text)

    def get_project(self, project_id: int) -> dict[str, Any] | None:
        r = self._raw("GET", f"/api/projects/{project_id}/", "read the project", ok=(200, 404))
        return r.json() if r.status_code == 200 else None

    def labels_in_use(self, project_id: int, roles: bool = False) -> dict[str, dict[str, int]]:
        """How many annotations/drafts use each label, per control (and relation roles).

        Labels come from the server's project summary (annotations and drafts); relation roles
        are not in it, so with `roles=True` the annotations are read from an export snapshot.
        """
        r = self._raw("GET", f"/api/projects/{project_id}/summary/", "read the project summary")
        summary = r.json()
        used: dict[str, dict[str, int]] = {}
        for key in ("created_labels", "created_labels_drafts"):
            for control, labels in (summary.get(key) or {}).items():
                for label, n in (labels or {}).items():
                    if n:
                        slot = used.setdefault(control, {})
                        slot[label] = slot.get(label, 0) + int(n)
        if roles:
            with tempfile.TemporaryDirectory() as tmp:
                dest = Path(tmp) / "export.json"
                self.export_json(project_id, dest, only_annotated=True, predictions=False)
                tasks = json.loads(dest.read_text(encoding="utf-8"))
            for task in tasks:
                for ann in task.get("annotations") or []:
                    for res in ann.get("result") or []:
                        if res.get("type") == "relation":
                            for role in res.get("labels") or []:
                                slot = used.setdefault(RELATIONS_KEY, {})
                                slot[role] = slot.get(role, 0) + 1
        return used

    def create_project(
        self, title: str, label_config: str, description: str = "", instructions: str = ""
    ) -> int:
        """A new project that is not the workspace's main one (e.g. pull's review project):
        the config is validated by the server, workspace state "project" is left alone, and
        annotators see predictions."""
        self.validate_config(label_config)
        project = self._sdk(
            "create the project",
            self.sdk.projects.create,
            title=title,
            label_config=label_config,
            description=description,
            expert_instruction=instructions,
            show_instruction=bool(instructions),
            show_collab_predictions=True,
        )
        return int(project.id)

    def new_project(self, fields: dict[str, Any]) -> int:
        """Create a project with these fields (title, label_config, ...); its id."""
        project = self._sdk("create the project", self.sdk.projects.create, **fields)
        return int(project.id)

    def update_project(self, project_id: int, fields: dict[str, Any]) -> None:
        self._sdk("update the project", self.sdk.projects.update, project_id, **fields)

    def prediction_versions(self, project_id: int) -> dict[int, str]:
        """prediction id -> model_version for a project's predictions (the export lists
        prediction ids only; a review pull needs to know which version a decision started
        from). One request: meant for small projects such as the review project."""
        r = self._raw(
            "GET", "/api/predictions/", "list the predictions", params={"project": project_id}
        )
        body = r.json()
        items = body.get("results", []) if isinstance(body, dict) else body
        return {int(p["id"]): str(p.get("model_version") or "") for p in items}

    @property
    def project_state(self) -> dict[str, Any]:
        return self.workspace.read_state(PROJECT_STATE) if self.workspace else {}

    @property
    def project_id(self) -> int:
        """The workspace's project on this server (from workspace state "project")."""
        state = self.project_state
        if not state.get("project_id"):
            raise LabelStudioError(
                "This workspace has no Label Studio project yet.",
                url=self.url,
                hint="Run `corpus project create` first.",
            )
        if state.get("server", self.server_key) != self.server_key:
            raise LabelStudioError(
                f"The workspace's project {state['project_id']} is on another server "
                f"({state.get('server')}).",
                url=self.url,
                hint="Run `corpus project create` to create the project on this server.",
            )
        return int(state["project_id"])

    def set_model_version(self, project_id: int, model_version: str) -> None:
        """Make annotators see predictions of `model_version` (the project's current model)."""
        self._raw(
            "PATCH",
            f"/api/projects/{project_id}/",
            "set the project's model version",
            json={"model_version": model_version, "show_collab_predictions": True},
        )

    # --- listing tasks ----------------------------------------------------------------------

    def _list_tasks(self, project_id: int, size: int, fields: str, query: dict) -> dict:
        """One page of the project's tasks (the response body: "tasks", and "total" when the
        server gives it): `fields` of each, filtered and ordered by `query`."""
        r = self._raw(
            "GET",
            "/api/tasks",
            "list the project's tasks",
            params={
                "project": project_id,
                "page_size": size,
                "include": fields,
                "query": json.dumps(query),
            },
        )
        return r.json()

    def _task_page(self, project_id: int, after_id: int, size: int, fields: str = "id,data"):
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:id",
                        "operator": "greater",
                        "type": "Number",
                        "value": after_id,
                    }
                ],
            },
            "ordering": ["tasks:id"],
        }
        return self._list_tasks(project_id, size, fields, query).get("tasks", [])

    def iter_tasks(self, project_id: int, after_id: int = 0) -> Iterator[tuple[int, str]]:
        """(task id, sentence_id) of every task with an id above `after_id`, in id order."""
        while True:
            page = self._task_page(project_id, after_id, LIST_PAGE)
            for t in page:
                yield int(t["id"]), str((t.get("data") or {}).get("sentence_id") or "")
            if len(page) < LIST_PAGE:
                return
            after_id = int(page[-1]["id"])

    def task_count(self, project_id: int) -> int:
        project = self.get_project(project_id)
        if project is None:
            raise self._error("read the project", 404, f"project {project_id} does not exist")
        return int(project.get("task_number") or 0)

    def count_and_max_id(self, project_id: int) -> tuple[int, int]:
        """The project's task count and highest task id, in one request when the server says.

        The task list's "total" spares reading the project (which Label Studio answers slowly,
        recounting its tasks); servers that leave it out are asked for the project.
        """
        body = self._list_tasks(project_id, 1, "id", {"ordering": ["-tasks:id"]})
        tasks = body.get("tasks", [])
        max_id = int(tasks[0]["id"]) if tasks else 0
        total = body.get("total")
        count = int(total) if isinstance(total, int) else self.task_count(project_id)
        return count, max_id

    # --- importing --------------------------------------------------------------------------

    def import_tasks(
        self,
        project_id: int,
        tasks: list[dict[str, Any]],
        counts: PushCounts | None = None,
        *,
        after_id: int = 0,
    ) -> list[int]:
        """Import one batch of tasks (one request), retrying server errors without duplicates.

        Before each retry, the tasks of the failed request that the server committed anyway are
        looked up (by `data.sentence_id`, among tasks with ids above `after_id`, the highest id
        known before this batch) and left out. Returns the task ids in the order of `tasks`
        (when the server reports them).
        """
        counts = counts if counts is not None else PushCounts()
        pending = list(tasks)
        recovered: dict[str, int] = {}
        failures: list[str] = []
        baseline = after_id
        for attempt in range(RETRIES + 1):
            if attempt:
                counts.retries += 1
                time.sleep(min(self.retry_wait * 2 ** (attempt - 1), 30.0))
                try:
                    landed = self._landed(project_id, pending, baseline)
                except LabelStudioError as e:
                    failures.append(e.message)
                    continue
                if landed:
                    counts.recovered += len(landed)
                    recovered.update(landed)
                    pending = [t for t in pending if task_sentence_id(t) not in landed]
                if not pending:
                    return self._in_order(tasks, recovered, [], [])
            try:
                r = self._http.post(
                    f"/api/projects/{project_id}/import",
                    params={"return_task_ids": "true"},
                    content=json.dumps(pending, ensure_ascii=False).encode("utf-8"),
                    headers={**self._headers(), "Content-Type": "application/json"},
                    timeout=httpx.Timeout(IMPORT_TIMEOUT, connect=CONNECT_TIMEOUT),
                )
            except httpx.TransportError as e:
                failures.append(f"{type(e).__name__}: {e}")
                continue
            if r.status_code in (200, 201):
                new_ids = self._imported_ids(project_id, r.json(), pending, baseline)
                return self._in_order(tasks, recovered, pending, new_ids)
            if r.status_code >= 500 or r.status_code in (408, 429):
                failures.append(f"HTTP {r.status_code}")
                continue
            try:
                body = r.json()
            except ValueError:
                body = r.text
            first = task_sentence_id(pending[0]) if pending else "?"
            raise self._error(
                f"import a batch of {len(pending)} tasks (first sentence_id {first})",
                r.status_code,
                body,
            )
        raise LabelStudioError(
            f"Label Studio kept failing while importing a batch of {len(tasks)} tasks "
            f"({RETRIES + 1} attempts: {', '.join(failures[-3:])})",
            url=self.url,
            hint="Check the server (embedded: .corpus/label-studio.log), then run "
            "`corpus project push` again: it continues where it stopped and sends nothing twice.",
        )

    @staticmethod
    def _in_order(
        tasks: list[dict], recovered: dict[str, int], sent: list[dict], sent_ids: list[int]
    ) -> list[int]:
        if not recovered:
            return list(sent_ids)
        by_sid = dict(recovered)
        if len(sent) == len(sent_ids):
            by_sid.update(zip([task_sentence_id(t) for t in sent], sent_ids, strict=True))
        return [by_sid[task_sentence_id(t)] for t in tasks if task_sentence_id(t) in by_sid]

    def _imported_ids(
        self, project_id: int, response: dict, pending: list[dict], baseline: int
    ) -> list[int]:
        if "task_ids" in response and len(response["task_ids"]) == len(pending):
            return [int(t) for t in response["task_ids"]]
        if "import" in response:  # Label Studio Enterprise imports in the background
            self._wait_import(project_id, int(response["import"]))
        landed = self._landed(project_id, pending, baseline)
        return [landed[task_sentence_id(t)] for t in pending if task_sentence_id(t) in landed]

    def _wait_import(
        self, project_id: int, import_id: int, timeout: float = IMPORT_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self._raw(
                "GET", f"/api/projects/{project_id}/imports/{import_id}/", "follow the import"
            )
            status = r.json().get("status")
            if status == "completed":
                return
            if status == "failed":
                raise self._error("import tasks", 400, r.json().get("error") or r.json())
            time.sleep(1.0)
        raise LabelStudioError(
            f"Import {import_id} did not finish in {timeout:.0f} s", url=self.url
        )

    def _landed(self, project_id: int, pending: list[dict], baseline: int) -> dict[str, int]:
        """Which of `pending` (by sentence_id) are on the server, with their task ids.

        Waits until the task count stops moving, so a request still being processed when the
        client gave up is seen before deciding what to resend.
        """
        count, settled = self.task_count(project_id), 0
        while settled < 2:
            time.sleep(0.5)
            now = self.task_count(project_id)
            settled = settled + 1 if now == count else 0
            count = now
        wanted = {task_sentence_id(t) for t in pending} - {""}
        return {s: t for t, s in self.iter_tasks(project_id, after_id=baseline) if s in wanted}

    # --- exporting --------------------------------------------------------------------------

    def export_json(
        self,
        project_id: int,
        dest: Path,
        *,
        only_annotated: bool = False,
        predictions: bool = True,
        timeout: float = 3600.0,
    ) -> dict[str, Any]:
        """A full-JSON export snapshot streamed to `dest` (written atomically).

        Returns {"snapshot_id", "path", "task_count"}. `only_annotated` keeps tasks with at least
        one annotation; `predictions=False` exports prediction ids only (smaller, faster). The
        snapshot is deleted on the server once downloaded.
        """
        dest = Path(dest)
        kwargs: dict[str, Any] = {"title": f"corpus export {time.strftime('%Y-%m-%d %H:%M:%S')}"}
        if only_annotated:
            kwargs["task_filter_options"] = {"only_with_annotations": True}
        if not predictions:
            kwargs["serialization_options"] = {"predictions": {"only_id": True}}
        snap = self._sdk(
            "create an export snapshot", self.sdk.projects.exports.create, project_id, **kwargs
        )
        deadline = time.monotonic() + timeout
        while snap.status not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise LabelStudioError(
                    f"Export snapshot {snap.id} not ready after {timeout:.0f} s (status "
                    f"{snap.status})",
                    url=self.url,
                )
            time.sleep(1.0)
            snap = self._sdk(
                "follow the export", self.sdk.projects.exports.get, project_id, snap.id
            )
        if snap.status == "failed":
            raise LabelStudioError(f"Export snapshot {snap.id} failed on the server", url=self.url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(dest)
        what = "download the export"
        try:
            with self._http.stream(
                "GET",
                f"/api/projects/{project_id}/exports/{snap.id}/download",
                params={"exportType": "JSON"},
                headers=self._headers(),
            ) as r:
                if r.status_code != 200:
                    r.read()
                    raise self._error(what, r.status_code, r.text)
                with open(tmp, "wb") as f:
                    for chunk in r.iter_bytes(1 << 20):
                        f.write(chunk)
        except httpx.TransportError as e:
            tmp.unlink(missing_ok=True)
            raise self._unreachable(what, e) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)
        task_count = int((snap.counters or {}).get("task_number", 0)) if snap.counters else None
        try:
            self._sdk(
                "delete the export snapshot", self.sdk.projects.exports.delete, project_id, snap.id
            )
        except LabelStudioError:
            pass  # the download is what matters; a leftover snapshot is harmless
        return {"snapshot_id": int(snap.id), "path": dest, "task_count": task_count}
