"""The real app on a free port, driven over its API with gradio_client (measure backend, SQLite store)."""

from __future__ import annotations

import pytest

from app import auth
from app.main import build_demo, launch_kwargs, make_context
from gem_core.settings import get_settings
from tests.conftest import free_port

PUBLIC = {"/load_ecg", "/interpret", "/submit_rating", "/submit_preference"}
RATER = ("rater.api", "api password 1")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, app context) of the app launched once for this module, with one rater account."""
    data = tmp_path_factory.mktemp("api-data")
    users = data / "users.csv"
    auth.add_user(str(users), *RATER)
    settings = get_settings(data_dir=data, auth_file=str(users), port=free_port(), host="127.0.0.1")
    ctx = make_context(settings)
    demo = build_demo(settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    yield demo.local_url, ctx
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[0], auth=RATER, verbose=False)


def test_only_the_four_handlers_are_api_endpoints(client):
    info = client.view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == PUBLIC
    assert not info["unnamed_endpoints"]


@pytest.mark.parametrize("name", ["/run_export", "/run_summary", "/run_import", "/stop", "/measure_step"])
def test_admin_and_export_handlers_are_not_callable(client, name):
    with pytest.raises(ValueError):
        client.predict(api_name=name)


def test_private_handlers_cannot_be_reached_by_index(client):
    private = [i for i, ep in client.endpoints.items() if ep.api_name not in PUBLIC]
    assert private  # the app has many events, none of them reachable from a client
    for fn_index in private[:5]:
        with pytest.raises(Exception):  # noqa: B017 - gradio_client raises different types by version
            client.predict(fn_index=fn_index)


def test_wrong_password_is_refused(served):
    from gradio_client import Client

    with pytest.raises(Exception, match="(?i)login|auth|credential|401"):
        Client(served[0], auth=(RATER[0], "wrong password"), verbose=False)


def test_load_stream_rate_and_find_it_in_the_database(client, served):
    _, ctx = served
    sample_id = "synthetic:75bpm"
    figure, info, *_ = client.predict(sample_id, "12x1", False, api_name="/load_ecg")
    assert "synthetic" in info and figure

    job = client.submit(backend_name="measure", question="Interpret this ECG.", api_name="/interpret")
    outputs = list(job)  # every streamed update
    assert "Starting measure" in outputs[0][-1]  # first use: the status says a backend is starting
    # text updates only: while the backend loads, the status line changes and the text is left as it is
    texts = [out[0] for out in outputs[1:] if isinstance(out[0], str)]
    assert all(out[0] == {"__type__": "update"} for out in outputs[1:] if not isinstance(out[0], str))
    # the first sentence at once, then the whole text (chunks arriving faster than the screen's
    # UI_EVERY_S are merged into the next update)
    assert len(texts) >= 2 and texts[0].endswith(".") and len(texts[0]) < len(texts[-1])
    assert texts[-1].startswith("The heart rate") and "Done" in outputs[-1][-1]

    before = ctx.store.counts()["ratings"]
    status, _key = client.predict(
        0, "api-key-000000000001", 5, 4, 4, 4, 3, 4, 5, "via API", api_name="/submit_rating"
    )
    assert "Saved rating" in status
    again, _ = client.predict(
        0, "api-key-000000000001", 5, 4, 4, 4, 3, 4, 5, "via API", api_name="/submit_rating"
    )
    assert ctx.store.counts()["ratings"] == before + 1  # the retried submit wrote nothing

    rater = auth.find_rater(ctx, RATER[0])
    mine = ctx.store.my_ratings(rater)
    assert mine[-1].comment == "via API" and mine[-1].scores["analytical_relevance"] == 5
    stored = ctx.store.interpretation(mine[-1].interpretation_id)
    assert stored["text"] == texts[-1]


def test_rating_bad_input_is_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="interpretation 999999 was not shown in this session"):
        client.predict(999999, "api-key-000000000002", 5, 4, 4, 4, 3, 4, 5, "", api_name="/submit_rating")


def test_preference_over_the_api(client, served):
    import re

    _, ctx = served
    client.predict("synthetic:60bpm", "12x1", False, api_name="/load_ecg")
    ids = []
    for question in ("Interpret this ECG.", "Describe the rhythm."):
        *_, last = list(client.submit(backend_name="measure", question=question, api_name="/interpret"))
        ids.append(int(re.search(r"interpretation (\d+)", last[-1]).group(1)))
    before = ctx.store.counts()["preferences"]
    # the measurement-based interpreter reads the same way whatever the question: no choice to make
    assert ctx.store.interpretation(ids[0])["text"] == ctx.store.interpretation(ids[1])["text"]
    with pytest.raises(Exception, match="same text"):
        client.predict(*ids, "A is better", "", "api-pref-0000000000", api_name="/submit_preference")
    assert ctx.store.counts()["preferences"] == before
    # an imported reading of the same ECG is a different interpretation, but this session never showed it
    case_id = ctx.store.interpretation(ids[0])["case_id"]
    other = ctx.store.add_interpretation(case_id, "gem-7b", "Sinus bradycardia at 58 bpm.")
    with pytest.raises(Exception, match=f"interpretation {other} was not shown in this session"):
        client.predict(
            ids[0], other, "B is better", "clearer", "api-pref-0000000001", api_name="/submit_preference"
        )
    assert ctx.store.counts()["preferences"] == before
