"""What each button and timer of the ``vidx serve`` pages does, as methods of :class:`Pages`.

:mod:`vidx.serve.app` lays the pages out and wires their events to these methods; tests call them
directly, with a ``gr.Request`` of their own. Every job a method touches is looked up by id *and*
owner (:mod:`vidx.serve.owners`): an id the browser sends that is not its own is no such job.
Results reach a page as copies in Gradio's folder (:func:`vidx.serve.view.hand_out`), never
from the job folders, which the server does not serve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from vidx.errors import OptionError, VidxError
from vidx.serve import checks, owners, view
from vidx.serve.paths import accept_edit, accept_upload, check_media, model_path, under_root
from vidx.serve.queue import DONE, FINISHED, Job, JobQueue

NO_JOBS = {"render": "", "variants": "", "timeline": ""}
VIDEO_SHOWN = (".mp4", ".webm", ".mov")  # uploads the page can play back


@dataclass
class Server:
    """What the pages need: the queue, the folders and the limits."""

    queue: JobQueue
    root: Path | None
    max_upload: int  # bytes
    cache: Path  # Gradio's folder (GRADIO_TEMP_DIR): uploads arrive there, results leave from it

    @property
    def uploads(self) -> Path:
        return self.queue.state_dir / "uploads"

    @property
    def max_pixels(self) -> int:
        return self.queue.max_pixels


def message(exc: VidxError) -> str:
    if isinstance(exc, OptionError) and exc.param:
        return exc.named(exc.param.replace("_", " "))
    return str(exc)


def who(request: gr.Request | None, stored: dict | None) -> str:
    """The owner of the page that sent ``request`` (see :mod:`vidx.serve.owners`)."""
    return owners.owner_of(getattr(request, "username", None), stored)


def kept(values: Any) -> dict[str, str]:
    """The browser's stored values as the server reads them (a page may send anything): the
    ids of its render and variants jobs and its owner token, each text or ``""``."""
    values = values if isinstance(values, dict) else {}
    return {k: v if isinstance(v := values.get(k), str) else "" for k in (*NO_JOBS, owners.KEY)}


def uploaded(payload: dict | None) -> tuple[Path, str] | None:
    """``(path, name as uploaded)`` of a file input that Gradio did not preprocess (it checked
    that the path is in its upload folder)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("path"), str):
        return None
    path = Path(payload["path"])
    return path, str(payload.get("orig_name") or path.name)


class Pages:
    """The handlers, over one :class:`Server`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.queue = server.queue

    # the source: an upload or a clip under the root ------------------------------------------

    def take_upload(self, payload: dict | None) -> tuple:
        """An upload (Gradio's file payload): ``(source, notice, video to show, upload)``."""
        file = uploaded(payload)
        if file is None:
            return {}, "Upload a clip to begin.", None, gr.skip()
        path, name = file
        s = self.server
        try:
            stored, summary = accept_upload(path, name, s.uploads, s.max_upload, s.max_pixels)
        except VidxError as exc:
            return {}, f"**Not accepted:** {message(exc)}. No job was made.", None, None
        shown = str(path) if path.suffix.lower() in VIDEO_SHOWN else None
        return {"path": str(stored), "name": name}, f"Source: {summary}", shown, gr.skip()

    def take_pick(self, relative: str | None) -> tuple:
        """A path typed or picked under the root: ``(source, notice, video to show)``."""
        root = self.server.root
        if not relative or root is None:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            path = under_root(root, relative)
            summary = check_media(path, relative, self.server.max_pixels)
        except VidxError as exc:
            return {}, f"**Refused:** {message(exc)}.", None
        source = {"path": str(path), "name": Path(relative).name}
        return source, f"Source (root folder): {summary}", None

    # the restyle form -------------------------------------------------------------------------

    def options(self, values: list[Any]) -> dict[str, Any]:
        """The form's values as API options: a style picture accepted as an upload, a model
        confined to the root (OptionError/InputError otherwise)."""
        s = self.server
        opts = view.form_options(view.RestyleForm(*values))
        if "style_image" in opts:
            picture = Path(opts["style_image"])
            stored, _ = accept_upload(picture, "style.png", s.uploads, s.max_upload, s.max_pixels)
            opts["style_image"] = str(stored)
        if "model" in opts:
            opts["model"] = model_path(s.root, opts["model"])
        return opts

    def run_preview(
        self, request: gr.Request, src: dict, jobs: dict, text: str, *values: Any
    ) -> Iterator[tuple]:
        """Queue a preview sheet and wait for it: ``(notice, sheet)`` as it goes."""
        owner = who(request, kept(jobs))
        if not src:
            yield "**Choose a clip first.**", gr.skip()
            return
        try:
            opts = self.options(list(values))
            opts.pop("compare", None)
            vary = {"strength": view.number_list(text)}
            job = self.queue.submit(
                "preview", Path(src["path"]), opts, owner=owner, name=src["name"], vary=vary
            )
        except VidxError as exc:
            yield f"**Not started:** {message(exc)}.", gr.skip()
            return
        yield f"Preview {job.id}: {view.state_text(job, self.queue.place(job.id))}", gr.skip()
        done = self.queue.wait(job.id, owner)
        if done is None or done.state != DONE:
            yield f"**Preview {job.id}**: {view.state_text(done or job, None)}", None
            return
        sheets = view.hand_out(done, done.files[:1], self.server.cache)
        yield f"Preview {job.id} done.", sheets[0] if sheets else None

    def start_render(self, request: gr.Request, src: dict, jobs: dict, *values: Any) -> tuple:
        """Queue a render: ``(notice, the browser's stored values, status)``."""
        jobs = kept(jobs)
        if not src:
            return "**Choose a clip first.**", jobs, gr.skip()
        try:
            opts = self.options(list(values))
            owner = who(request, jobs)
            job = self.queue.submit(
                "render", Path(src["path"]), opts, owner=owner, name=src["name"]
            )
        except VidxError as exc:
            return f"**Not started:** {message(exc)}.", jobs, gr.skip()
        jobs["render"] = job.id
        return f"Job {job.id} queued.", jobs, view.status_html(job, self.queue.place(job.id))

    # status, results, cancel and resume -------------------------------------------------------

    def own_page(self, stored: dict | None) -> Any:
        """A browser's first visit: its owner token, kept in its storage."""
        fresh = owners.with_token(kept(stored))
        return gr.skip() if fresh == stored else fresh

    def refresh(self, jobs: dict, on_page: dict, request: gr.Request) -> tuple:
        """The timer: the three statuses, the jobs table, then (once per finished job) its
        results. Returns ``(status, variants status, table, video, before/after, downloads,
        variant downloads, edit status, edit downloads, on_page)``."""
        jobs, on_page = kept(jobs), dict(on_page or {})
        owner = who(request, jobs)
        mine = self.queue.owned(owner)
        places = {j.id: self.queue.place(j.id) for j in mine}
        out: list[Any] = [None, None, view.job_rows(mine, places), *[gr.skip()] * 4, None]
        out.append(gr.skip())
        for i, kind in ((0, "render"), (1, "variants"), (7, "timeline")):
            job = self.queue.get(jobs.get(kind), owner)
            out[i] = view.status_html(job, places.get(job.id) if job else None, jobs.get(kind))
            if job is None or not finished(job, on_page, kind):
                continue
            files = self.results(job)
            if kind != "render":
                out[6 if kind == "variants" else 8] = files or None
                continue
            video = files[0] if files and files[0].endswith(".mp4") else None
            before = view.before_after(job) if video else None
            pair = tuple(view.hand_out(job, list(before), self.server.cache)) if before else None
            out[3:6] = [video, pair, files or None]
        return (*out, on_page)

    def results(self, job: Job) -> list[str]:
        return view.hand_out(job, job.files, self.server.cache) if job.state == DONE else []

    def act(self, action: str, jobs: dict, request: gr.Request) -> str:
        """Cancel or resume the page's render job: a notice."""
        jobs = kept(jobs)
        job_id, owner = jobs["render"], who(request, jobs)
        if self.queue.get(job_id, owner) is None:
            return view.NO_SUCH_JOB if job_id else "No job yet."
        if action == "cancel":
            ok = self.queue.cancel(job_id, owner)
            return f"Cancelling job {job_id}." if ok else f"Job {job_id} is not running."
        ok = self.queue.resume(job_id, owner)
        return f"Job {job_id} queued again." if ok else f"Job {job_id} has nothing to resume."

    def cancel(self, jobs: dict, request: gr.Request) -> str:
        return self.act("cancel", jobs, request)

    def resume(self, jobs: dict, request: gr.Request) -> str:
        return self.act("resume", jobs, request)

    # variants ---------------------------------------------------------------------------------

    def load_toml(self, payload: dict | None) -> Any:
        """An uploaded job file (Gradio's file payload) as text for the box."""
        file = uploaded(payload)
        if file is None:
            return gr.skip()
        with open(file[0], encoding="utf-8", errors="replace") as f:
            return f.read(checks.MAX_JOB_CHARS + 1)

    def check_job(self, text: str) -> str:
        try:
            parsed = checks.parse_job(
                text, self.queue.state_dir / "scratch", self.server.max_pixels
            )
        except VidxError as exc:
            return f"**Not valid:** {message(exc)}"
        return f"Valid: {len(parsed.variants)} variants ({', '.join(parsed.variants)})."

    def start_variants(self, src: dict, text: str, jobs: dict, request: gr.Request) -> tuple:
        """Queue a variants job: ``(notice, the browser's stored values)``."""
        jobs = kept(jobs)
        if not src:
            return "**Choose a clip on the Restyle page first.**", jobs
        try:
            owner = who(request, jobs)
            job = self.queue.submit(
                "variants", Path(src["path"]), {}, owner=owner, name=src["name"], job_text=text
            )
        except VidxError as exc:
            return f"**Not started:** {message(exc)}", jobs
        jobs["variants"] = job.id
        return f"Job {job.id} queued.", jobs

    # an edit ---------------------------------------------------------------------------------

    def take_edit(self, payload: dict | None) -> tuple:
        """An uploaded edit: ``(edit, notice)``."""
        file = uploaded(payload)
        if file is None:
            return {}, "Upload an edit (.otio, .edl or .xml) to begin."
        if self.server.root is None:
            return {}, "**Edits need a media folder:** start vidx serve with --root."
        try:
            stored, summary = accept_edit(*file, self.server.uploads, self.server.max_upload)
        except VidxError as exc:
            return {}, f"**Not accepted:** {message(exc)}. No job was made."
        return {"path": str(stored), "name": file[1]}, f"Edit: {summary}"

    def edit_options(self, media: str | None, handles: Any) -> dict[str, Any]:
        """The media root (a folder under the root) and the handles, as API options."""
        if self.server.root is None:
            raise OptionError("edits need a media folder: start vidx serve with --root")
        folder = under_root(self.server.root, (media or "").strip() or ".")
        return {"media_root": str(folder), "handles": str(handles or 0).strip()}

    def check_edit(self, edit: dict, media: str | None, handles: Any) -> tuple:
        """The dry run: ``(notice, table rows)``."""
        from vidx.api import timeline_plan

        if not edit:
            return "**Upload an edit first.**", []
        try:
            opts = self.edit_options(media, handles)
            plan = timeline_plan(edit["path"], confine=True, **opts)
        except VidxError as exc:
            return f"**Not valid:** {message(exc)}", []
        shown = (media or "").strip() or "the root folder"
        rows = view.edit_rows(plan, Path(opts["media_root"]), shown)
        missing = f", **{len(plan.missing)} clips missing media**" if plan.missing else ""
        notice = (
            f"{len(plan.clips)} video clips, {len(plan.pieces)} pieces, {plan.frames} frames "
            f"to render{missing}."
        )
        return notice, rows

    def start_edit(
        self, request: gr.Request, edit: dict, jobs: dict, media: str, handles: Any, *values: Any
    ) -> tuple:
        """Queue an edit's render with the Restyle page's settings: ``(notice, stored values)``."""
        jobs = kept(jobs)
        if not edit:
            return "**Upload an edit first.**", jobs
        try:
            opts = {**self.options(list(values)), **self.edit_options(media, handles)}
            opts.pop("compare", None)  # (a piece is an edit's media: no before/after video)
            owner = who(request, jobs)
            job = self.queue.submit(
                "timeline", Path(edit["path"]), opts, owner=owner, name=edit["name"]
            )
        except VidxError as exc:
            return f"**Not started:** {message(exc)}", jobs
        jobs["timeline"] = job.id
        return f"Job {job.id} queued.", jobs


def finished(job: Job, on_page: dict, kind: str) -> bool:
    """True once per finished job and page: the first refresh that sees it so."""
    if job.state not in FINISHED:
        return False
    key = f"{job.id}:{job.state}"
    if on_page.get(kind) == key:
        return False
    on_page[kind] = key
    return True
