"""Keys: add an OpenAI key through the Add Key dialog, test it (a working key and a failing
one, each with its toast, the outcome and time still shown after a reload), refused shapes
(the client's check and the server's error on its field), rename (a taken label refused on
its field), replace, disable, delete; a canary secret never comes back to the page."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from support import delete_keys, open_page, screenshot, sign_in


def add_key(page, provider: str, fields: dict, label: str | None = None):
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    dialog.get_by_label("Provider").select_option(provider)
    for name, value in fields.items():
        dialog.get_by_label(name, exact=True).fill(value)
    if label is not None:
        dialog.get_by_label("Label (optional)").fill(label)
    dialog.get_by_role("button", name="Save key").click()
    return dialog


def test_add_test_and_never_show_a_canary_secret_again(page, gateway, recorded):
    delete_keys(gateway, "openai")
    canary = f"sk-mock-canary-{uuid.uuid4().hex}"
    sign_in(page, gateway.token)
    open_page(page, "Keys")
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    dialog.get_by_label("Provider").select_option("openai")
    secret = dialog.get_by_label("API key", exact=True)
    expect(secret).to_have_attribute("type", "password")
    secret.fill(canary)
    # The eye shows the secret while typing, and hides it again.
    dialog.get_by_role("button", name="Show secret").click()
    expect(secret).to_have_attribute("type", "text")
    dialog.get_by_role("button", name="Hide secret").click()
    expect(secret).to_have_attribute("type", "password")
    screenshot(page, "keys-add")
    dialog.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    fingerprint = f"openai:…{canary[-4:]}"
    row = page.locator("tr", has_text=fingerprint)
    expect(row).to_be_visible()
    expect(row.get_by_role("switch")).to_be_checked()
    row.get_by_role("button", name=f"Test {fingerprint}").click()
    expect(page.get_by_role("status").filter(has_text="OpenAI answered in")).to_be_visible()
    expect(page.locator("tr", has_text=fingerprint).locator("td[data-label='Last outcome']")).to_have_text("ok")
    # The API keeps the outcome and time: a reload still shows them.
    page.reload()
    open_page(page, "Keys")
    row = page.locator("tr", has_text=fingerprint)
    expect(row.locator("td[data-label='Last outcome']")).to_have_text("ok")
    expect(row.locator("td[data-label='Last tested']")).not_to_have_text("Not yet")
    expect(row.locator("td[data-label='Last tested']")).not_to_have_text("—")

    # The provider picker now marks OpenAI as configured.
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    expect(dialog.get_by_label("Provider").locator("option[value=openai]")).to_have_text("OpenAI (configured)")
    dialog.get_by_role("button", name="Close").click()
    screenshot(page, "keys")

    # Everywhere else in the console, the canary stays absent.
    for name in ("Providers", "Usage and billing", "Models", "Gateway tokens", "Keys"):
        open_page(page, name)
        assert canary not in page.content()
    values = page.evaluate("[...document.querySelectorAll('input, textarea')].map((e) => e.value)")
    assert canary not in "".join(values)
    assert canary not in page.content()
    assert recorded.bodies, "no responses were recorded"
    for url, body in recorded.bodies:
        assert canary not in body, f"the canary came back in {url}"
    storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert canary not in storage and "kr_" not in storage
    assert not any(canary in c["value"] for c in page.context.cookies())
    assert canary not in page.url


def test_a_failing_key_says_why_in_its_toast_and_can_be_deleted(page, gateway):
    sign_in(page, gateway.token)
    open_page(page, "Keys")
    bad = "sk-live-refused-by-the-mock-0042"
    add_key(page, "openai", {"API key": bad}, label="refused")
    expect(page.get_by_role("dialog")).to_have_count(0)
    fingerprint = "openai:…0042"
    row = page.locator("tr", has_text=fingerprint)
    row.get_by_role("button", name=f"Test {fingerprint}").click()
    expect(page.get_by_role("alert").filter(has_text="OpenAI refused the key")).to_be_visible()
    expect(row.locator("td[data-label='Last outcome']")).to_have_text("key invalid")
    page.reload()
    open_page(page, "Keys")
    expect(row.locator("td[data-label='Last outcome']")).to_have_text("key invalid")

    # Disable, then delete with confirmation.
    row.get_by_role("switch").uncheck()
    expect(page.get_by_role("status").filter(has_text=f"{fingerprint} disabled")).to_be_visible()
    row.get_by_role("button", name=f"Delete {fingerprint}").click()
    confirm = page.get_by_role("dialog", name="Delete key?")
    expect(confirm).to_contain_text(fingerprint)
    confirm.get_by_role("button", name="Delete key").click()
    expect(page.locator("tr", has_text=fingerprint)).to_have_count(0)


def test_refused_shapes_are_said_on_their_field(page, gateway):
    sign_in(page, gateway.token)
    open_page(page, "Keys")
    # The client's own check, mirroring the vault's: no whitespace inside a key.
    dialog = add_key(page, "openai", {"API key": "sk-mock- pasted with a space"})
    expect(dialog.locator(".field[data-field=secret] .field-error")).to_contain_text("whitespace")
    expect(dialog.get_by_label("API key", exact=True)).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name="Close").click()

    # The server's refusal (a Bedrock JSON whose access key id is malformed), on the secret.
    page.get_by_role("button", name="Add key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Add key")
    dialog.get_by_label("Provider").select_option("bedrock")
    dialog.get_by_label("Credential kind").select_option("json")
    dialog.get_by_label("Bedrock API key or JSON").fill('{"accessKeyId":"short","secretAccessKey":"abc","region":"us-east-1"}')
    with page.expect_response(re.compile(r"/api/v1/keys$")) as answer:
        dialog.get_by_role("button", name="Save key").click()
    assert answer.value.status == 400
    expect(dialog.locator(".field[data-field=secret] .field-error")).to_contain_text("accessKeyId must be an AWS access key id")
    screenshot(page, "keys-refused")

    # A label already used for the provider: the server's 409 lands on the label field.
    dialog.get_by_role("button", name="Close").click()
    add_key(page, "anthropic", {"API key": "sk-mock-anthropic-first-key-1111"}, label="twin")
    expect(page.get_by_role("dialog")).to_have_count(0)
    dialog = add_key(page, "anthropic", {"API key": "sk-mock-anthropic-second-key-2222"}, label="twin")
    expect(dialog.locator(".field[data-field=label] .field-error")).to_contain_text("already configured")
    dialog.get_by_role("button", name="Close").click()


def test_replace_secret_keeps_the_row_and_changes_the_fingerprint(page, gateway):
    sign_in(page, gateway.token)
    open_page(page, "Keys")
    add_key(page, "mistral", {"API key": "sk-mock-mistral-before-aaaa"})
    row = page.locator("tr", has_text="mistral:…aaaa")
    row.get_by_role("button", name="Replace secret of mistral:…aaaa").click()
    dialog = page.get_by_role("dialog", name="Replace secret")
    dialog.get_by_label("API key", exact=True).fill("sk-mock-mistral-after-bbbb")
    dialog.get_by_role("button", name="Replace secret").click()
    expect(page.locator("tr", has_text="mistral:…bbbb")).to_be_visible()
    expect(page.locator("tr", has_text="mistral:…aaaa")).to_have_count(0)


def test_rename_a_key_and_a_taken_label_is_said_on_its_field(page, gateway):
    delete_keys(gateway, "google")
    sign_in(page, gateway.token)
    open_page(page, "Keys")
    add_key(page, "google", {"API key": "sk-mock-google-first-key-3333"}, label="first")
    expect(page.get_by_role("dialog")).to_have_count(0)
    add_key(page, "google", {"API key": "sk-mock-google-second-key-4444"}, label="second")
    expect(page.get_by_role("dialog")).to_have_count(0)

    row = page.locator("tr", has_text="google:…3333")
    row.get_by_role("button", name="Rename google:…3333").click()
    dialog = page.get_by_role("dialog", name="Rename key")
    label = dialog.get_by_label("Label", exact=True)
    expect(label).to_have_value("first")
    # The client's check, mirroring the vault's.
    label.fill("has a space")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog.locator(".field[data-field=label] .field-error")).to_contain_text("letters, digits")
    # The server's 409 for a label the other key has, on the field.
    label.fill("second")
    with page.expect_response(re.compile(r"/api/v1/keys/cred_")) as answer:
        dialog.get_by_role("button", name="Rename").click()
    assert answer.value.status == 409
    expect(dialog.locator(".field[data-field=label] .field-error")).to_contain_text("already has this label")
    label.fill("primary")
    dialog.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="to primary")).to_be_visible()
    expect(page.locator("tr", has_text="google:…3333").locator("td[data-label='Label']")).to_have_text("primary")
    page.reload()
    open_page(page, "Keys")
    expect(page.locator("tr", has_text="google:…3333").locator("td[data-label='Label']")).to_have_text("primary")
