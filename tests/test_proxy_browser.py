"""The site through the proxy in a real headless Chromium: login redirect round trip, and the
landing, catalogue and product pages working under the Content-Security-Policy."""

from __future__ import annotations

import pytest

from tests.conftest import needs_browser

pytestmark = [
    pytest.mark.slow,
    needs_browser,
]

# Record CSP violations in the page itself (besides the console errors Chromium prints for them).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def context(browser_context, stack):
    """A fresh browser profile; the page fails the test on console errors and uncaught exceptions,
    and any request to a host that is not loopback fails it too (conftest's ``browser_context``)."""
    context = browser_context
    context.add_init_script(RECORD_VIOLATIONS)
    context.problems = []
    return context


def watched(context):
    page = context.new_page()
    page.on("console", lambda m: context.problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: context.problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (context.problems.append(f"dialog: {d.message}"), d.dismiss()))
    return page


def log_in(page, stack, path: str, token: str) -> None:
    page.goto(stack.url + path)
    assert page.url.startswith(stack.url + "/login?rd="), page.url
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")


def test_login_redirect_round_trip(context, stack):
    page = watched(context)
    log_in(page, stack, "/catalog/?type=training_set", stack.tokens["read"])
    page.wait_for_selector(".pz-catalog tbody tr")
    assert page.url == stack.url + "/catalog/?type=training_set"
    types = page.locator(".pz-catalog tbody tr").count()
    assert types >= 1
    # the session cookie is HttpOnly: page scripts cannot read the token
    assert stack.tokens["read"] not in page.evaluate("document.cookie")
    cookie = next(c for c in context.cookies() if c["name"] == "gafaelfawr")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert context.problems == []
    assert page.evaluate("window.__csp") == []


def test_login_with_a_token_without_scope_is_refused(context, stack):
    page = watched(context)
    log_in(page, stack, "/", stack.tokens["none"])
    # logged in, but the token lacks read:image: 403 from the proxy, no page
    assert "insufficient_scope" in page.content() or "Token missing required scope" in page.content()
    page.goto(stack.url + "/login?rd=/")
    page.fill("input[name=token]", "gt-not-a-real-token")
    page.click("button[type=submit]")
    assert "That is not a valid token." in page.content()
    context.problems.clear()  # the 401/403 answers above are console errors by design


def test_site_works_under_the_csp(context, stack):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = watched(context)
    log_in(page, stack, "/", stack.tokens["read"])
    page.wait_for_load_state("load")
    assert page.url == stack.url + "/"
    # mkdocs-material's inline scripts ran (allowed by their hashes) and its bundle loaded
    assert page.evaluate("typeof __md_scope") == "object"
    assert page.evaluate("typeof document$") == "object"

    # the theme's search runs in a web worker (worker-src 'self') over search_index.json
    page.keyboard.press("/")  # the theme's shortcut that opens the search box
    box = page.locator("input.md-search__input")
    for _ in range(3):  # the worker may still be loading the index: type again
        box.fill("")
        box.press_sequentially("training", delay=30)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=5000)
            break
        except PlaywrightTimeout:
            continue
    assert page.locator(".md-search-result__item").count() >= 1

    page.goto(stack.url + "/catalog/")
    page.wait_for_selector(".pz-catalog tbody tr")
    everything = page.locator(".pz-catalog tbody tr").count()
    page.fill(".pz-catalog__search", "2dflens")
    page.wait_for_function("(n) => document.querySelectorAll('.pz-catalog tbody tr').length < n", arg=everything)
    assert page.locator(".pz-catalog tbody tr td:first-child").all_text_contents() == ["2dflens-kids-south"]

    page.goto(stack.url + "/products/dc2-training-9816/")
    page.wait_for_load_state("load")
    assert page.locator("h1").first.inner_text().strip()
    assert page.locator("svg").count() >= 1  # the inline plots
    assert page.evaluate("window.__csp") == []
    assert context.problems == []


def test_the_policy_is_enforced(context, stack):
    """The browser checks really can fail: an injected inline script is blocked and reported."""
    page = watched(context)
    log_in(page, stack, "/", stack.tokens["read"])
    page.wait_for_load_state("load")
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__csp"))
    context.problems.clear()
