"""Small HTTP/1.1 clients for the coordinator's JSON API (keep-alive, no dependencies beyond the stdlib).

    Client(base_url).post("/v1/leases/claim", {"key": k, "lease_ms": 1000})   -> (status, json body)
    async with AsyncClient(host, port) as c: await c.post(path, body)         -> (status, json body)

AsyncClient is lean on purpose: the contention tests and scripts/benchmark.py run dozens of them in one
event loop, and the client must cost far less than the server it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
from typing import Any
from urllib.parse import urlsplit


class Client:
    """Blocking client with one keep-alive connection (reopened after an error)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        url = urlsplit(base_url)
        self.host, self.port, self.timeout = url.hostname or "127.0.0.1", url.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=hdrs)
                response = self._conn.getresponse()
                payload = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("connection", "").lower() == "close":
                self.close()
            try:
                return response.status, json.loads(payload) if payload else None
            except ValueError:
                return response.status, payload.decode(errors="replace")
        raise AssertionError("unreachable")

    def post(self, path: str, body: Any = None, **kwargs) -> tuple[int, Any]:
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class AsyncClient:
    """One keep-alive connection; requests on it are sequential (use one client per concurrent caller)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        """(status, decoded JSON). Raises ConnectionError (or OSError) when the server is gone."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        self._writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self.host.encode(), len(data), data)
        )
        try:
            async with asyncio.timeout(self.timeout):
                head = await self._reader.readuntil(b"\r\n\r\n")
                length, close = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                payload = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            await self.close()
            raise ConnectionError(f"connection to {self.host}:{self.port} lost: {exc}") from exc
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return int(head[9:12]), json.loads(payload) if payload else None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
