"""Publish/subscribe: the broker, the limits, the tag API, and delivery in sessions
(``livetag.testing``: two clients sharing one ``LocalBroker``)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import pytest

from livetag import Tag, pubsub
from livetag.errors import NotInSession, PubSubLimit
from livetag.pubsub import MAX_MESSAGE, MAX_TOPIC, LocalBroker, SessionTopics, check_topic, encode_message
from livetag.testing import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_chat() -> Any:
    spec = importlib.util.spec_from_file_location("example_chat_unit", EXAMPLES / "chat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the broker and the limits ------------------------------------------------------------


def test_local_broker_delivers_to_each_receiver_of_the_topic_until_cancelled() -> None:
    broker = LocalBroker()
    got: list[tuple[str, bytes]] = []
    a = broker.subscribe("t", lambda d: got.append(("a", d)))
    broker.subscribe("t", lambda d: got.append(("b", d)))
    broker.subscribe("other", lambda d: got.append(("c", d)))
    broker.publish("t", b"1")
    broker.publish("nobody", b"2")
    assert got == [("a", b"1"), ("b", b"1")]
    a.cancel()
    a.cancel()  # idempotent
    broker.publish("t", b"3")
    assert got[-1] == ("b", b"3") and len(got) == 3
    assert sorted(broker.topics()) == ["other", "t"]


def test_a_receiver_may_cancel_while_it_is_called() -> None:
    broker = LocalBroker()
    subs: list[Any] = []
    got: list[bytes] = []

    def once(data: bytes) -> None:
        got.append(data)
        subs[0].cancel()

    subs.append(broker.subscribe("t", once))
    broker.publish("t", b"1")
    broker.publish("t", b"2")
    assert got == [b"1"] and broker.topics() == []


def test_topics_and_messages_are_checked() -> None:
    assert check_topic("room:lobby") == "room:lobby"
    with pytest.raises(TypeError, match="str"):
        check_topic(b"bytes")
    with pytest.raises(ValueError, match="1 to 256"):
        check_topic("")
    with pytest.raises(ValueError, match=f"got {10_000}"):
        check_topic("x" * 10_000)
    assert check_topic("x" * MAX_TOPIC)
    assert encode_message({"a": [1, 2.5, None, True, "é"]}) == b'{"a":[1,2.5,null,true,"\xc3\xa9"]}'
    with pytest.raises(TypeError, match="JSON value"):
        encode_message({1, 2})
    with pytest.raises(TypeError, match="JSON value"):
        encode_message(object())
    with pytest.raises(ValueError, match=f"at most {MAX_MESSAGE} bytes"):
        encode_message("x" * MAX_MESSAGE)
    with pytest.raises(ValueError):
        LocalBroker().subscribe("x" * 10_000, lambda d: None)


def test_session_topics_subscribe_once_per_topic_and_cancel_with_the_last_handler() -> None:
    broker = LocalBroker()
    topics = SessionTopics(broker)
    a, b = object(), object()
    topics.add(a, "t", print)
    topics.add(b, "t", repr)
    topics.add(a, "t", print)  # the same pair again: counted once
    assert broker.topics() == ["t"]
    topics.remove(a)
    assert broker.topics() == ["t"]
    topics.remove(b, "t", repr)
    assert broker.topics() == [] and topics.topics() == []


def test_session_topics_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub, "MAX_TOPICS", 3)
    monkeypatch.setattr(pubsub, "MAX_QUEUED", 5)
    broker = LocalBroker()
    told: list[int] = []
    topics = SessionTopics(broker, lambda: told.append(1))
    tag = object()
    for n in range(3):
        topics.add(tag, f"t{n}", print)
    with pytest.raises(PubSubLimit, match="at most 3 topics"):
        topics.add(tag, "t3", print)
    assert sorted(broker.topics()) == ["t0", "t1", "t2"]
    for n in range(12):  # a slow session: the oldest are dropped, the newest kept
        broker.publish("t0", encode_message(n))
    assert told == [1]  # told once, when the inbox stopped being empty
    assert [data for _, data, _ in topics.take(100)] == [b"7", b"8", b"9", b"10", b"11"]
    topics.close()
    assert broker.topics() == []


def test_publishing_faster_than_the_rate_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub, "PUBLISH_BURST", 10)
    monkeypatch.setattr(pubsub, "PUBLISHES_PER_SECOND", 1e-6)  # no refill worth a token during the test
    broker = LocalBroker()
    got: list[bytes] = []
    broker.subscribe("t", got.append)
    topics = SessionTopics(broker)
    with pytest.raises(PubSubLimit, match="publishes per second"):
        for n in range(1000):
            topics.publish("t", n)
    assert len(got) == 10  # the burst, not more


def test_many_threads_subscribing_and_publishing_at_once() -> None:
    broker = LocalBroker()
    got: list[bytes] = []
    lock = threading.Lock()

    def receiver(data: bytes) -> None:
        with lock:
            got.append(data)

    def work(n: int) -> None:
        for i in range(200):
            sub = broker.subscribe(f"t{i % 5}", receiver)
            broker.publish(f"t{i % 5}", b"x")
            sub.cancel()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert broker.topics() == [] and len(got) >= 8 * 200


# -- the tag API in sessions ------------------------------------------------------------


class Listener(Tag.div):
    def init(self, topic: str = "news") -> None:
        self.got = Tag.ul(_class="got")
        self <= self.got
        self.subscribe(topic, self.heard)

    def heard(self, message: Any) -> None:
        self.got <= Tag.li(str(message["n"]))


class Board(Tag.App):
    """A listener that can be removed and put back; a button that publishes."""

    def init(self) -> None:
        self.listener = Listener()
        self.box = Tag.div(self.listener, _class="box")
        self <= self.box
        self <= Tag.button("publish", _class="pub", _onclick=self.send)
        self <= Tag.button("remove", _class="remove", _onclick=lambda e: self.listener.remove())
        self <= Tag.button("back", _class="back", _onclick=lambda e: self.box.add(self.listener))
        self <= Tag.button("bad", _class="bad", _onclick=lambda e: self.publish("news", {1, 2}))
        self.n = 0

    def send(self, e: Any) -> None:
        self.n += 1
        self.publish("news", {"n": self.n})


def test_a_session_hears_its_own_publish_and_an_update_follows() -> None:
    with TestClient(Board) as client:
        client.click("button.pub").click("button.pub")
        assert [li.text for li in client.find_all("ul.got li")] == ["1", "2"]
        client.assert_synced()


def test_two_sessions_hear_each_other() -> None:
    with TestClient(Board) as alice, alice.new_session() as bob:
        alice.click("button.pub")
        bob.advance(0)
        assert [li.text for li in bob.find_all("ul.got li")] == ["1"]
        bob.click("button.pub")  # bob's own counter
        alice.advance(0)
        assert [li.text for li in alice.find_all("ul.got li")] == ["1", "1"]
        assert [li.text for li in bob.find_all("ul.got li")] == ["1", "1"]


def test_subscriptions_end_when_the_tag_leaves_the_tree_and_resume_when_it_returns() -> None:
    with TestClient(Board) as alice, alice.new_session() as bob:
        broker = alice.broker
        alice.click("button.remove")
        assert broker.topics() == ["news"]  # bob still listens
        bob.click("button.remove")
        assert broker.topics() == []
        assert alice.session.topics.topics() == [] and bob.session.topics.topics() == []
        alice.click("button.pub")  # nobody listens: nothing anywhere
        bob.click("button.back")
        alice.click("button.pub")
        bob.advance(0)
        assert [li.text for li in bob.find_all("ul.got li")] == ["2"]


def test_subscriptions_end_with_the_session() -> None:
    alice = TestClient(Board)
    bob = alice.new_session()
    assert alice.broker.topics() == ["news"]
    alice.close()
    assert alice.broker.topics() == ["news"]
    bob.close()
    assert alice.broker.topics() == []


def test_a_non_json_message_is_a_handler_error_and_the_session_goes_on() -> None:
    with TestClient(Board) as client:
        client.click("button.bad")
        assert client.errors and client.errors[-1]["msg"].endswith(
            "TypeError: expected a JSON value as the message, got set: Type is not JSON serializable: set")
        client.click("button.pub")
        assert [li.text for li in client.find_all("ul.got li")] == ["1"]


def test_publishing_from_a_tag_outside_a_session_raises() -> None:
    with pytest.raises(NotInSession, match="publish from on_mount"):
        Tag.div().publish("news", 1)
    with pytest.raises(ValueError):
        Tag.div().publish("x" * 10_000, 1)
    with pytest.raises(ValueError):
        Tag.div().subscribe("x" * 10_000, print)
    with pytest.raises(TypeError, match="callable"):
        Tag.div().subscribe("news", "not callable")  # type: ignore[arg-type]


def test_unsubscribe_by_topic_and_handler() -> None:
    with TestClient(Board) as client:
        listener = client.session.app.listener  # type: ignore[attr-defined]
        listener.subscribe("other", listener.heard)
        assert sorted(client.session.topics.topics()) == ["news", "other"]
        listener.unsubscribe("news")
        assert client.session.topics.topics() == ["other"]
        listener.unsubscribe()
        assert client.session.topics.topics() == [] and client.broker.topics() == []


class Echo(Tag.App):
    """Replies to every ``ping`` with a ``pong`` (async handler) on the loop."""

    def init(self) -> None:
        self.log = Tag.ul(_class="log")
        self <= self.log
        self.subscribe("ping", self.ping)
        self.subscribe("pong", self.pong)

    async def ping(self, message: Any) -> None:
        self.publish("pong", message)

    def pong(self, message: Any) -> None:
        self.log <= Tag.li(f"pong {message}")


def test_async_handlers_and_handlers_that_publish() -> None:
    with TestClient(Echo) as a, a.new_session() as b:
        a.session.topics.publish("ping", 7)
        a.advance(0)
        b.advance(0)
        a.advance(0)
        # Each session answered the ping: two pongs each.
        assert [li.text for li in a.find_all("ul.log li")] == ["pong 7", "pong 7"]
        assert [li.text for li in b.find_all("ul.log li")] == ["pong 7", "pong 7"]


def test_the_chat_example_between_two_clients() -> None:
    chat = load_chat()
    with TestClient(chat.Chat) as alice, alice.new_session() as bob:
        alice.fill("input.name", "alice").fill("input.text", "hi <b>bob</b>").submit("form")
        assert alice.find("ul.messages li").text == "alice hi <b>bob</b>"
        assert alice.find("ul.messages li").has_class("mine")
        assert alice.find("input.text").value == ""
        bob.advance(0)
        assert bob.find("ul.messages li").text == "alice hi <b>bob</b>"
        assert not bob.find("ul.messages li").has_class("mine")
        bob.fill("input.name", "bob").fill("input.text", "hello").submit("form")
        alice.advance(0)
        assert [li.text for li in alice.find_all("ul.messages li")] == ["alice hi <b>bob</b>", "bob hello"]
        alice.assert_synced()
        bob.assert_synced()
    assert alice.broker.topics() == []


def test_a_flood_from_one_session_is_bounded_and_the_others_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub, "MAX_QUEUED", 50)
    monkeypatch.setattr(pubsub, "PUBLISHES_PER_SECOND", 1e-6)  # the burst, exactly

    class Flood(Tag.App):
        def init(self) -> None:
            self.sent = Tag.span("0", _class="sent")
            self <= self.sent
            self <= Tag.button("flood", _class="flood", _onclick=self.flood)

        def flood(self, e: Any) -> None:
            n = 0
            try:
                for i in range(100_000):
                    self.publish("news", {"n": i})
                    n += 1
            finally:
                self.sent.text = str(n)

    with TestClient(Flood) as flooder, flooder.new_session(Board) as victim:
        flooder.click("button.flood")
        assert flooder.text(".sent") == str(pubsub.PUBLISH_BURST)  # then PubSubLimit
        assert "PubSubLimit" in flooder.errors[-1]["trace"]
        victim.advance(0)
        assert len(victim.find_all("ul.got li")) <= 50  # its inbox kept the newest 50
        victim.click("button.pub")  # still answers, and hears its own message
        assert victim.find_all("ul.got li")[-1].text == "1"


def test_a_message_is_not_user_activity() -> None:
    calls: list[tuple[Any, ...]] = []
    with TestClient(Board) as alice, alice.new_session() as bob:
        bob.session.busy_hook = lambda *args: calls.append(args)  # type: ignore[method-assign]
        idle_since = bob.session.last_active
        alice.click("button.pub")
        bob.advance(0)
        assert [li.text for li in bob.find_all("ul.got li")] == ["1"]
        assert calls == [(True,), (False, False)]  # busy while it ran, but no activity
        assert bob.session.last_active == idle_since


def test_a_subscription_past_the_bounds_when_a_tag_joins_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub, "MAX_TOPICS", 1)

    class Two(Tag.App):
        def init(self) -> None:
            self.subscribe("a", print)
            self.extra = Tag.div(_class="extra")
            self.extra.subscribe("b", print)  # not in a tree yet: recorded, checked when it joins
            self <= Tag.button("add", _class="add", _onclick=lambda e: self.add(self.extra))

    with TestClient(Two) as client:
        client.click("button.add")
        assert client.exists("div.extra")  # the tree stays whole
        assert client.errors and "subscription of" in client.errors[-1]["msg"] + client.errors[-1].get("trace", "")
        assert client.session.topics.topics() == ["a"]


def test_hostile_publishes_in_a_live_session_raise_and_deliver_nothing() -> None:
    with TestClient(Board) as client:
        app = client.session.app
        with pytest.raises(ValueError, match=f"at most {MAX_MESSAGE} bytes"):
            app.publish("news", {"n": "x" * MAX_MESSAGE})
        with pytest.raises(ValueError, match="1 to 256 characters, got 10000"):
            app.publish("x" * 10_000, {"n": 1})
        with pytest.raises(ValueError, match="1 to 256 characters, got 10000"):
            app.subscribe("x" * 10_000, print)
        with pytest.raises(TypeError, match="JSON value"):
            app.publish("news", {"n": b"bytes"})
        with pytest.raises(TypeError, match="JSON value"):
            app.publish("news", {"n": object()})
        client.advance(0)
        assert client.find_all("ul.got li") == []
        assert client.session.topics.topics() == ["news"]
        client.click("button.pub")
        assert [li.text for li in client.find_all("ul.got li")] == ["1"]


def test_subscriptions_dropped_at_once_each_keep_their_receiver() -> None:
    # Nobody keeps the subscription objects: each one's id() is free for the next, which
    # must not replace the receiver the previous one registered.
    broker = LocalBroker()
    got: list[int] = []
    for i in range(100):
        broker.subscribe("t", lambda data, i=i: got.append(i))
    broker.publish("t", b"1")
    assert sorted(got) == list(range(100))
