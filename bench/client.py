"""Post request bodies to Cleara's API from several client threads, as fast as the servers take them.

One shared work queue, one keep-alive connection per client and server; request i goes to server
`ports[(i + k) % len(ports)]` from client k, so several servers share the load. Every answer is
returned (status and body), the caller decides what counts."""
from __future__ import annotations

import http.client
import queue
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Posted:
    index: int  # position of the body in the list given
    start: float  # time.perf_counter() when the request was sent
    seconds: float  # until the whole answer was read
    status: int
    body: bytes


def post_all(ports: list[int], bodies: list[bytes | None], token: str, *, clients: int, path: str = "/api/v1/events",
             timeout: float = 600, method: str = "POST", pace: float = 0.0) -> tuple[list[Posted], float, float]:
    """Send every body once (`method` GET with bodies of None: a request each, no body); return
    the answers in index order and the wall clock (began, ended). With `pace`, request i is not
    sent before `pace * i` seconds after the start (an offered rate instead of flat out)."""
    work: queue.Queue = queue.Queue()
    for i, body in enumerate(bodies):
        work.put((i, body))
    answers: list[Posted] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(k: int) -> None:
        conns = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=timeout) for p in ports}
        while True:
            try:
                i, body = work.get_nowait()
            except queue.Empty:
                return
            port = ports[(i + k) % len(ports)]
            if pace and (wait := began + pace * i - time.perf_counter()) > 0:
                time.sleep(wait)
            start = time.perf_counter()
            conns[port].request(method, path, body=body, headers=headers)
            response = conns[port].getresponse()
            data = response.read()
            posted = Posted(i, start, time.perf_counter() - start, response.status, data)
            with lock:
                answers.append(posted)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended = time.perf_counter()
    answers.sort(key=lambda a: a.index)
    return answers, began, ended
