import time

import httpx
import pytest

from stratloop.acceptance.llm_server import ErrorStatus, Hang, Reply, ScriptedOpenAIServer


def _post(url: str, body: object, timeout: float = 5.0) -> tuple[int, dict]:
    response = httpx.post(url, json=body, timeout=timeout)
    return response.status_code, response.json()


class TestScriptedOpenAIServer:
    def test_serves_script_in_order(self, server: ScriptedOpenAIServer) -> None:
        """Completion requests get the scripted steps one after another."""
        server.extend([Reply("first"), ErrorStatus(503, "busy")])
        url = server.base_url + "/chat/completions"
        status, body = _post(url, {"model": "m", "messages": []})
        assert status == 200
        assert body["choices"][0]["message"]["content"] == "first"
        assert body["usage"]["total_tokens"] == 150
        status, body = _post(url, {"model": "m", "messages": []})
        assert (status, body["error"]["message"]) == (503, "busy")
        assert server.remaining == 0

    def test_exhausted_script_fails_loudly(self, server) -> None:
        """A request beyond the script gets a 500 that says so."""
        status, body = _post(server.base_url + "/chat/completions", {"messages": []})
        assert status == 500
        assert "no reply left" in body["error"]["message"]

    def test_records_requests(self, server) -> None:
        """Each request's path and JSON body are recorded, oldest first."""
        server.extend([Reply("a")])
        _post(
            server.base_url + "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}
        )
        (request,) = server.requests
        assert request.method == "POST"
        assert request.path == "/v1/chat/completions"
        assert request.messages == ({"role": "user", "content": "hi"},)
        assert not request.authorized

    def test_lists_models(self) -> None:
        """GET /v1/models lists the configured model."""
        with ScriptedOpenAIServer(model="llama-test") as running:
            body = httpx.get(running.base_url + "/models", timeout=5).json()
        assert [m["id"] for m in body["data"]] == ["llama-test"]

    def test_unknown_route_is_404(self, server) -> None:
        """Other paths are 404 and do not consume the script."""
        server.extend([Reply("kept")])
        status, _ = _post(server.base_url + "/completions", {})
        assert status == 404
        assert server.remaining == 1

    def test_stop_releases_hanging_requests(self) -> None:
        """Stopping the server does not wait for a scripted hang to end."""
        running = ScriptedOpenAIServer([Hang(60.0)]).start()
        with pytest.raises(httpx.TimeoutException):
            _post(running.base_url + "/chat/completions", {}, timeout=0.2)
        started = time.monotonic()
        running.stop()
        assert time.monotonic() - started < 3.0

    def test_binds_loopback_on_a_free_port(self) -> None:
        """Two servers get two different loopback ports."""
        with ScriptedOpenAIServer() as one, ScriptedOpenAIServer() as two:
            assert one.base_url != two.base_url
            assert one.base_url.startswith("http://127.0.0.1:")
