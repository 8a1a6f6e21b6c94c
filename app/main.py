"""Start the Gradio app on GEM_HOST:GEM_PORT with the offline defaults."""

from __future__ import annotations

import gradio as gr

from gem_core.settings import Settings, get_settings


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or get_settings()
    with gr.Blocks(title="GEM Studio") as demo:
        gr.Markdown("# GEM Studio\nGrounded 12-lead ECG interpretation: review, check and rate.")
    return demo


def main() -> None:
    settings = get_settings()
    demo = build_demo(settings)
    demo.queue().launch(server_name=settings.host, server_port=settings.port, show_error=True)
