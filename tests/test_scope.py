"""Which configuration applies: scope, sending user, caching and invalidation."""

import pytest
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from symfonia_mail import mail_context
from symfonia_mail.config import resolver
from symfonia_mail.models import ConfigRevision, GlobalMailConfig, UserMailConfig

from .conftest import config_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def individual_server(make_smtp_server):
    return make_smtp_server(tls="starttls", users={"anna": "anna-Pa55"}, dsn=True)


@pytest.fixture
def anna(db, individual_server):
    user = User.objects.create_user("anna", password="x", first_name="Anna", last_name="Nowak")
    UserMailConfig.objects.create(
        user=user, scope="individual",
        **config_values(individual_server, sender_email="anna@firma.example",
                        sender_name="Anna Nowak"),
    )
    return user


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="x")


def test_individual_user_uses_own_server_others_the_global_one(
        global_config, smtp_server, individual_server, anna, bob):
    send_mail("a", "b", None, ["x@example.com"], connection=get_connection(user=anna))
    send_mail("a", "b", None, ["x@example.com"], connection=get_connection(user=bob))
    send_mail("a", "b", None, ["x@example.com"])  # no user: global
    [from_anna] = individual_server.messages
    assert from_anna.login == "anna" and from_anna.mail_from == "anna@firma.example"
    assert [m.mail_from for m in smtp_server.messages] == ["biuro@firma.example"] * 2


def test_switching_to_global_keeps_the_individual_values(
        global_config, smtp_server, individual_server, anna):
    row = anna.mail_config
    row.scope = "global"
    row.save()
    with mail_context(user=anna):
        send_mail("a", "b", None, ["x@example.com"])
    assert individual_server.messages == []
    assert smtp_server.messages[0].mail_from == "biuro@firma.example"
    stored = UserMailConfig.objects.get(user=anna)
    assert stored.host == individual_server.host and stored.port == individual_server.port
    assert stored.password == "anna-Pa55" and stored.sender_email == "anna@firma.example"
    stored.scope = "individual"
    stored.save()
    with mail_context(user=anna):
        send_mail("a", "b", None, ["x@example.com"])
    assert individual_server.messages[0].mail_from == "anna@firma.example"


def test_a_saved_change_applies_to_the_next_message(global_config, smtp_server):
    send_mail("a", "b", None, ["x@example.com"])
    config = GlobalMailConfig.get_solo()
    config.sender_email = "nowy@firma.example"
    config.save()
    send_mail("a", "b", None, ["x@example.com"])
    assert [m.mail_from for m in smtp_server.messages] == [
        "biuro@firma.example", "nowy@firma.example"]


def test_a_change_made_by_another_process_is_seen_by_the_next_connection(
        global_config, smtp_server):
    send_mail("a", "b", None, ["x@example.com"])
    # Another process: writes the row and the revision token, and cannot clear our cache.
    GlobalMailConfig.objects.filter(pk=1).update(sender_email="inny@firma.example")
    assert resolver.cached_generation().global_config is not None  # still cached here
    ConfigRevision.objects.filter(pk=1).update(token="changed-elsewhere")
    send_mail("a", "b", None, ["x@example.com"])
    assert smtp_server.messages[-1].mail_from == "inny@firma.example"


def test_mail_context_user_and_connection_user_precedence(
        global_config, smtp_server, individual_server, anna, bob):
    with mail_context(user=anna):
        send_mail("a", "b", None, ["x@example.com"])
        # get_connection(user=) wins over mail_context
        send_mail("a", "b", None, ["x@example.com"], connection=get_connection(user=bob))
    assert len(individual_server.messages) == 1
    assert len(smtp_server.messages) == 1


def test_messages_of_different_users_in_one_call_go_to_their_own_servers(
        global_config, smtp_server, individual_server, anna, bob):
    messages = []
    for user in (anna, bob, anna, None):
        msg = EmailMessage("a", "b", to=["x@example.com"])
        msg.user = user
        messages.append(msg)
    assert get_connection().send_messages(messages) == 4
    assert len(individual_server.messages) == 2
    assert len(smtp_server.messages) == 2
    assert individual_server.login_attempts == 1  # one reused connection per configuration


def test_middleware_makes_the_logged_in_user_the_sender(
        client, global_config, smtp_server, individual_server, anna):
    client.force_login(anna)
    response = client.get("/send/", {"to": "x@example.com"})
    assert response.content == b"1"
    assert individual_server.messages[0].mail_from == "anna@firma.example"
    client.logout()
    assert client.get("/send/").content == b"1"
    assert smtp_server.messages[0].mail_from == "biuro@firma.example"


def _queries_for(count, user):
    messages = [EmailMessage("S {numer}", "b", to=[f"r{i}@example.com"]) for i in range(count)]
    for msg in messages:
        msg.macros = {"numer": "FV/1"}
    with CaptureQueriesContext(connection) as captured:
        assert get_connection(user=user).send_messages(messages) == count
    return [q["sql"] for q in captured.captured_queries]


def test_no_configuration_query_per_message(global_config, smtp_server, anna, individual_server):
    for user in (None, anna):
        resolver.clear_cache()
        _queries_for(1, user)  # the first connection loads the configuration
        few, many = _queries_for(2, user), _queries_for(40, user)
        config_queries = [q for q in many if "mailconfig" in q.lower()]
        # Warm cache: one freshness query + one bulk log insert, whatever the count.
        assert len(many) == len(few)
        assert config_queries == []
        assert sum("configrevision" in q.lower() for q in many) == 1


def test_cached_config_is_loaded_once_per_revision(global_config, smtp_server):
    resolver.clear_cache()
    with CaptureQueriesContext(connection) as first:
        send_mail("a", "b", None, ["x@example.com"])
    with CaptureQueriesContext(connection) as second:
        send_mail("a", "b", None, ["x@example.com"])
    assert any("globalmailconfig" in q["sql"].lower() for q in first.captured_queries)
    assert not any("globalmailconfig" in q["sql"].lower() for q in second.captured_queries)
