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


# The Responses API (POST /responses), as the SDK's `client.responses` calls it.


def test_responses_create_returns_a_strict_response():
    resp = client().responses.create(
        model="gpt-4o",
        input="Hello!",
        instructions="Be brief.",
        max_output_tokens=100,
        user="sdk-responses",
        metadata={"source": "pytest"},
    )
    assert resp.object == "response"
    assert resp.id.startswith("resp_")
    assert resp.status == "completed"
    assert resp.output_text == EXPECTED
    assert resp.instructions == "Be brief."
    assert resp.metadata == {"source": "pytest"}
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    # Stored for the same end user: retrievable and continuable.
    fetched = client().responses.retrieve(resp.id, extra_headers={"X-End-User": "sdk-responses"})
    assert fetched.id == resp.id and fetched.output_text == EXPECTED
    follow = client().responses.create(
        model="gpt-4o", input="And then?", previous_response_id=resp.id, user="sdk-responses"
    )
    assert follow.previous_response_id == resp.id
    assert follow.output_text == EXPECTED
    with pytest.raises(openai.BadRequestError) as err:
        client().responses.create(model="gpt-4o", input="x", previous_response_id=resp.id, user="someone-else")
    assert err.value.param == "previous_response_id"


def test_responses_create_stream_sends_every_event_in_order():
    stream = client().responses.create(model="gpt-4o", input="Stream please", stream=True, user="sdk-responses-stream")
    events = list(stream)
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert {e.response.id for e in events if hasattr(e, "response")} == {events[0].response.id}
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == EXPECTED
    assert events[-1].response.output_text == EXPECTED


def test_responses_stream_helper_gives_the_final_response_and_usage():
    with client().responses.stream(model="gpt-4o", input="Helper please", user="sdk-responses-helper") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == EXPECTED
    assert final.output_text == EXPECTED
    assert final.usage.output_tokens > 0


def test_responses_refuse_tools_naming_the_param():
    with pytest.raises(openai.BadRequestError) as err:
        client().responses.create(
            model="gpt-4o",
            input="x",
            tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False}],
        )
    assert err.value.param == "tools"


def test_responses_raise_an_upstream_failure_mid_stream():
    stream = client(BROKEN_TOKEN).responses.create(model="gpt-4o", input="break", stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
