"""The ratings store's service API: accounts, roles, idempotent writes, rating history, preferences,
campaigns, de-identification. Each behaviour runs on SQLite and, when reachable, on PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from annotations.metrics import METRIC_NAMES, METRICS, metric, validate_scores
from annotations.store import LOCAL_ADMIN, AccessDenied, Store, verify_password
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.settings import Settings

PG_ENV = "GEM_TEST_POSTGRES_URL"


def scores(value: int = 4, **over) -> dict[str, int]:
    return {m: over.get(m, value) for m in METRIC_NAMES}


def key() -> str:
    return str(uuid.uuid4())


def random_ecg(seed: int, n: int = 2500, fs: float = 500.0, **meta) -> ECG:
    rng = np.random.default_rng(seed)
    return ECG(
        signal=rng.normal(0, 0.2, (12, n)).astype(np.float32), fs=fs, record_id=f"rec{seed}", metadata=meta
    )


# ----------------------------------------------------------------------------------------- PostgreSQL


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        pytest.skip(f"{PG_ENV} is not set (CI starts Debian's postgresql and sets it)")
    try:
        eng = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.exec_driver_sql("SELECT 1")
        eng.dispose()
    except Exception as err:  # any failure to connect means: no server here
        pytest.skip(f"PostgreSQL at {PG_ENV} is unreachable: {type(err).__name__}: {str(err)[:120]}")
    return url


@pytest.fixture(scope="session")
def pg_url():
    """A fresh database on the PostgreSQL server for this test session, dropped afterwards."""
    admin_url = sa.make_url(postgres_admin_url())
    name = f"gem_test_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with eng.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    eng.dispose()


def reset_postgres(url: str) -> None:
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """A migrated, empty store on SQLite (a temp file) or on the session's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
        reset_postgres(url)
    st = Store(url, settings=Settings.from_env({}, data_dir=tmp_path))
    yield st
    st.close()


@pytest.fixture
def people(store):
    admin = store.create_rater("admin", "admin-password", role="admin")
    alice = store.create_rater("alice", "alice-password", actor=admin)
    bob = store.create_rater("bob", "bob-password-x", actor=admin)
    return admin, alice, bob


@pytest.fixture
def interp(store):
    case = store.add_case(random_ecg(1), source="test")
    return store.add_interpretation(case, "gem", "Sinus rhythm at 75 bpm; normal axis.")


# ----------------------------------------------------------------------------------------------- metrics


def test_metrics_have_five_anchored_levels():
    assert len(METRICS) == 7 and len(set(METRIC_NAMES)) == 7
    for m in METRICS:
        assert sorted(m.levels) == [1, 2, 3, 4, 5] and all(len(t) > 5 for t in m.levels.values())
        assert m.label and m.question.endswith("?")
    with pytest.raises(GemError, match="unknown metric"):
        metric("vibes")


@pytest.mark.parametrize(
    "bad,message",
    [
        ({**scores(), "overall_satisfaction": 6}, "between 1 and 5"),
        ({**scores(), "clinical_value": 0}, "between 1 and 5"),
        ({**scores(), "clinical_value": 2.5}, "whole number"),
        ({**scores(), "clinical_value": True}, "whole number"),
        ({**scores(), "clinical_value": "4"}, "whole number"),
        ({k: v for k, v in scores().items() if k != "findings_novelty"}, "missing score"),
        ({**scores(), "beauty": 3}, "unknown metric"),
        ([4] * 7, "mapping"),
    ],
)
def test_bad_scores_are_rejected(bad, message):
    with pytest.raises(GemError, match=message):
        validate_scores(bad)


# ---------------------------------------------------------------------------------------------- accounts


def test_sqlite_engine_has_wal_foreign_keys_and_busy_timeout(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    with st.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    st.close()


def test_default_database_is_a_sqlite_file_under_the_data_dir(tmp_path):
    st = Store(settings=Settings.from_env({"GEM_DATA_DIR": str(tmp_path / "d")}))
    assert st.url.startswith("sqlite:///") and (tmp_path / "d" / "gem_studio.sqlite3").is_file()
    st.close()


def test_gem_db_url_and_the_spaces_data_folder(tmp_path, monkeypatch):
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'from-env.sqlite3'}"
    monkeypatch.setenv("GEM_DB_URL", url)
    with Store() as st:
        assert st.url == url and (tmp_path / "from-env.sqlite3").is_file()
    monkeypatch.delenv("GEM_DB_URL")
    # Hugging Face Spaces' persistent storage: /data when it exists, else data/ beside the checkout
    is_dir = Path.is_dir
    monkeypatch.setattr(Path, "is_dir", lambda self: self == Path("/data") or is_dir(self))
    assert Settings.from_env({}).database_url == "sqlite:////data/gem_studio.sqlite3"
    monkeypatch.setattr(Path, "is_dir", lambda self: self != Path("/data") and is_dir(self))
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).database_url == f"sqlite:///{tmp_path}/data/gem_studio.sqlite3"


def test_accounts_passwords_and_roles(store):
    admin = store.create_rater("admin", "admin-password", role="admin", display_name="Dr Admin")
    assert admin.is_admin and admin.display_name == "Dr Admin" and admin.pseudonym.startswith("R-")
    with pytest.raises(AccessDenied, match="only administrators"):
        store.create_rater("mallory", "mallory-password")  # no actor once an account exists
    alice = store.create_rater("alice", "alice-password", actor=admin)
    with pytest.raises(AccessDenied):
        store.create_rater("eve", "eve-password", actor=alice)
    with pytest.raises(GemError, match="taken"):
        store.create_rater("alice", "another-password", actor=admin)
    assert store.authenticate("alice", "alice-password") == alice
    for user, pw in [("alice", "wrong-password"), ("nobody", "alice-password")]:
        with pytest.raises(GemError, match="unknown username or wrong password"):
            store.authenticate(user, pw)
    assert store.verify_password("alice", "alice-password") and not store.verify_password("alice", "x")
    with store.session() as s:  # only a salted scrypt hash is stored
        stored = s.execute(sa.text("SELECT password_hash FROM raters WHERE username='alice'")).scalar()
    assert (
        "alice-password" not in stored
        and stored.startswith("scrypt$")
        and verify_password("alice-password", stored)
    )
    store.create_rater("alice2", "alice-password", actor=admin)
    with store.session() as s:
        hashes = (
            s.execute(sa.text("SELECT password_hash FROM raters WHERE username IN ('alice','alice2')"))
            .scalars()
            .all()
        )
    assert len(set(hashes)) == 2  # same password, different salt


@pytest.mark.parametrize(
    "username,password,role,message",
    [
        ("", "long-enough", "rater", "username"),
        ("a b", "long-enough", "rater", "username"),
        ("ok", "short", "rater", "at least 8"),
        ("ok", "long-enough", "owner", "role must be"),
    ],
)
def test_bad_account_input(store, username, password, role, message):
    with pytest.raises(GemError, match=message):
        store.create_rater(username, password, role=role)


def test_create_rater_is_idempotent(store, people):
    admin = people[0]
    k = key()
    first = store.create_rater("carol", "carol-password", actor=admin, idempotency_key=k)
    assert store.create_rater("carol", "carol-password", actor=admin, idempotency_key=k) == first
    assert len(store.raters(admin)) == 4


def test_external_accounts_and_users_file(store, tmp_path):
    hf = store.ensure_rater("hf:alice", display_name="Alice")
    assert store.ensure_rater("hf:alice") == hf and hf.role == "rater"
    assert not store.verify_password("hf:alice", "!external")
    from annotations.store import add_auth_user

    users = tmp_path / "users.csv"
    add_auth_user(users, "boss", "boss-password", role="admin", display_name="The Boss")
    add_auth_user(users, "rita", "rita-password")
    assert store.sync_auth_file(users) == 2 and store.sync_auth_file(users) == 0
    boss = store.authenticate("boss", "boss-password")
    assert boss.is_admin and boss.display_name == "The Boss"
    users.write_text("username,password_hash,role,display_name\nrita,plaintext,rater,Rita\n")
    with pytest.raises(GemError, match="line 2.*hash-password"):
        store.sync_auth_file(users)


def test_auth_file_is_csv_with_one_reader(tmp_path):
    from annotations.store import AUTH_FIELDS, AuthAccount, add_auth_user, hash_password, read_auth_file

    users = tmp_path / "users.csv"
    add_auth_user(users, "dr.ada", "correct horse 1", role="admin", display_name="Dr Ada")
    add_auth_user(users, "dr.bob", "battery staple")
    add_auth_user(users, "dr.bob", "battery staple 2")  # replaces, never duplicates
    lines = users.read_text().splitlines()
    assert lines[0] == ",".join(AUTH_FIELDS) and len(lines) == 3 and "battery" not in users.read_text()
    accounts = read_auth_file(users)
    assert accounts["dr.ada"] == AuthAccount("dr.ada", accounts["dr.ada"].password_hash, "admin", "Dr Ada")
    assert (accounts["dr.bob"].role, accounts["dr.bob"].display_name) == ("rater", "dr.bob")
    # hand-written: comments and blank lines, role and display_name optional
    hashed = hash_password("some password")
    users.write_text(f"# accounts\n\nusername,password_hash\nmo,{hashed}\n")
    assert read_auth_file(users) == {"mo": AuthAccount("mo", hashed, "rater", "mo")}
    bad = {
        f"mo:rater:{hashed}\n": "line 1: the first line must be the header",  # the old colon format
        f"username,password_hash,role\nmo,{hashed},boss\n": "line 2: role must be",
        f"username,password_hash\nmo,{hashed}\nmo,{hashed}\n": "line 3: mo is listed twice",
        f"username,password_hash\nmo bo,{hashed}\n": "line 2: username must be",
    }
    for text, message in bad.items():
        users.write_text(text)
        with pytest.raises(GemError, match=message):
            read_auth_file(users)
    with pytest.raises(GemError, match="does not exist.*add-user"):
        read_auth_file(tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------ cases, privacy


def test_cases_keep_only_deidentified_metadata(tmp_path):
    ecg = random_ecg(2, age=67, sex="F", comments="Mr Smith, bed 4", labels=["AF"], source_format="wfdb")
    with Store(f"sqlite:///{tmp_path / 'a.sqlite3'}", settings=Settings.from_env({})) as st:
        case = st.add_case(ecg, source="x.hea")
        assert st.add_case(ecg, source="elsewhere") == case  # one case per recording (content hash)
        with st.session() as s:
            meta = json.loads(s.execute(sa.text("SELECT metadata FROM cases")).scalar())
        assert meta["labels"] == ["AF"] and meta["fs"] == 500.0 and meta["n_samples"] == 2500
        assert "age" not in meta and "sex" not in meta and "Smith" not in json.dumps(meta)
        np.testing.assert_array_equal(st.case_ecg(case).signal, ecg.signal)  # kept for re-rendering
    allowed = Settings.from_env({"GEM_STORE_PATIENT_FIELDS": "1"})
    with Store(f"sqlite:///{tmp_path / 'b.sqlite3'}", settings=allowed) as st:
        st.add_case(ecg)
        with st.session() as s:
            meta = json.loads(s.execute(sa.text("SELECT metadata FROM cases")).scalar())
        assert meta["patient"]["age"] == 67


def test_interpretations_need_a_case_and_text(store):
    case = store.add_case(random_ecg(3))
    first = store.add_interpretation(
        case, "gem", "Atrial fibrillation.", params={"temperature": np.float32(0.0)}
    )
    assert store.add_interpretation(case, "gem", "Atrial fibrillation.", params={"temperature": 0.0}) == first
    assert store.interpretation(first)["params"] == {"temperature": 0.0}
    with pytest.raises(GemError, match="does not exist"):
        store.add_interpretation(case + 99, "gem", "text")
    with pytest.raises(GemError, match="non-empty text"):
        store.add_interpretation(case, "gem", "  ")
    with pytest.raises(GemError, match="needs an ECG"):
        store.add_case(np.zeros((12, 10)))


# ---------------------------------------------------------------------------------------------- ratings


def test_retried_rating_returns_the_original_and_writes_once(store, people, interp):
    _, alice, _ = people
    k = key()
    first = store.submit_rating(alice, interp, scores(4), "fine", 30.0, idempotency_key=k)
    again = store.submit_rating(alice, interp, scores(4), "fine", 31.5, idempotency_key=k)
    assert again.id == first.id and again.version == 1 and again.scores == first.scores
    assert store.counts()["ratings"] == 1 and store.counts()["rating_versions"] == 1
    with pytest.raises(GemError, match="different submission"):
        store.submit_rating(alice, interp, scores(2), "changed", idempotency_key=k)
    for bad in ("", None, "x" * 200):
        with pytest.raises(GemError, match="idempotency key"):
            store.submit_rating(alice, interp, scores(4), idempotency_key=bad)


def test_edits_keep_every_version(store, people, interp):
    _, alice, _ = people
    v1 = store.submit_rating(alice, interp, scores(3), "first look", 20, idempotency_key=key())
    v2 = store.submit_rating(
        alice, interp, scores(5, clinical_value=4), "on reflection", 45, idempotency_key=key()
    )
    assert v2.id == v1.id and v2.version == 2
    assert store.my_rating(alice, interp).scores["clinical_value"] == 4
    history = store.rating_history(alice, v1.id)
    assert [h.version for h in history] == [1, 2]
    assert [h.comment for h in history] == ["first look", "on reflection"] and history[0].scores == scores(3)
    assert store.counts()["ratings"] == 1


def test_a_rater_sees_and_changes_only_their_own_ratings(store, people, interp):
    admin, alice, bob = people
    mine = store.submit_rating(alice, interp, scores(4), idempotency_key=key())
    with pytest.raises(AccessDenied, match="own ratings"):
        store.get_rating(bob, mine.id)
    with pytest.raises(AccessDenied):
        store.rating_history(bob, mine.id)
    assert store.get_rating(admin, mine.id).scores == scores(4)  # admins may read
    # bob "editing" alice's interpretation rating creates bob's own rating; alice's is untouched
    store.submit_rating(bob, interp, scores(1), idempotency_key=key())
    assert store.get_rating(alice, mine.id).scores == scores(4) and store.my_rating(
        bob, interp
    ).scores == scores(1)
    assert [r.id for r in store.my_ratings(alice)] == [mine.id]
    # a retry of alice's key by bob is refused, not replayed
    k = key()
    store.submit_rating(alice, interp, scores(2), idempotency_key=k)
    with pytest.raises(GemError, match="different submission"):
        store.submit_rating(bob, interp, scores(2), idempotency_key=k)
    forged = type(alice)(alice.id, "R-forged00", "alice", "alice", "admin")
    with pytest.raises(AccessDenied, match="unknown rater"):
        store.get_rating(forged, mine.id)
    with pytest.raises(AccessDenied, match="sign in"):
        store.submit_rating(None, interp, scores(4), idempotency_key=key())
    with pytest.raises(AccessDenied, match="cannot rate"):
        store.submit_rating(LOCAL_ADMIN, interp, scores(4), idempotency_key=key())


def test_only_admins_export_import_assign_and_summarise(store, people, tmp_path):
    _, alice, _ = people
    with pytest.raises(AccessDenied, match="only administrators may export"):
        store.export(alice, "csv", tmp_path / "x.csv")
    with pytest.raises(AccessDenied, match="summaries"):
        store.summary(alice)
    with pytest.raises(AccessDenied, match="import"):
        store.import_campaign(alice, ["{}"], "c")
    with pytest.raises(AccessDenied):
        store.raters(alice)
    assert not (tmp_path / "x.csv").exists()
    assert isinstance(AccessDenied("x"), PermissionError) and isinstance(AccessDenied("x"), GemError)


def test_rating_a_missing_interpretation(store, people):
    with pytest.raises(GemError, match="does not exist"):
        store.submit_rating(people[1], 12345, scores(4), idempotency_key=key())


# ------------------------------------------------------------------------------------------ preferences


def test_preferences(store, people):
    _, alice, _ = people
    case = store.add_case(random_ecg(4))
    a = store.add_interpretation(case, "gem", "Sinus tachycardia.")
    b = store.add_interpretation(case, "baseline", "Normal ECG.")
    other = store.add_interpretation(store.add_case(random_ecg(5)), "gem", "Other case.")
    k = key()
    p = store.submit_preference(alice, a, b, "a", "names the rate", 12, idempotency_key=k)
    assert store.submit_preference(alice, a, b, "a", "names the rate", 12, idempotency_key=k) == p
    assert p.case_id == case and store.counts()["preferences"] == 1
    with pytest.raises(GemError, match="different submission"):
        store.submit_preference(alice, a, b, "b", idempotency_key=k)
    with pytest.raises(GemError, match="choice must be"):
        store.submit_preference(alice, a, b, "A", idempotency_key=key())
    with pytest.raises(GemError, match="same ECG"):
        store.submit_preference(alice, a, other, "a", idempotency_key=key())
    with pytest.raises(GemError, match="two different"):
        store.submit_preference(alice, a, a, "tie", idempotency_key=key())


# ---------------------------------------------------------------------------------------------- campaigns


def campaign_lines(tmp_path, n_cases: int, models=("gem", "baseline")) -> list[str]:
    lines = []
    for i in range(n_cases):
        path = tmp_path / f"case{i}.npy"
        np.save(path, np.random.default_rng(i).normal(0, 0.2, (12, 1000)).astype(np.float32))
        interps = [{"model": m, "text": f"{m} reading of case {i}"} for m in models]
        lines.append(json.dumps({"case": str(path), "interpretations": interps}))
    return lines


def test_campaign_assignment_order_and_resume(store, people, tmp_path):
    admin, alice, bob = people
    store.create_rater("carol", "carol-password", actor=admin)
    camp = store.import_campaign(
        admin, campaign_lines(tmp_path, 6), "pilot", guidelines_md="# Rate carefully", k_raters=2
    )
    assert camp.n_items == 6 and camp.blind_names == {"gem": "Model A", "baseline": "Model B"}
    again = store.import_campaign(
        admin, campaign_lines(tmp_path, 6), "pilot", guidelines_md="# Rate carefully", k_raters=2
    )
    assert again.id == camp.id and store.counts()["cases"] == 6  # same file again: same campaign
    with pytest.raises(GemError, match="already called"):
        store.import_campaign(admin, campaign_lines(tmp_path, 2), "pilot")
    assert store.assign(admin, "pilot") == 12 and store.assign(admin, "pilot") == 0
    loads = store.progress(admin, "pilot")["raters"]
    assert sorted(sum(v.values()) for v in loads.values()) == [4, 4, 4]  # balanced: 6 items x 2 / 3 raters

    first = store.next_item(alice, "pilot")
    assert first.index == 1 and first.total == 4 and first.guidelines_md == "# Rate carefully"
    assert {i["label"] for i in first.interpretations} == {"Model A", "Model B"}
    assert all("gem" not in json.dumps(i["label"]) for i in first.interpretations)
    assert store.next_item(alice, "pilot").item_id == first.item_id  # resume: same item until finished
    order_alice = queue(store, alice)
    assert order_alice[0] == first.item_id and len(order_alice) == 4
    # order is deterministic per rater and campaign: a fresh Store gives the same queue
    with Store(store.url) as again_store:
        assert queue(again_store, alice) == order_alice
    # finishing an item (rating every interpretation) moves the queue on
    for i in first.interpretations:
        store.submit_rating(
            alice, i["id"], scores(4), idempotency_key=key(), assignment_id=first.assignment_id
        )
    nxt = store.next_item(alice, "pilot")
    assert nxt.item_id != first.item_id and nxt.index == 2
    store.skip_item(alice, nxt.assignment_id)
    assert store.progress(alice, "pilot")["total"] == {
        "pending": 2,
        "in_progress": 0,
        "done": 1,
        "skipped": 1,
    }
    assert list(store.progress(alice, "pilot")["raters"]) == [alice.pseudonym]  # a rater sees only their own
    with pytest.raises(AccessDenied, match="another rater"):
        store.skip_item(bob, nxt.assignment_id)
    before = store.counts()
    with pytest.raises(AccessDenied, match="another rater"):  # refused as a whole: no rating is left behind
        store.submit_rating(
            bob,
            nxt.interpretations[0]["id"],
            scores(1),
            idempotency_key=key(),
            assignment_id=nxt.assignment_id,
        )
    assert store.counts() == before and store.my_rating(bob, nxt.interpretations[0]["id"]) is None
    with pytest.raises(GemError, match="not part of this campaign item"):
        other = [i for i in store.next_item(alice, "pilot").interpretations][0]["id"]
        store.submit_rating(alice, other, scores(3), idempotency_key=key(), assignment_id=first.assignment_id)


def test_each_rater_has_their_own_order_and_sides(store, people, tmp_path):
    admin, alice, bob = people
    carol = store.create_rater("carol", "carol-password", actor=admin)
    store.import_campaign(admin, campaign_lines(tmp_path, 8), "orders", k_raters=3)
    assert store.assign(admin, "orders") == 24
    queues = [queue(store, r) for r in (alice, bob, carol)]
    assert all(sorted(q) == sorted(queues[0]) and len(q) == 8 for q in queues)  # everyone rates every item
    assert len({tuple(q) for q in queues}) > 1  # ... each in their own order (seeded by the pseudonym)
    sides = set()
    for r, q in zip((alice, bob, carol), queues, strict=True):
        served = []
        while (item := store.next_item(r, "orders")) is not None:
            served.append(item.item_id)
            labels = [i["label"] for i in item.interpretations]
            models = [store.interpretation(i["id"])["model"] for i in item.interpretations]
            blind = {"gem": "Model A", "baseline": "Model B"}
            assert [blind[m] for m in models] == labels  # blind names, the same for every rater
            sides.add(tuple(labels))
            store.skip_item(r, item.assignment_id)
        assert served == q
    assert sides == {("Model A", "Model B"), ("Model B", "Model A")}  # A/B sides shuffled per rater and item


def queue(store, rater) -> list[int]:
    from annotations.models import Assignment

    with store.session() as s:
        rows = s.scalars(
            sa.select(Assignment.item_id)
            .where(Assignment.rater_id == rater.id)
            .order_by(Assignment.order_index, Assignment.item_id)
        )
        return list(rows)


def test_assign_needs_enough_raters(store, people, tmp_path):
    admin = people[0]
    store.import_campaign(admin, campaign_lines(tmp_path, 2), "big-k", k_raters=3)
    with pytest.raises(GemError, match="needs 3 raters"):
        store.assign(admin, "big-k")
    with pytest.raises(GemError, match="no campaign"):
        store.next_item(people[1], "nope")


@pytest.mark.parametrize(
    "line,message",
    [
        ("not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"case": 3, "interpretations": [{"model": "m", "text": "t"}]}', "'case' must be"),
        ('{"case": "x", "interpretations": []}', "non-empty list"),
        ('{"case": "x", "interpretations": [{"text": "t"}]}', "'model'"),
        ('{"case": "x", "interpretations": [{"model": "m", "text": ""}]}', "non-empty 'text'"),
        ('{"case": "missing.hea", "interpretations": [{"model": "m", "text": "t"}]}', "not an existing file"),
    ],
)
def test_bad_campaign_lines_name_the_line_and_write_nothing(store, people, line, message):
    admin = people[0]
    good = json.dumps({"case": "synthetic:60bpm", "interpretations": [{"model": "m", "text": "t"}]})
    with pytest.raises(GemError, match=message) as err:
        store.import_campaign(admin, ["", line, good] if "missing" not in line else [line], "bad")
    assert "<lines>:" in str(err.value)
    assert store.counts()["campaigns"] == 0 and store.counts()["cases"] == 0


def test_campaign_from_a_file_with_sample_ids_and_relative_paths(tmp_path):
    np.save(tmp_path / "rel.npy", np.random.default_rng(0).normal(0, 0.2, (12, 1000)).astype(np.float32))
    path = tmp_path / "study.jsonl"
    rows = [
        {
            "case": "synthetic:60bpm",
            "interpretations": [{"model": "gem", "text": "Sinus rhythm."}, {"model": "b", "text": "Normal."}],
        },
        {
            "case": "rel.npy",
            "interpretations": [{"model": "gem", "text": "Noise."}, {"model": "b", "text": "Artifact."}],
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with Store(f"sqlite:///{tmp_path / 's.sqlite3'}") as st:
        admin = st.create_rater("admin", "admin-password", role="admin")
        seen = []
        camp = st.import_campaign(
            admin, path, "ab", kind="compare", k_raters=1, progress=lambda d, t: seen.append((d, t))
        )
        assert camp.n_items == 2 and seen == [(1, 2), (2, 2)]
        with st.session() as s:
            sources = sorted(s.execute(sa.text("SELECT source FROM cases")).scalars())
        assert sources == ["rel.npy", "synthetic:60bpm"]
        rita = st.create_rater("rita", "rita-password", actor=admin)
        st.assign(admin, "ab")
        item = st.next_item(rita, "ab")
        a, b = (i["id"] for i in item.interpretations)
        st.submit_preference(rita, a, b, "tie", idempotency_key=key(), assignment_id=item.assignment_id)
        assert st.progress(admin, "ab")["total"]["done"] == 1
        with pytest.raises(GemError, match="exactly 2"):
            st.import_campaign(
                admin,
                [json.dumps({"case": "rel.npy", "interpretations": rows[0]["interpretations"][:1]})],
                "x",
                kind="compare",
            )


@pytest.mark.parametrize(
    "url,message",
    [
        ("not a url", "not valid"),
        ("sqlite:////proc/gem-no-such-dir/x.sqlite3", "cannot create the folder"),
        ("postgresql+psycopg://nobody:x@127.0.0.1:1/none", "cannot open the ratings database"),
    ],
)
def test_unusable_database_urls(url, message):
    with pytest.raises(GemError, match=message):
        Store(url)


def test_a_file_that_is_not_a_database(tmp_path):
    (tmp_path / "notes.sqlite3").write_text("these are not the ratings you are looking for\n" * 100)
    with pytest.raises(GemError, match="cannot open the ratings database"):
        Store(f"sqlite:///{tmp_path / 'notes.sqlite3'}")


def test_seconds_spent_is_checked(store, people, interp):
    for bad in (-1, "10", 10**9, True):
        with pytest.raises(GemError, match="seconds spent"):
            store.submit_rating(people[1], interp, scores(4), seconds=bad, idempotency_key=key())
    assert (
        store.submit_rating(people[1], interp, scores(4), seconds=12, idempotency_key=key()).seconds == 12.0
    )


def test_long_records_keep_their_source_not_their_samples(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'l.sqlite3'}") as st:
        case = st.add_case(random_ecg(7, n=500 * 180), source="holter.hea")  # 3 minutes
        with pytest.raises(GemError, match="holter.hea"):
            st.case_ecg(case)


def test_exports_and_summaries_filter_by_campaign(store, people, tmp_path):
    admin, alice, bob = people
    store.import_campaign(admin, campaign_lines(tmp_path, 2), "only-this", k_raters=1)
    outside = store.add_interpretation(store.add_case(random_ecg(9)), "gem", "Outside the campaign.")
    store.submit_rating(alice, outside, scores(5), idempotency_key=key())
    store.assign(admin, "only-this", [alice])
    item = store.next_item(alice, "only-this")
    for i in item.interpretations:
        store.submit_rating(
            alice, i["id"], scores(4), idempotency_key=key(), assignment_id=item.assignment_id
        )
    assert store.summary(admin)["n_ratings"] == 3
    assert store.summary(admin, campaign="only-this")["n_ratings"] == 2
    res = store.export(admin, "csv", tmp_path / "c.csv", campaign="only-this")
    assert res.rows == 2
    with pytest.raises(GemError, match="no campaign"):
        store.export(admin, "csv", tmp_path / "c.csv", campaign="other")


def test_a_role_change_takes_effect_at_once(store, tmp_path):
    from annotations.store import AUTH_FIELDS, hash_password

    users = tmp_path / "users.csv"
    hashed = hash_password("boss-password")
    users.write_text(f"{','.join(AUTH_FIELDS)}\nboss,{hashed},admin,Boss\n")
    store.sync_auth_file(users)
    boss = store.authenticate("boss", "boss-password")
    assert store.summary(boss)["n_ratings"] == 0
    users.write_text(f"{','.join(AUTH_FIELDS)}\nboss,{hashed},rater,Boss\n")
    store.sync_auth_file(users)
    with pytest.raises(AccessDenied):  # the view still says admin; the database no longer does
        store.summary(boss)
