"""A django-q2 worker killed (SIGKILL, by its PID) in the middle of a notification: the delivery
runs again and Slack gets the message once.

The real thing: `manage.py qcluster` in a subprocess (one worker) delivers to the local Slack
receiver, which takes the post and then holds its answer back; the test finds the worker holding
that connection and kills it. The broker loses the task with the worker (django-q2's Redis broker
pops a task before running it: at most once); what is not lost is the outbox row, leased to the
dead worker for OUTBOX_CLAIM_SECONDS. The next sweep (the minute schedule of setup_schedules,
queued here at once) claims it again; a lease that ran out marks it "maybe sent", so the worker
first asks Slack (conversations.history, the message's metadata key) and finds the post instead
of posting again.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from cleara.tests.outage import descendants, pid_with_local_port, qcluster, wait_for
from integrations.models import OutboxMessage
from integrations.tests.conftest import BOT_TOKEN, CHANNEL, SIGNING_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(slack, settings, monkeypatch):
    """A django-q2 cluster with one worker, on the test database, delivering to the receiver."""
    with qcluster(settings, monkeypatch, log_name="worker-killed.log", env={
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "CLEARA_BASE_URL": settings.CLEARA_BASE_URL, "OUTBOX_CLAIM_SECONDS": "3",
    }) as proc:
        yield proc


def test_a_worker_killed_mid_send_is_replaced_and_slack_gets_the_message_once(cluster, slack, open_incident, settings):
    from django_q.tasks import async_task

    slack.hang_after_acting_next(1, seconds=45, path_contains="chat.postMessage")
    incident = open_incident(title="Checkout latency")  # its Slack post is queued for the cluster
    post = wait_for(lambda: next((c for c in slack.calls if c.path.endswith("chat.postMessage")), None), 60, "the post to reach Slack")
    message = OutboxMessage.objects.get(incident=incident, kind="slack.post")
    assert message.status == OutboxMessage.Status.PENDING and message.attempts == 1 and message.claimed_until is not None

    worker = pid_with_local_port(descendants(cluster.pid), post.client_port)
    assert worker is not None, "no process of the cluster holds the connection to Slack"
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: worker not in descendants(cluster.pid) and len(descendants(cluster.pid)) >= 4, 30, "a new worker")

    time.sleep(int(os.environ.get("OUTBOX_CLAIM_SECONDS_TEST_WAIT", "4")))  # the dead worker's lease (3 s) runs out
    async_task("integrations.tasks.deliver_due_outbox")  # what the minute sweep runs
    wait_for(lambda: OutboxMessage.objects.get(pk=message.pk).status == OutboxMessage.Status.DELIVERED, 60, "the sweep to settle it")

    message.refresh_from_db()
    assert message.attempts == 2 and not message.maybe_sent
    top = slack.top_messages(CHANNEL)
    assert len(top) == 1, top  # posted once: the second attempt found the first instead of posting
    assert message.remote_id == top[0]["ts"]
    assert [c.path for c in slack.calls if c.path.endswith("chat.postMessage")] == ["/api/chat.postMessage"]
