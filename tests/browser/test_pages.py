"""Providers, usage and billing, models and gateway tokens, as the dev user; and an
organization's member who may read but not change its keys."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from support import admin, chat, delete_keys, eventually, http, open_page, screenshot, sign_in


def stat(page, testid: str) -> int:
    return int(page.get_by_test_id(testid).locator(".stat-value").inner_text())


def usage_shows(page, check) -> tuple[int, int]:
    """Opens the usage page until `check(managed, byok)` holds: calls are metered a moment
    after they are answered."""

    open_page(page, "Usage and billing")

    def attempt():
        page.reload()
        expect(page.get_by_test_id("managed-requests")).to_be_visible()
        managed, byok = stat(page, "managed-requests"), stat(page, "byok-requests")
        assert check(managed, byok), (managed, byok)
        return managed, byok

    return eventually(attempt)


def test_managed_calls_move_to_byok_and_disabled_refuses(page, gateway):
    delete_keys(gateway, "openai")
    sign_in(page, gateway.token)

    # With no key of mine, a call is served by a platform key.
    status, body, headers = eventually(lambda: _chat_from(gateway, "managed"))
    managed_before, byok_before = usage_shows(page, lambda managed, byok: managed >= 1)

    # I add a key in the console; the next calls go through it.
    open_page(page, "Keys")
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    dialog.get_by_label("Provider").select_option("openai")
    dialog.get_by_label("API key", exact=True).fill(f"sk-mock-usage-{uuid.uuid4().hex}")
    dialog.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    eventually(lambda: _chat_from(gateway, "byok"))
    _chat_from(gateway, "byok")

    usage_shows(page, lambda managed, byok: byok >= byok_before + 2 and managed == managed_before)
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("td", has_text="BYOK").first).to_be_visible()

    # A monthly cap, set and removed.
    page.get_by_label("Cap in US dollars per month").fill("25")
    page.get_by_role("button", name="Set cap").click()
    expect(page.get_by_test_id("cap-status")).to_contain_text("Monthly cap: $25.00")
    screenshot(page, "usage")
    page.get_by_role("button", name="Remove cap").click()
    expect(page.get_by_test_id("cap-status")).to_contain_text("No monthly cap")

    # Disabled: stated on the page, and calls are refused.
    open_page(page, "Providers")
    page.get_by_label("State of OpenAI").select_option("disabled")
    card = page.locator("li[data-provider=openai]")
    expect(card.locator(".state")).to_contain_text("Disabled: Never routed")
    expect(page.get_by_role("status").filter(has_text="OpenAI is now Disabled")).to_be_visible()
    screenshot(page, "providers-disabled")

    def refused():
        status, body, _ = chat(gateway, gateway.token)
        assert status >= 400, (status, body)

    eventually(refused)
    page.reload()
    expect(page.get_by_label("State of OpenAI")).to_have_value("disabled")
    page.get_by_label("State of OpenAI").select_option("custom_key")
    expect(card.locator(".state")).to_contain_text("Custom Key")
    eventually(lambda: _chat_from(gateway, "byok"))


def _chat_from(gateway, source: str):
    status, body, headers = chat(gateway, gateway.token)
    assert status == 200, (status, body)
    assert headers.get("x-keyroute-key-source") == source, headers.get("x-keyroute-key-source")
    return status, body, headers


def test_models_lists_plain_and_prefixed_ids_with_copy(page, gateway):
    sign_in(page, gateway.token)
    open_page(page, "Models")
    row = page.locator("tr", has=page.locator("code", has_text="openai/gpt-4o-mini")).first
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name="Copy: openai/gpt-4o-mini")).to_be_visible()
    page.get_by_label("Filter models").fill("claude")
    expect(page.locator("tr", has=page.locator("code", has_text="openai/gpt-4o-mini"))).to_be_hidden()
    page.get_by_label("Filter models").fill("")
    screenshot(page, "models")


def test_tokens_are_shown_once_and_revoked(page, gateway):
    sign_in(page, gateway.token)
    open_page(page, "Gateway tokens")
    name = f"ci-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Expires after").select_option("7")
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog", name="Copy your new token")
    token = dialog.get_by_label("The new gateway token").input_value()
    assert token.startswith("kr_")
    expect(dialog.get_by_role("button", name="Copy token")).to_be_visible()
    screenshot(page, "tokens-created")
    dialog.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert token not in page.content()
    row = page.locator("tr", has_text=name)
    expect(row).to_be_visible()
    assert http(gateway, "GET", "/api/v1/balance", token=token)[0] == 200
    screenshot(page, "tokens")

    row.get_by_role("button", name=f"Revoke {name}").click()
    page.get_by_role("dialog", name="Revoke token?").get_by_role("button", name="Revoke token").click()
    expect(page.locator("tr", has_text=name)).to_have_count(0)
    eventually(lambda: _refused(gateway, token))


def _refused(gateway, token):
    status, _, _ = http(gateway, "GET", "/api/v1/balance", token=token)
    assert status == 401, status


def test_an_org_member_reads_but_cannot_change_its_keys(page, gateway, new_page):
    me = http(gateway, "GET", "/api/v1/balance", token=gateway.token)[1]["principal_id"]
    org = admin(gateway, "orgs", "create", "--name", f"Analytical {uuid.uuid4().hex[:4]}", "--owner", me)
    member = admin(gateway, "users", "create", "--name", "Charles Babbage", "--email", f"cb-{uuid.uuid4().hex[:6]}@example.com")
    admin(gateway, "members", "add", "--org", org["id"], "--user", member["id"], "--role", "member")
    member_token = admin(gateway, "tokens", "issue", "--principal", member["id"])["token"]

    # The owner adds an org key in the console; the audit log shows it.
    sign_in(page, gateway.token)
    open_page(page, "Keys", owner=org["id"])
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    dialog.get_by_label("Provider").select_option("anthropic")
    dialog.get_by_label("API key", exact=True).fill("sk-mock-org-shared-key-9876")
    dialog.get_by_role("button", name="Save key").click()
    expect(page.locator("tr", has_text="anthropic:…9876")).to_be_visible()
    open_page(page, "Audit log")
    expect(page.locator("tr", has_text="credential.create").first).to_be_visible()
    screenshot(page, "audit")

    # The member sees the key, read-only.
    member_page = new_page()
    sign_in(member_page, member_token)
    open_page(member_page, "Keys", owner=org["id"])
    row = member_page.locator("tr", has_text="anthropic:…9876")
    expect(row).to_be_visible()
    expect(member_page.get_by_text("Read-only")).to_be_visible()
    expect(member_page.get_by_role("button", name="Add key", exact=True)).to_have_count(0)
    expect(row.get_by_role("switch")).to_be_disabled()
    expect(row.get_by_role("button", name="Delete anthropic:…9876")).to_have_count(0)
    expect(row.get_by_role("button", name="Replace secret of anthropic:…9876")).to_have_count(0)
    screenshot(member_page, "keys-member")
    open_page(member_page, "Providers")
    expect(member_page.get_by_label("State of Anthropic")).to_be_disabled()
    open_page(member_page, "Audit log")
    expect(member_page.get_by_text("Only the organization's owners and billing managers")).to_be_visible()
    # The API refuses the member too, whatever the page shows.
    status, body, _ = http(gateway, "POST", f"/api/v1/orgs/{org['id']}/keys", {"provider": "openai", "secret": "sk-mock-member-try-0000"}, token=member_token)
    assert status == 403, body


def test_the_keys_page_fits_a_phone(new_page, gateway):
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(phone, gateway.token)
    open_page(phone, "Keys")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(phone, "keys-phone")
