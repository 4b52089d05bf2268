"""The official OpenAI Python SDK against a running agentgate.

Started by local/tests/clients.rs, which serves the API on a free port in front of a mock
upstream and passes what to expect through the environment. Strict response validation is
on, so every response must match the SDK's own types.
"""

import os

import openai
import pytest
from openai import OpenAI

BASE = os.environ["AGENTGATE_OPENAI_BASE_URL"]
TOKEN = os.environ["AGENTGATE_TOKEN"]
EXPECTED = os.environ["AGENTGATE_EXPECTED_TEXT"]
MODEL_ID = os.environ["AGENTGATE_MODEL_ID"]
BROKEN_TOKEN = os.environ["AGENTGATE_BROKEN_TOKEN"]
RATE_LIMIT = int(os.environ["AGENTGATE_RATE_PER_MINUTE"])


def client(token=TOKEN):
    return OpenAI(base_url=BASE, api_key=token, max_retries=0, _strict_response_validation=True)


def test_non_streaming_completion():
    resp = client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
        temperature=0.3,
        max_tokens=100,
        user="sdk-plain",
    )
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == EXPECTED
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_streaming_reassembles_the_upstream_text():
    stream = client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Stream please"}],
        stream=True,
    )
    pieces, finish = [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == EXPECTED
    assert finish == "stop"


def test_stream_options_include_usage():
    stream = client().chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Count my tokens"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_models_list_names_the_assistant():
    models = list(client().models.list())
    assert [m.id for m in models] == [MODEL_ID]
    assert client().models.retrieve(MODEL_ID).id == MODEL_ID
    with pytest.raises(openai.NotFoundError):
        client().models.retrieve("gpt-5")


def test_a_wrong_token_raises_authentication_error():
    with pytest.raises(openai.AuthenticationError) as err:
        client("pubkey_not_a_real_token").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.code == "invalid_api_key"


def test_bad_parameters_raise_bad_request_naming_the_param():
    with pytest.raises(openai.BadRequestError) as err:
        client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], temperature=7)
    assert err.value.param == "temperature"


def test_an_upstream_failure_mid_stream_is_raised():
    stream = client(BROKEN_TOKEN).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "break"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_rate_limits_raise_rate_limit_error():
    c = client()
    for _ in range(RATE_LIMIT):
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], user="sdk-limited")
    with pytest.raises(openai.RateLimitError) as err:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], user="sdk-limited")
    assert int(err.value.response.headers["retry-after"]) >= 1
