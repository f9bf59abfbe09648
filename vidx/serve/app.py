"""The Gradio pages of ``vidx serve``: Restyle, Variants and Jobs, over :class:`JobQueue`.

Every button queues a call of the same Python API the CLI makes; a timer shows the job the
browser last started (its id is kept in the browser, so a reload finds it again). Gradio serves
uploads, its own cache and the job folders (``STATE/jobs``) only: ``allowed_paths`` is empty,
``jobs.json`` is blocked, and nothing under ``--root`` is ever sent to the browser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from vidx.errors import OptionError, VidxError
from vidx.serve import view
from vidx.serve.jobs import DONE, FINISHED, Job, JobQueue
from vidx.serve.paths import (
    MEDIA_SUFFIXES,
    accept_upload,
    check_media,
    list_media,
    model_path,
    under_root,
)

DEFAULT_STYLE = "19 blue-swirl"
TICK = 1.0  # seconds between status refreshes
NO_JOBS = {"render": "", "variants": ""}
SAMPLE_JOB = """\
# [shared] applies to every variant; one [variants.NAME] table per output (NAME.mp4)
[shared]
size = "source"

[variants.swirl]
style = "blue-swirl"
strength = 0.7

[variants.ember]
style = "ember"
strength = 0.5
"""


@dataclass
class Server:
    """What the pages need: the queue, the folders and the limits."""

    queue: JobQueue
    root: Path | None
    max_upload: int  # bytes

    @property
    def uploads(self) -> Path:
        return self.queue.state_dir / "uploads"


def message(exc: VidxError) -> str:
    if isinstance(exc, OptionError) and exc.param:
        return exc.named(exc.param.replace("_", " "))
    return str(exc)


def build(server: Server) -> Any:
    """The ``gr.Blocks`` app (not launched)."""
    queue = server.queue
    thumbs = view.style_thumbnails(queue.state_dir / "thumbs")

    with gr.Blocks(title="vidx", analytics_enabled=False) as demo:
        session = gr.BrowserState(dict(NO_JOBS), storage_key="vidx-serve-jobs")
        source = gr.State({})  # the accepted input: {"path": on the server, "name": as shown}
        gr.Markdown("## vidx: restyle and upscale video, steady over time")
        with gr.Tab("Restyle"):
            with gr.Row():
                with gr.Column(scale=2):
                    upload = gr.File(
                        label="Clip or picture",
                        file_types=list(MEDIA_SUFFIXES),
                        elem_id="upload",
                    )
                    pick = gr.Dropdown(
                        list_media(server.root) if server.root else [],
                        value=None,
                        allow_custom_value=True,
                        label="… or a clip under the root folder (a path relative to it)",
                        visible=server.root is not None,
                        elem_id="pick",
                    )
                    source_info = gr.Markdown("Upload a clip to begin.", elem_id="source-info")
                    source_video = gr.Video(label="Source", interactive=False, height=240)
                with gr.Column(scale=3):
                    backend = gr.Radio(list(view.BACKENDS), value=view.EMBEDDED, label="Restyle")
                    gallery = gr.Gallery(
                        thumbs,
                        columns=9,
                        height=260,
                        allow_preview=False,
                        label="Styles (click one)",
                        elem_id="styles",
                    )
                    style = gr.Dropdown(view.style_choices(), value=DEFAULT_STYLE, label="Style")
                    style_image = gr.Image(
                        type="filepath", label="Style picture", visible=False, height=160
                    )
                    with gr.Row(visible=False) as diffusion_row:
                        prompt = gr.Textbox(label="Prompt", scale=2)
                        model = gr.Textbox(
                            label="Model (folder or .safetensors under the root, or cached hub id)"
                        )
                    with gr.Row():
                        strength = gr.Slider(0, 1, value=0.7, step=0.05, label="Strength")
                        seed = gr.Number(0, precision=0, label="Seed")
                    with gr.Row():
                        size = gr.Dropdown(
                            list(view.SIZES), value="source", allow_custom_value=True, label="Size"
                        )
                        upscaler = gr.Dropdown(
                            view.upscaler_choices(), value="lanczos", label="Upscaler"
                        )
                        compare = gr.Checkbox(True, label="Also write a before/after video")
                    with gr.Row():
                        rows = gr.Textbox("0.25, 0.5, 0.75, 1.0", label="Preview strengths")
                        preview_btn = gr.Button("Preview", elem_id="preview")
                        render_btn = gr.Button("Render", variant="primary", elem_id="render")
            notice = gr.Markdown("", elem_id="message")
            sheet = gr.Image(label="Preview sheet", interactive=False, height=420, elem_id="sheet")
            status = gr.HTML(view.status_html(None, None), elem_id="status")
            with gr.Row():
                cancel_btn = gr.Button("Cancel job", size="sm", elem_id="cancel")
                resume_btn = gr.Button("Resume job", size="sm", elem_id="resume")
            with gr.Row():
                result_video = gr.Video(
                    label="Result", interactive=False, height=320, elem_id="result"
                )
                slider = gr.ImageSlider(
                    label="Before / after (middle frame)", interactive=False, max_height=320
                )
            downloads = gr.File(
                label="Download", file_count="multiple", interactive=False, elem_id="downloads"
            )
        with gr.Tab("Variants"):
            gr.Markdown("Several looks of the clip chosen on the Restyle page, in one pass.")
            job_text = gr.Textbox(SAMPLE_JOB, lines=14, label="Job file (TOML)", elem_id="toml")
            job_upload = gr.File(label="… or upload a .toml", file_types=[".toml"])
            with gr.Row():
                check_btn = gr.Button("Check", elem_id="check-job")
                variants_btn = gr.Button(
                    "Render variants", variant="primary", elem_id="render-variants"
                )
            variants_notice = gr.Markdown("", elem_id="variants-message")
            variants_status = gr.HTML(view.status_html(None, None), elem_id="variants-status")
            variants_files = gr.File(
                label="Download", file_count="multiple", interactive=False, elem_id="variants-files"
            )
        with gr.Tab("Jobs"):
            table = gr.Dataframe(
                headers=view.JOB_COLUMNS, value=[], interactive=False, elem_id="jobs"
            )
        timer = gr.Timer(TICK)

        # the source: an upload or a clip under the root ------------------------------------

        def take_upload(file: str | None):
            if not file:
                return {}, "Upload a clip to begin.", None, gr.skip()
            try:
                stored, summary = accept_upload(
                    Path(file), Path(file).name, server.uploads, server.max_upload
                )
            except VidxError as exc:
                return {}, f"**Not accepted:** {message(exc)}. No job was made.", None, None
            shown = file if Path(file).suffix.lower() in (".mp4", ".webm", ".mov") else None
            name = Path(file).name
            return {"path": str(stored), "name": name}, f"Source: {summary}", shown, gr.skip()

        def take_pick(relative: str | None):
            if not relative or server.root is None:
                return gr.skip(), gr.skip(), gr.skip()
            try:
                path = under_root(server.root, relative)
                summary = check_media(path, relative)
            except VidxError as exc:
                return {}, f"**Refused:** {message(exc)}.", None
            source = {"path": str(path), "name": Path(relative).name}
            return source, f"Source (root folder): {summary}", None

        upload.upload(take_upload, upload, [source, source_info, source_video, upload])
        upload.clear(
            lambda: ({}, "Upload a clip to begin.", None), None, [source, source_info, source_video]
        )
        pick.input(take_pick, pick, [source, source_info, source_video])

        # the restyle form ---------------------------------------------------------------------

        def show_backend(choice: str):
            return (
                gr.update(visible=choice == view.EMBEDDED),
                gr.update(visible=choice == view.EMBEDDED),
                gr.update(visible=choice == view.PICTURE),
                gr.update(visible=choice == view.DIFFUSION),
            )

        backend.change(show_backend, backend, [gallery, style, style_image, diffusion_row])

        def choose_style(evt: gr.SelectData):
            return view.style_choices()[evt.index]

        gallery.select(choose_style, None, style)
        form = [backend, style, style_image, prompt, model, strength, size, upscaler, seed, compare]

        def options(values: list[Any]) -> dict[str, Any]:
            opts = view.form_options(*values)
            if "style_image" in opts:
                stored, _ = accept_upload(
                    Path(opts["style_image"]), "style.png", server.uploads, server.max_upload
                )
                opts["style_image"] = str(stored)
            if "model" in opts:
                opts["model"] = model_path(server.root, opts["model"])
            return opts

        def run_preview(src: dict, text: str, *values: Any) -> Iterator[tuple]:
            if not src:
                yield "**Choose a clip first.**", gr.skip()
                return
            try:
                opts = options(list(values))
                opts.pop("compare", None)
                strengths = view.number_list(text)
                job = queue.submit(
                    "preview",
                    Path(src["path"]),
                    opts,
                    name=src["name"],
                    vary={"strength": strengths},
                )
            except VidxError as exc:
                yield f"**Not started:** {message(exc)}.", gr.skip()
                return
            yield f"Preview {job.id}: {view.state_text(job, queue.place(job.id))}", gr.skip()
            done = queue.wait(job.id)
            if done is None or done.state != DONE:
                yield f"**Preview {job.id}**: {view.state_text(done or job, None)}", None
                return
            yield f"Preview {job.id} done.", done.files[0]

        preview_btn.click(
            run_preview, [source, rows, *form], [notice, sheet], concurrency_limit=None
        )

        def start_render(src: dict, jobs: dict, *values: Any):
            jobs = dict(jobs or NO_JOBS)
            if not src:
                return "**Choose a clip first.**", jobs, gr.skip()
            try:
                opts = options(list(values))
                job = queue.submit("render", Path(src["path"]), opts, name=src["name"])
            except VidxError as exc:
                return f"**Not started:** {message(exc)}.", jobs, gr.skip()
            jobs["render"] = job.id
            return f"Job {job.id} queued.", jobs, view.status_html(job, queue.place(job.id))

        render_btn.click(start_render, [source, session, *form], [notice, session, status])

        # the render's status, results, cancel and resume -----------------------------------

        shown = gr.State({})  # per page: the finished jobs whose results are on it

        def finished(job: Job | None, on_page: dict, kind: str) -> bool:
            """True once per finished job: the first refresh that sees it so."""
            if job is None or job.state not in FINISHED:
                return False
            key = f"{job.id}:{job.state}"
            if on_page.get(kind) == key:
                return False
            on_page[kind] = key
            return True

        def refresh(jobs: dict, on_page: dict):
            jobs, on_page = jobs or NO_JOBS, dict(on_page or {})
            every = queue.all()
            places = {j.id: queue.place(j.id) for j in every}
            job, vjob = queue.get(jobs.get("render")), queue.get(jobs.get("variants"))
            out: list[Any] = [
                view.status_html(job, places.get(job.id) if job else None),
                view.status_html(vjob, places.get(vjob.id) if vjob else None),
                view.job_rows(every, places),
                gr.skip(),
                gr.skip(),
                gr.skip(),
                gr.skip(),
            ]
            if job is not None and finished(job, on_page, "render"):
                done = job.state == DONE
                video = job.files[0] if done and job.files[0].endswith(".mp4") else None
                out[3:6] = [video, view.before_after(job) if done else None, job.files or None]
            if vjob is not None and finished(vjob, on_page, "variants"):
                out[6] = vjob.files or None
            return (*out, on_page)

        ticked = [status, variants_status, table, result_video, slider, downloads]
        ticked += [variants_files, shown]
        timer.tick(
            refresh, [session, shown], ticked, show_progress="hidden", concurrency_limit=None
        )
        demo.load(refresh, [session, shown], ticked, show_progress="hidden")

        def cancel(jobs: dict) -> str:
            job_id = (jobs or NO_JOBS).get("render")
            return (
                f"Cancelling job {job_id}." if queue.cancel(job_id or "") else "No job to cancel."
            )

        def resume(jobs: dict) -> str:
            job_id = (jobs or NO_JOBS).get("render")
            return (
                f"Job {job_id} queued again."
                if queue.resume(job_id or "")
                else "Nothing to resume."
            )

        cancel_btn.click(cancel, session, notice)
        resume_btn.click(resume, session, notice)

        # variants ------------------------------------------------------------------------------

        def load_toml(file: str | None) -> Any:
            if not file:
                return gr.skip()
            return Path(file).read_text(encoding="utf-8", errors="replace")[:100_000]

        job_upload.upload(load_toml, job_upload, job_text)

        def check_job(text: str) -> str:
            try:
                parsed = view.parse_job(text, queue.state_dir)
            except VidxError as exc:
                return f"**Not valid:** {message(exc)}"
            return f"Valid: {len(parsed.variants)} variants ({', '.join(parsed.variants)})."

        check_btn.click(check_job, job_text, variants_notice)

        def start_variants(src: dict, text: str, jobs: dict):
            jobs = dict(jobs or NO_JOBS)
            if not src:
                return "**Choose a clip on the Restyle page first.**", jobs
            try:
                view.parse_job(text, queue.state_dir)
                job = queue.submit(
                    "variants", Path(src["path"]), {}, name=src["name"], job_text=text
                )
            except VidxError as exc:
                return f"**Not started:** {message(exc)}", jobs
            jobs["variants"] = job.id
            return f"Job {job.id} queued.", jobs

        variants_btn.click(start_variants, [source, job_text, session], [variants_notice, session])
    return demo


def launch(
    host: str,
    port: int,
    *,
    root: Path | None,
    login: tuple[str, str] | None,
    state: Path,
    max_upload_mb: int,
) -> None:
    """Build the app over a started queue and serve it until interrupted."""
    queue = JobQueue(state).start()
    server = Server(queue, Path(os.path.realpath(root)) if root else None, max_upload_mb * 10**6)
    try:
        demo = build(server)
        gr.set_static_paths([str(queue.jobs_dir), str(state / "thumbs")])
        demo.queue(default_concurrency_limit=4)
        demo.launch(
            server_name=host,
            server_port=port,
            auth=login,
            allowed_paths=[],
            blocked_paths=[str(queue.file), str(server.uploads)],
            max_file_size=max_upload_mb * 10**6,
            footer_links=[],
            show_error=False,
            share=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            quiet=True,
        )
    finally:
        queue.stop()
