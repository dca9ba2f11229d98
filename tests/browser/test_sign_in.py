"""Signing in and out: the link `keyroute dev` prints, a gateway token, sign-out, and a
session that ended while the page was open."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from support import http, open_page, screenshot, sign_in


def test_the_printed_link_signs_in_once_and_leaves_the_address_bar(page, gateway, new_page):
    assert "#code=" in gateway.console_link, "keyroute dev printed no `console: http://...#code=...` line"
    page.goto(gateway.console_link)
    expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()
    assert "code=" not in page.url
    assert page.evaluate("history.length") >= 1 and "code=" not in page.evaluate("location.href")
    expect(page.get_by_label("State of OpenAI")).to_have_value("custom_key")
    screenshot(page, "providers")

    # The code is spent: the same link in another browser asks for a token instead.
    other = new_page()
    other.goto(gateway.console_link)
    expect(other.get_by_role("heading", name="Sign in to keyroute")).to_be_visible()
    expect(other.get_by_text("already used or has expired")).to_be_visible()
    assert "code=" not in other.url
    screenshot(other, "sign-in")


def test_a_refused_token_is_said_on_the_field(page):
    page.goto("/")
    page.get_by_label("Gateway token").fill("kr_not-a-real-token-0000000000000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("This token was refused")).to_be_visible()
    expect(page.get_by_label("Gateway token")).to_have_value("")


def test_sign_out_ends_the_session(page, gateway):
    sign_in(page, gateway.token)
    session = next(c for c in page.context.cookies() if c["name"] == "kr_session")
    assert session["httpOnly"]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to keyroute")).to_be_visible()
    # The old cookie is refused by the server, not only forgotten by the page.
    status, _, _ = http(gateway, "GET", "/api/v1/session", headers={"cookie": f"kr_session={session['value']}"})
    assert status == 401


def test_a_session_ended_elsewhere_shows_the_sign_in(page, gateway, playwright):
    sign_in(page, gateway.token)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    # The session is revoked by another client holding the same cookie; the page still has it.
    other = playwright.request.new_context(base_url=gateway.url, extra_http_headers={
        "cookie": f"kr_session={cookies['kr_session']}; kr_csrf={cookies['kr_csrf']}",
        "x-csrf-token": cookies["kr_csrf"],
    })
    assert other.delete("/api/v1/session").status == 204
    other.dispose()
    assert any(c["name"] == "kr_session" for c in page.context.cookies())
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Keys", exact=True).click()
    expect(page.get_by_text("Your session ended. Sign in again.")).to_be_visible()
    expect(page.get_by_label("Gateway token")).to_be_visible()
    # Signing in again works from there.
    page.get_by_label("Gateway token").fill(gateway.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("Keys|Providers"), level=1)).to_be_visible()
    open_page(page, "Keys")
