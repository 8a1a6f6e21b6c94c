"""The ``openai`` backend: any OpenAI-compatible chat-completions server, streamed.

Good for GEM served elsewhere or for a general vision-language model. The request carries the rendered
12-lead image (a base64 PNG data URL) and the question; a general model (any model name without "gem")
also gets the machine measurements as text, since it cannot read the time series.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator

from gem_core.backends import GenerationParams
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.settings import Settings


def image_data_url(image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URL."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAIInterpreter:
    """Streams chat completions from ``base_url`` for (ECG image + measurements text, question)."""

    name = "openai"
    is_gem = False

    def __init__(
        self,
        base_url: str,
        model: str = "gem",
        api_key: str = "",
        timeout_s: float = 120.0,
        image_layout: str = "12x1",
        is_gem: bool | None = None,
        send_measurements: bool | None = None,
    ):
        from openai import OpenAI

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.image_layout = image_layout
        # A served GEM is recognised by its model name; only a general model needs the measurements text.
        self.is_gem = ("gem" in model.lower()) if is_gem is None else is_gem
        self.send_measurements = (not self.is_gem) if send_measurements is None else send_measurements
        self.label = f"{model} via {self.base_url}" + ("" if self.is_gem else " (general model, not GEM)")
        self.device = self.base_url
        # Local servers often need no key; the client insists on one.
        self.client = OpenAI(
            base_url=self.base_url, api_key=api_key or "none", timeout=timeout_s, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIInterpreter:
        if not settings.openai_base_url:
            raise GemError("the openai backend needs GEM_OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
        return cls(
            settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout_s=settings.request_timeout_s,
            image_layout=settings.image_layout,
        )

    def messages(self, ecg: ECG, question: str, image=None) -> list[dict]:
        """One user turn: the question (plus measurements text) and the ECG image."""
        from gem_core.render import ecg_image

        if not isinstance(ecg, ECG):
            raise GemError(f"the openai backend needs an ECG, got {type(ecg).__name__}")
        text = question
        if self.send_measurements:
            from gem_core.features import machine_measurements_text, measure

            text = (
                f"{question}\n\nMachine measurements of this ECG:\n{machine_measurements_text(measure(ecg))}"
            )
        image = ecg_image(ecg, layout=self.image_layout) if image is None else image
        content = [
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
            {"type": "text", "text": text},
        ]
        return [{"role": "user", "content": content}]

    def stream(
        self,
        ecg: ECG,
        question: str,
        params: GenerationParams | None = None,
        stop: threading.Event | None = None,
        image=None,
    ) -> Iterator[str]:
        """Yield the server's text deltas; close the connection once ``stop`` is set."""
        params = params or GenerationParams()
        request = {
            "model": self.model,
            "messages": self.messages(ecg, question, image),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        with self._errors():
            response = self.client.chat.completions.create(**request)
        with response, self._errors():
            for event in response:
                if stop is not None and stop.is_set():
                    return
                for choice in event.choices or []:
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content

    def _errors(self):
        return _OpenAIErrors(self.base_url, self.model)


class _OpenAIErrors:
    """Turns the openai client's exceptions into a ``GemError`` that says what to do."""

    def __init__(self, base_url: str, model: str):
        self.base_url, self.model = base_url, model

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        import openai

        if err is None or not isinstance(err, openai.OpenAIError):
            return False
        if isinstance(err, openai.APITimeoutError):
            msg = f"the server at {self.base_url} did not answer in time; raise GEM_REQUEST_TIMEOUT_S or check it"
        elif isinstance(err, openai.APIConnectionError):
            msg = f"cannot reach the OpenAI-compatible server at {self.base_url}; start it or fix GEM_OPENAI_BASE_URL"
        elif isinstance(err, openai.APIStatusError):
            detail = _detail(err)
            hint = {
                401: "check GEM_OPENAI_API_KEY",
                403: "check GEM_OPENAI_API_KEY",
                404: f"check GEM_OPENAI_BASE_URL (should end in /v1) and GEM_OPENAI_MODEL ({self.model!r})",
                429: "the server is rate-limiting; wait and retry",
            }.get(
                err.status_code,
                "see the server's log" if err.status_code >= 500 else "check the request settings",
            )
            msg = f"the server at {self.base_url} answered HTTP {err.status_code}: {detail}; {hint}"
        else:
            msg = f"the OpenAI-compatible server at {self.base_url} failed: {err}"
        raise GemError(msg) from err


def _detail(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(err, "message", err))[:300]
