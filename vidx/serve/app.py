"""The Gradio pages of ``vidx serve``: Restyle, Variants, Timeline and Jobs, over
:class:`JobQueue`.

Every button queues a call of the same Python API the CLI makes; a timer shows the job the
browser last started (its id is kept in the browser, so a reload finds it again). Jobs belong to
the logged-in user, or without ``--auth`` to the browser (:mod:`vidx.serve.owners`): every
handler looks a job up by id and owner. Gradio serves uploads, its own cache and the style
thumbnails only: ``allowed_paths`` is empty, ``jobs.json``, the stored uploads and the job
folders are blocked (a page gets copies of its own job's results, :func:`view.hand_out`), and
nothing under ``--root`` is ever sent to the browser. File inputs are not preprocessed (Gradio's
``gr.File`` leaves an empty temporary file for each call it preprocesses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from vidx.io.inputs import MAX_PIXELS
from vidx.serve import view
from vidx.serve.handlers import NO_JOBS, Pages, Server
from vidx.serve.paths import MEDIA_SUFFIXES, list_media
from vidx.serve.queue import JobQueue

DEFAULT_STYLE = "19 blue-swirl"
TICK = 1.0  # seconds between status refreshes
# Gradio encrypts the browser's stored values with this key *in the browser* (it is sent there):
# it is no secret, it only lets a page read its values back after a server restart
BROWSER_STATE_KEY = "vidx-serve-browser-state"
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


def build(server: Server) -> Any:
    """The ``gr.Blocks`` app (not launched)."""
    pages = Pages(server)
    thumbs = view.style_thumbnails(server.queue.state_dir / "thumbs")

    with gr.Blocks(title="vidx", analytics_enabled=False) as demo:
        session = gr.BrowserState(
            dict(NO_JOBS), storage_key="vidx-serve-jobs", secret=BROWSER_STATE_KEY
        )
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
                    style_image = gr.Image(  # image_mode None: Gradio passes the file, undecoded
                        type="filepath",
                        image_mode=None,
                        label="Style picture",
                        visible=False,
                        height=160,
                    )
                    with gr.Row(visible=False) as diffusion_row:
                        prompt = gr.Textbox(label="Prompt", scale=2)
                        model = gr.Textbox(
                            label="Model (small-sd is built in; or a folder or .safetensors "
                            "under the root, or a cached hub id)",
                            placeholder="small-sd",
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
                        steady = gr.Checkbox(
                            True, label="Steady upscale (learned upscalers: no shimmer)"
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
        with gr.Tab("Timeline"):
            gr.Markdown(
                "An edit's shots only, with the Restyle page's settings; the edit comes back "
                "relinked to them. Its media are looked up under the root folder."
            )
            edit = gr.State({})  # the accepted edit: {"path": on the server, "name": as shown}
            with gr.Row():
                edit_upload = gr.File(
                    label="Edit (.otio, .edl, .xml)",
                    file_types=[".otio", ".edl", ".xml"],
                    elem_id="edit-upload",
                )
                with gr.Column():
                    media_root = gr.Textbox(
                        ".", label="Media folder (relative to the root)", elem_id="media-root"
                    )
                    handles = gr.Textbox("12", label="Handles (frames, or 0.5s)", elem_id="handles")
            edit_notice = gr.Markdown("Upload an edit to begin.", elem_id="edit-message")
            with gr.Row():
                dry_btn = gr.Button("Dry run", elem_id="dry-run")
                edit_btn = gr.Button("Render the edit", variant="primary", elem_id="render-edit")
            edit_table = gr.Dataframe(
                headers=view.EDIT_COLUMNS, value=[], interactive=False, elem_id="edit-plan"
            )
            edit_status = gr.HTML(view.status_html(None, None), elem_id="edit-status")
            edit_files = gr.File(
                label="Download", file_count="multiple", interactive=False, elem_id="edit-files"
            )
        with gr.Tab("Jobs"):
            table = gr.Dataframe(
                headers=view.JOB_COLUMNS, value=[], interactive=False, elem_id="jobs"
            )
        timer = gr.Timer(TICK)

        # the source: an upload or a clip under the root; File inputs are not preprocessed
        picked = [source, source_info, source_video]
        upload.upload(pages.take_upload, upload, [*picked, upload], preprocess=False)
        upload.clear(lambda: ({}, "Upload a clip to begin.", None), None, picked)
        pick.input(pages.take_pick, pick, picked)

        # the restyle form
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
        form.append(steady)
        preview_btn.click(
            pages.run_preview,
            [source, session, rows, *form],
            [notice, sheet],
            concurrency_limit=None,
        )
        render_btn.click(pages.start_render, [source, session, *form], [notice, session, status])

        # status, results, cancel and resume
        shown = gr.State({})  # per page: the finished jobs whose results are on it
        ticked = [status, variants_status, table, result_video, slider, downloads]
        ticked += [variants_files, edit_status, edit_files, shown]
        timer.tick(
            pages.refresh, [session, shown], ticked, show_progress="hidden", concurrency_limit=None
        )
        demo.load(pages.refresh, [session, shown], ticked, show_progress="hidden")
        demo.load(pages.own_page, session, session)
        cancel_btn.click(pages.cancel, session, notice)
        resume_btn.click(pages.resume, session, notice)

        # variants
        job_upload.upload(pages.load_toml, job_upload, job_text, preprocess=False)
        check_btn.click(pages.check_job, job_text, variants_notice)
        variants_btn.click(
            pages.start_variants, [source, job_text, session], [variants_notice, session]
        )

        # an edit
        edit_upload.upload(pages.take_edit, edit_upload, [edit, edit_notice], preprocess=False)
        edit_upload.clear(lambda: ({}, "Upload an edit to begin."), None, [edit, edit_notice])
        dry_btn.click(pages.check_edit, [edit, media_root, handles], [edit_notice, edit_table])
        edit_btn.click(
            pages.start_edit,
            [edit, session, media_root, handles, *form],
            [edit_notice, session],
        )
    return demo


def launch(
    host: str,
    port: int,
    *,
    root: Path | None,
    login: tuple[str, str] | None,
    state: Path,
    max_upload_mb: int,
    max_pixels: int = MAX_PIXELS,
) -> None:
    """Build the app over a started queue and serve it until interrupted."""
    queue = JobQueue(state, max_pixels=max_pixels).start()
    real_root = Path(os.path.realpath(root)) if root else None
    server = Server(queue, real_root, max_upload_mb * 10**6, state / "gradio")
    try:
        demo = build(server)
        gr.set_static_paths([str(state / "thumbs")])
        demo.queue(default_concurrency_limit=4)
        demo.launch(
            server_name=host,
            server_port=port,
            auth=login,
            allowed_paths=[],
            blocked_paths=[str(queue.file), str(server.uploads), str(queue.jobs_dir)],
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
