import pytest

from gem_core.errors import GemError
from gem_core.settings import Settings


def test_defaults_run_offline(tmp_path):
    s = Settings.from_env({})
    assert s.port == 7860 and s.model == "" and s.openai_base_url == ""
    assert s.database_url.startswith("sqlite:///")


def test_env_values_are_typed():
    s = Settings.from_env({"GEM_PORT": "9001", "GEM_LOAD_IN_4BIT": "true", "GEM_MAX_UPLOAD_MB": "2.5"})
    assert (s.port, s.load_in_4bit, s.max_upload_mb) == (9001, True, 2.5)


@pytest.mark.parametrize("key,value", [("GEM_PORT", "eighty"), ("GEM_LOAD_IN_4BIT", "maybe")])
def test_malformed_value_names_the_variable(key, value):
    with pytest.raises(GemError, match=key):
        Settings.from_env({key: value})
