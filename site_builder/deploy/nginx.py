"""The nginx configuration of the PZ Server, rendered from ``catalog.yaml``.

Gather and check first (:func:`load_proxy_settings`, :func:`build_csp`),
then render (:func:`render_nginx_config`). The template is
``deploy/nginx/nginx.conf.j2`` in the catalogue repository.

Every value that reaches the template is checked against a strict pattern:
a scope, a URL or a path holding a quote, a space, ``;`` or a brace could
otherwise change the meaning of the configuration.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from site_builder.catalog.catalog import Catalog, as_catalog
from site_builder.catalog.issue import ERROR
from site_builder.errors import PzError

TEMPLATE = Path("deploy") / "nginx" / "nginx.conf.j2"

_SCOPE = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+)*$")
_URL = re.compile(r"^(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)?/[A-Za-z0-9._~/%-]*$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_LISTEN = re.compile(r"^([0-9.]+:)?[0-9]{1,5}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d)?$")
_SIZE = re.compile(r"^[0-9]+[kmg]?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]*$")


class DeployConfigError(PzError):
    """A setting of the proxy cannot be used (it would break or change the nginx configuration)."""


@dataclass(frozen=True)
class ProxySettings:
    """Everything the nginx template needs. Paths are absolute.

    ``mode`` "dev": nginx itself asks Gafaelfawr (``auth_upstream``) with
    ``auth_request``, and uploads go to the remote URL with the write scope
    checked here. ``mode`` "cluster": the pod behind GafaelfawrIngress
    resources, which do the asking; uploads go to ``upload_path``, whose
    ingress requires the write scope. ``upload_upstream`` None leaves the
    remote read-only; ``noauth_listen`` adds an identical read-only server
    without auth (benchmarks only); ``auth_cache`` "" turns the auth cache off.
    """

    site_url: str
    listen: str
    site_dir: str
    remote_dir: str
    remote_path: str
    auth_upstream: str | None
    login_url: str
    read_scope: str
    write_scope: str
    run_dir: str
    csp: str
    upload_upstream: str | None = None
    noauth_listen: str | None = None
    auth_cache: str = "5m"
    max_upload: str = "2g"
    workers: int = 1
    user: str | None = None
    mime_types: str = "/etc/nginx/mime.types"
    dev_login: bool = False
    hsts: bool = False
    log_buffer: bool = False
    mode: str = "dev"
    upload_path: str = "/dvc-upload"
    access_log: str | None = None
    error_log: str | None = None


def load_proxy_settings(catalog: Catalog | Path, **overrides) -> ProxySettings:
    """Proxy settings from ``catalog.yaml`` (site URL, login URL, scopes, remote path) plus ``overrides``.

    ``overrides`` must name at least the local parts: ``listen``, ``site_dir``,
    ``remote_dir``, ``auth_upstream``, ``run_dir`` and ``csp``.

    Raises
    ------
    DeployConfigError
        ``catalog.yaml`` has errors, or a value fails its check.
    """
    catalog = as_catalog(catalog)
    errors = [i for i in catalog.settings_issues if i.severity == ERROR]
    if errors:
        raise DeployConfigError(errors[0].format_text() + "\n  hint: run `pz validate` and fix catalog.yaml first")
    # The schema requires every field read here, and there are no errors.
    settings = catalog.settings
    auth, remote = settings.auth, settings.dvc_remote
    assert auth is not None and remote is not None and settings.site_url and remote.url and auth.url
    base = {
        "site_url": settings.site_url,
        "remote_path": urlsplit(remote.url).path.rstrip("/") or "/dvc",
        "login_url": auth.login_url or auth.url.rstrip("/") + "/login",
        "read_scope": auth.read_scope,
        "write_scope": auth.write_scope,
        "hsts": settings.site_url.startswith("https://"),
    }
    return check_proxy_settings(ProxySettings(**{**base, **overrides}))


#: The pod behind GafaelfawrIngress (deploy/kubernetes): paths inside the image.
CLUSTER_DEFAULTS = {
    "mode": "cluster",
    "listen": "8080",
    "site_dir": "/usr/share/nginx/html",
    "remote_dir": "/srv/dvc",
    "upload_upstream": "127.0.0.1:8081",
    "auth_upstream": None,
    "run_dir": "/tmp",
    "access_log": "/dev/stdout",
    "error_log": "/dev/stderr",
    "workers": 2,
}


def load_cluster_settings(catalog: Catalog | Path, built_site: Path, **overrides) -> ProxySettings:
    """Settings of the in-cluster nginx, with the CSP computed from the site built at ``built_site``."""
    return load_proxy_settings(catalog, **{**CLUSTER_DEFAULTS, "csp": build_csp(built_site), **overrides})


def check_proxy_settings(s: ProxySettings) -> ProxySettings:
    """Return ``s`` if every value is safe to write into nginx.conf; raise otherwise."""
    checks: list[tuple[str, object, re.Pattern | None]] = [
        ("auth.read_scope", s.read_scope, _SCOPE),
        ("auth.write_scope", s.write_scope, _SCOPE),
        ("auth.login_url", s.login_url, _URL),
        ("site_url", s.site_url, re.compile(r"^https?://[A-Za-z0-9.:/_~-]*$")),
        ("dvc_remote.url (path)", s.remote_path, re.compile(r"^(/[a-z0-9_-]+)+$")),
        ("listen", s.listen, _LISTEN),
        ("noauth_listen", s.noauth_listen, _LISTEN),
        ("auth_upstream", s.auth_upstream, _HOSTPORT),
        ("upload_upstream", s.upload_upstream, _HOSTPORT),
        ("site_dir", s.site_dir, _PATH),
        ("remote_dir", s.remote_dir, _PATH),
        ("run_dir", s.run_dir, _PATH),
        ("mime_types", s.mime_types, _PATH),
        ("auth_cache", s.auth_cache or "0", _DURATION),
        ("max_upload", s.max_upload, _SIZE),
        ("user", s.user, _USER),
        ("upload_path", s.upload_path, re.compile(r"^(/[a-z0-9_-]+)+$")),
        ("access_log", s.access_log, _PATH),
        ("error_log", s.error_log, _PATH),
    ]
    for name, value, pattern in checks:
        if value is None:
            continue
        if not isinstance(value, str) or not pattern.match(value):
            raise DeployConfigError(
                f"proxy setting {name}: {value!r} cannot go into the nginx configuration\n"
                f"  hint: use only letters, digits and . _ - : / (pattern {pattern.pattern})")
    if not s.csp or '"' in s.csp or "\\" in s.csp or "\n" in s.csp or "$" in s.csp:
        raise DeployConfigError(f"proxy setting csp: {s.csp!r} holds a quote, backslash, newline or $")
    if s.mode not in ("dev", "cluster"):
        raise DeployConfigError(f"proxy setting mode: {s.mode!r} is not 'dev' or 'cluster'")
    if s.mode == "dev" and not s.auth_upstream:
        raise DeployConfigError("proxy setting auth_upstream: required in dev mode (host:port of Gafaelfawr)")
    if s.upload_path == s.remote_path:
        raise DeployConfigError(f"proxy setting upload_path: {s.upload_path!r} must differ from the remote path")
    if s.workers < 1:
        raise DeployConfigError(f"proxy setting workers: {s.workers!r} must be at least 1")
    return s


def render_nginx_config(settings: ProxySettings, template: Path) -> str:
    """The nginx configuration text for ``settings`` (checked again here)."""
    import jinja2

    check_proxy_settings(settings)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=False,
                             keep_trailing_newline=True, autoescape=False)
    return env.get_template(template.name).render(s=settings)


def with_overrides(settings: ProxySettings, **changes) -> ProxySettings:
    """A copy of ``settings`` with ``changes``, checked."""
    return check_proxy_settings(replace(settings, **changes))


# -- Content-Security-Policy ----------------------------------------------

class _InlineCode(HTMLParser):
    """Collects inline scripts, ``<style>`` blocks, style attributes and external hosts of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: set[str] = set()
        self.styles: set[str] = set()
        self.style_attrs: set[str] = set()
        self.style_hosts: set[str] = set()
        self.font_hosts: set[str] = set()
        self._in: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("style") is not None:
            self.style_attrs.add(a["style"] or "")
        if tag == "script" and "src" not in a and (a.get("type") or "text/javascript") in (
                "text/javascript", "module", "application/javascript"):
            self._in, self._buf = "script", []
        elif tag == "style":
            self._in, self._buf = "style", []
        elif tag == "link" and (a.get("rel") or "") == "stylesheet" and "://" in (a.get("href") or ""):
            self.style_hosts.add(_origin(a["href"] or ""))
        elif tag == "link" and (a.get("rel") or "") == "preconnect" and "://" in (a.get("href") or ""):
            self.font_hosts.add(_origin(a["href"] or ""))

    def handle_data(self, data: str) -> None:
        if self._in:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in == tag:
            (self.scripts if tag == "script" else self.styles).add("".join(self._buf))
            self._in = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_csp(site_dir: Path, *, form_action: Iterable[str] = ()) -> str:
    """A Content-Security-Policy the built site works under, with hashes of its inline code.

    mkdocs-material writes a few small inline scripts (its base URL, palette
    and anchor helpers) and one inline ``<style>`` into every page; they are
    allowed by their sha256 rather than by ``'unsafe-inline'``. Style
    attributes (e.g. images sized by Markdown attributes) need
    ``'unsafe-hashes'`` with their hashes. Stylesheet and font hosts linked
    from the pages (Google Fonts, when the theme uses them) are allowed
    by origin.
    """
    parser = _InlineCode()
    pages = sorted(site_dir.rglob("*.html"))
    if not pages:
        raise DeployConfigError(f"{site_dir}: no HTML pages to compute the Content-Security-Policy from\n"
                                "  hint: build the site first: pz build --out " + str(site_dir))
    for page in pages:
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        parser.reset()
    scripts = " ".join(sorted(_sha(s) for s in parser.scripts))
    styles = sorted(_sha(s) for s in parser.styles)
    if parser.style_attrs:
        styles += ["'unsafe-hashes'", *sorted(_sha(s) for s in parser.style_attrs)]
    style_hosts = " ".join(sorted(parser.style_hosts))
    font_hosts = " ".join(sorted(h for h in parser.font_hosts if h not in parser.style_hosts))
    actions = " ".join(["'self'", *form_action])
    policy = [
        "default-src 'none'",
        f"script-src 'self' {scripts}".rstrip(),
        f"style-src 'self' {' '.join(styles)} {style_hosts}".rstrip(),
        f"font-src 'self' data: {font_hosts}".rstrip(),
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "base-uri 'self'",
        f"form-action {actions}",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
    return "; ".join(" ".join(p.split()) for p in policy)
