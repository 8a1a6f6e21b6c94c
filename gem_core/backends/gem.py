"""The ``gem`` backend: the local GEM model, streaming text from a worker thread.

``generate`` runs in a thread and feeds a ``TextIteratorStreamer``; ``stream`` yields its chunks. A stop
request (the caller's ``threading.Event``, or closing the iterator) ends generation at the next token
through a ``StoppingCriteria``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import torch

from gem_core.backends import GenerationParams
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.settings import Settings

log = logging.getLogger(__name__)


def _stop_criteria(*events: threading.Event | None):
    from transformers import StoppingCriteria, StoppingCriteriaList

    flags = [e for e in events if e is not None]

    class EventStop(StoppingCriteria):
        """True for every row once any of ``events`` is set: checked after every token, so the caller's
        Stop ends ``generate`` at the next token, however long the consumer waits on the streamer."""

        def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
            stopped = any(e.is_set() for e in flags)
            return torch.full((input_ids.shape[0],), stopped, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([EventStop()])


def generate_kwargs(params: GenerationParams, tokenizer) -> dict:
    """``generate`` arguments for ``params``: greedy when temperature is 0, else nucleus sampling."""
    if params.max_new_tokens < 1:
        raise GemError(f"max_new_tokens must be at least 1, got {params.max_new_tokens}")
    if params.temperature < 0 or not 0 < params.top_p <= 1:
        raise GemError(
            f"temperature must be >= 0 and top_p in (0, 1]; got {params.temperature}, {params.top_p}"
        )
    kwargs = {
        "max_new_tokens": params.max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if params.temperature == 0:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=None)
    return kwargs


class GemInterpreter:
    """Streams GEM's interpretation of an ECG. One generation at a time per model (a lock serialises)."""

    name = "gem"
    is_gem = True

    def __init__(self, model, max_new_tokens: int = 1024, window: str = "first", model_name: str = "GEM"):
        if getattr(model, "processor", None) is None:
            raise GemError("the GEM model has no processor attached; load it with gem_core.model.load_gem")
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.window = window
        self.label = f"GEM ({model_name})"
        self.device = str(model.device)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, progress=None) -> GemInterpreter:
        """Load ``GEM_MODEL`` with ``GEM_ECG_TOWER``, ``GEM_VISION_TOWER``, ``GEM_DEVICE``, ``GEM_DTYPE``, ..."""
        from gem_core.model import load_gem

        if not settings.model:
            raise GemError("the gem backend needs GEM_MODEL (a path or hub id such as LANSG/GEM)")
        model = load_gem(
            settings.model,
            ecg_tower=settings.ecg_tower or None,
            vision_tower=settings.vision_tower or None,
            dtype=settings.dtype or None,
            device=settings.device or None,
            load_in_4bit=settings.load_in_4bit,
            progress=progress,
        )
        model.processor.image_layout = settings.image_layout
        return cls(
            model,
            max_new_tokens=settings.max_new_tokens,
            model_name=settings.model,
        )

    def inputs(self, ecg: ECG, question: str, image=None) -> dict:
        """The model inputs (tensors on the model's device) for one ECG and question."""
        if not isinstance(ecg, ECG):
            raise GemError(f"the GEM backend needs an ECG, got {type(ecg).__name__}")
        batch = self.model.processor(ecg, question, image=image, window=self.window)
        keys = ("input_ids", "attention_mask", "ecg_values", "pixel_values")
        return {k: batch[k].to(self.model.device) for k in keys}

    def stream(
        self,
        ecg: ECG,
        question: str,
        params: GenerationParams | None = None,
        stop: threading.Event | None = None,
        image=None,
    ) -> Iterator[str]:
        """Yield text chunks as GEM writes them; returns early once ``stop`` is set."""
        from transformers import TextIteratorStreamer

        params = params or GenerationParams(max_new_tokens=self.max_new_tokens)
        tokenizer = self.model.processor.tokenizer
        gen = generate_kwargs(params, tokenizer)
        inputs = self.inputs(ecg, question, image)
        halt = threading.Event()  # set by the caller's stop (polled below) or by closing this iterator
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=False, skip_special_tokens=True, timeout=0.25)
        failure: list[BaseException] = []

        def work():
            try:
                with self._lock:
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    self.model.generate(
                        **inputs, **gen, streamer=streamer, stopping_criteria=_stop_criteria(halt, stop)
                    )
            except BaseException as err:  # handed to the consumer thread, re-raised there
                failure.append(err)
                streamer.end()

        worker = threading.Thread(target=work, name="gem-generate", daemon=True)
        worker.start()
        try:
            yield from self._drain(streamer, worker, stop, halt)
        finally:
            halt.set()
            worker.join()
        if failure:
            err = failure[0]
            if isinstance(err, GemError):
                raise err
            if isinstance(err, torch.OutOfMemoryError):
                raise GemError(
                    "GEM ran out of memory while generating; lower max_new_tokens or load in 4-bit"
                ) from err
            raise err

    @staticmethod
    def _drain(streamer, worker: threading.Thread, stop, halt: threading.Event) -> Iterator[str]:
        import queue

        while True:
            if stop is not None and stop.is_set():
                halt.set()
            try:
                chunk = next(streamer)
            except StopIteration:
                return
            except queue.Empty:  # no token within the timeout: check stop and whether the worker died
                if not worker.is_alive() and streamer.text_queue.empty():
                    return
                continue
            if chunk and not halt.is_set():
                yield chunk
